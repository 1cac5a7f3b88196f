// A copy made from a WAL-mode database carries the WAL flag in its header (bytes 18 and 19 are
// 2), so opening it would look for a -wal file and, read-only, fail without one. We make every
// backup a self-contained rollback-journal database by writing 1/1 there, exactly what
// `PRAGMA journal_mode=DELETE` would write, without a round trip through a WAL.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>

#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe::detail {

inline result<void> make_rollback_journal_mode(const std::filesystem::path& db) {
    DBSAFE_TRY(auto fd, open_for_read(db));
    std::array<std::byte, 2> current{};
    DBSAFE_TRY(const std::size_t n, read_at(fd.get(), current, 18, db));
    if (n != 2) return success();  // empty database: nothing to patch
    if (current[0] == std::byte{1} && current[1] == std::byte{1}) return success();
    const std::array<std::byte, 2> rollback{std::byte{1}, std::byte{1}};
    return write_at(db, 18, rollback);
}

}  // namespace dbsafe::detail
