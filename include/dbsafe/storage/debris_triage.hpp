// What prune and health make of a piece of debris (a name dbsafe creates that is not a complete
// backup: a temp file, a data file whose manifest was never written or was removed first, a FIFO
// planted under such a name): how long has nobody touched it. Damaged backups (listing::damaged)
// are not debris: a person must look at them, and nothing removes them.
//
// Age matters because a backup in progress looks exactly like debris: its `<id>.db.tmp` (and,
// for a few milliseconds at commit, its `<id>.db` without a manifest) exists until it is
// published. The grace period protects it: the temp file's mtime moves while the snapshot is
// written, and the whole backup (copy + verify) must finish within the grace period after its
// last write. Age is measured against the earlier of the caller's `now` and the real clock, so
// a simulated future (`--now 2030-01-01`) cannot make a running backup's file look abandoned.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>

#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/storage/storage_target.hpp"

namespace dbsafe::detail {

// Last modification time, without following a symlink.
inline result<std::chrono::system_clock::time_point> modification_time(
    const std::filesystem::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return os_error(errno, "cannot stat", p);
    using namespace std::chrono;
    return system_clock::time_point{duration_cast<system_clock::duration>(
        seconds{st.st_mtim.tv_sec} + nanoseconds{st.st_mtim.tv_nsec})};
}

// How long ago `p` was last written, seen from `now` (capped by the real clock, see above).
inline result<std::chrono::seconds> untouched_for(const std::filesystem::path& p,
                                                  std::chrono::system_clock::time_point now) {
    DBSAFE_TRY(const auto modified, modification_time(p));
    const auto reference = std::min(now, std::chrono::system_clock::now());
    return std::chrono::floor<std::chrono::seconds>(reference - modified);
}

}  // namespace dbsafe::detail
