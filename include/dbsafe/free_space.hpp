// The free-space guard: a backup does not start unless the target has `factor` x (database +
// WAL) bytes free (2x by default: the copy itself, plus headroom for the WAL to grow while it
// runs and for the next backup). The probe is injectable so tests can play a full disk.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "dbsafe/detail/format_bytes.hpp"
#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe {

using free_space_probe = std::function<result<std::uint64_t>(const std::filesystem::path&)>;

// statvfs on `dir`, or on its nearest existing parent when it is yet to be created.
inline result<std::uint64_t> system_free_space(const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::path p = std::filesystem::absolute(dir.empty() ? "." : dir, ec);
    if (ec) p = dir;
    while (!std::filesystem::exists(p, ec) && p.has_parent_path() && p.parent_path() != p) {
        p = p.parent_path();
    }
    return detail::statvfs_free_bytes(p);
}

inline std::uint64_t database_footprint(const std::filesystem::path& db) {
    auto wal = db;
    wal += "-wal";
    return detail::file_size_or_zero(db) + detail::file_size_or_zero(wal);
}

inline result<void> check_free_space(const std::filesystem::path& database,
                                     const std::filesystem::path& target, double factor,
                                     const free_space_probe& probe) {
    if (factor <= 0) return success();
    const std::uint64_t footprint = database_footprint(database);
    const auto need = static_cast<std::uint64_t>(static_cast<double>(footprint) * factor);
    DBSAFE_TRY(const std::uint64_t have, probe ? probe(target) : system_free_space(target));
    if (have >= need) return success();
    char factor_text[16];
    std::snprintf(factor_text, sizeof factor_text, "%g", factor);
    return error(errc::insufficient_space,
                 "not enough free space in " + target.string() + ": need " +
                     detail::format_bytes(need) + " (" + factor_text + " x " +
                     detail::format_bytes(footprint) + " database + WAL " + database.string() +
                     "), have " + detail::format_bytes(have) +
                     "; free some space or choose another backup directory");
}

}  // namespace dbsafe
