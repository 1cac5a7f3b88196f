// Whether a restored database file now holds exactly a backup's image: after restore's copy,
// the live file is read back and hashed against the backup's (already verified) checksum. A
// match proves the live content byte for byte, which says more than quick_check and costs a
// sequential read instead of a b-tree walk.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "dbsafe/checksum.hpp"
#include "dbsafe/detail/fast_copy_vfs.hpp"
#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/manifest.hpp"

namespace dbsafe::detail {

inline constexpr std::size_t sqlite_header_bytes = 100;

// The database header fields a copy through SQLite rewrites in the destination, so they may
// differ from the backup's though the content is the same: the file format write/read
// versions (offsets 18-19: 2 in WAL mode, 1 otherwise), the file change counter (24-27, which
// the backup API bumps), the schema cookie (40-43: the backup API sets the destination's old
// cookie plus one, so other connections reload the schema), and the version-valid-for number
// and SQLITE_VERSION_NUMBER (92-99, written with the counter). None is content; every other
// byte of the file must be the backup's.
[[nodiscard]] constexpr bool rewritten_by_copy(std::size_t offset) noexcept {
    return offset == 18 || offset == 19 || (offset >= 24 && offset < 28) ||
           (offset >= 40 && offset < 44) || (offset >= 92 && offset < 100);
}

// True when the main database file of `db` (the live one, after the copy committed) holds the
// image of `backup` (its file, and its manifest whose checksum was verified): same size, same
// header except rewritten_by_copy(), and the rest hashing, with the backup's header in place
// of its own, to the manifest's checksum. False whenever this cannot be shown, never an error:
// an in-memory database, a WAL whose frames a reader keeps from being checkpointed, a read
// error, a writer that committed meanwhile; the caller then runs SQLite's check instead.
inline bool file_holds_backup(sqlite3* db, const std::filesystem::path& backup, const manifest& m) {
    const char* name = sqlite3_db_filename(db, "main");
    if (name == nullptr || *name == '\0' || m.checksum.algorithm != "xxh3-128") return false;
    // A WAL database holds the copy in its WAL until a checkpoint moves every frame into the
    // file: (busy, frames in the WAL, frames checkpointed). Other journal modes: (0, -1, -1).
    {
        auto st = prepare(db, "PRAGMA main.wal_checkpoint(PASSIVE)");
        if (!st || sqlite3_step(st.value().get()) != SQLITE_ROW) return false;
        if (sqlite3_column_int(st.value().get(), 0) != 0 ||
            sqlite3_column_int(st.value().get(), 1) != sqlite3_column_int(st.value().get(), 2)) {
            return false;
        }
    }
    // The live file is read through the connection's own file object, never a descriptor of
    // our own: closing a second descriptor on the file would drop every POSIX lock this
    // process holds on it (SQLite's included, e.g. the SHARED lock of a WAL connection).
    sqlite3_file* wrapped = nullptr;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &wrapped) != SQLITE_OK ||
        wrapped == nullptr || wrapped->pMethods == nullptr) {
        return false;
    }
    sqlite3_file* file = fast_copy::unwrap(wrapped);
    sqlite3_int64 live_size = 0;
    if (file->pMethods->xFileSize(file, &live_size) != SQLITE_OK ||
        static_cast<std::uint64_t>(live_size) != m.size_bytes ||
        m.size_bytes < sqlite_header_bytes) {
        return false;
    }
    const auto read_live = [file](std::span<std::byte> out, std::uint64_t offset) {
        return file->pMethods->xRead(file, out.data(), static_cast<int>(out.size()),
                                     static_cast<sqlite3_int64>(offset)) == SQLITE_OK;
    };
    // The backup is no database this process holds locks on at this point (restore's copy
    // ended its read transaction on it), so a descriptor of our own is safe there.
    auto backup_fd = open_for_read(backup);
    if (!backup_fd) return false;
    std::array<std::byte, sqlite_header_bytes> backup_header{};
    std::array<std::byte, sqlite_header_bytes> live_header{};
    const auto backup_read = read_at(backup_fd.value().get(), backup_header, 0, backup);
    if (!backup_read || backup_read.value() != backup_header.size() || !read_live(live_header, 0)) {
        return false;
    }
    for (std::size_t i = 0; i < sqlite_header_bytes; ++i) {
        if (!rewritten_by_copy(i) && backup_header[i] != live_header[i]) return false;
    }
    xxh3_128_hasher h;
    h.update(backup_header);
    std::vector<std::byte> buf(std::size_t{1} << 20);
    for (std::uint64_t off = sqlite_header_bytes; off < m.size_bytes;) {
        const auto n = std::min<std::uint64_t>(buf.size(), m.size_bytes - off);
        const auto chunk = std::span(buf).first(static_cast<std::size_t>(n));
        if (!read_live(chunk, off)) return false;  // a short read too: the file shrank
        h.update(chunk);
        off += n;
    }
    return h.finish() == m.checksum;
}

}  // namespace dbsafe::detail
