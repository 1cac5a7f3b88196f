// file_operations: the file operations a storage backend builds on, the same ones
// local_directory and zstd_archive use. This is the extension point for storage backends:
// dbsafe::file_ops is public and documented (docs/concepts.md, "Writing a storage backend"),
// while detail/ may change in any release.
//
// Each operation returns a dbsafe::result whose error names the file, says what failed and,
// for a full disk, missing permissions or a planted symlink, what to do. Their guarantees:
//  - no symlink is ever followed when writing or reading (O_NOFOLLOW); new files are created
//    exclusively (O_EXCL) and private (0600), so a planted file or symlink is an error;
//  - open_for_read accepts regular files only and never blocks on a FIFO planted in the
//    directory;
//  - a rename is durable only once sync_directory has run on the directory holding the name.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe::file_ops {

using detail::os_error;  // error(errno, "cannot write", path): names the file, adds advice

// Descriptors.
using detail::create_exclusive;  // a new private file; fails if anything stands at the path
using detail::open_for_read;     // an existing regular file (never a FIFO, never a symlink)
using detail::unique_fd;         // a move-only descriptor, closed on destruction

// Data.
using detail::read_at;           // pread, retried on EINTR; 0 at end of file
using detail::start_write_back;  // start writing a range to disk now (no wait, no error)
using detail::write_all;         // write, retried until all of it is written
using detail::write_at;          // pwrite at an offset, retried until all of it is written

// Durability and names.
using detail::rename_no_replace;  // atomic rename that never replaces an existing file
using detail::rename_replace;     // atomic rename over an existing file (a config rewritten)
using detail::sync_directory;     // fsync a directory, so the names renamed into it persist
using detail::sync_fd;            // fsync (F_FULLFSYNC on macOS)
using detail::sync_file;          // fsync a file by name

// Directories and files.
using detail::ensure_directory;      // create a backup directory (0700) or accept an existing one
using detail::file_size_or_zero;     // a regular file's size, 0 when it is missing
using detail::is_regular_no_follow;  // the path itself (not a symlink's target) is a regular file
using detail::refuse_url;            // "s3://..." is an error, never a local folder named "s3:"
using detail::remove_file;           // unlink; a missing file is not an error

// Reads a small file (a manifest) without following a symlink, refusing anything over `limit`:
// a damaged or planted manifest cannot make dbsafe read gigabytes.
inline result<std::string> read_small_file(const std::filesystem::path& p, std::size_t limit) {
    DBSAFE_TRY(auto fd, open_for_read(p));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return os_error(errno, "cannot stat", p);
    if (!S_ISREG(st.st_mode)) {
        return error(errc::invalid_manifest, p.string() + " is not a regular file");
    }
    if (static_cast<std::size_t>(st.st_size) > limit) {
        return error(errc::invalid_manifest, p.string() + " is " + std::to_string(st.st_size) +
                                                 " bytes, over the " + std::to_string(limit) +
                                                 "-byte limit for a manifest");
    }
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    DBSAFE_TRY(const std::size_t n,
               read_at(fd.get(), std::as_writable_bytes(std::span(text)), 0, p));
    text.resize(n);
    return text;
}

// Publishes `text` (a manifest) under `final_path` atomically: written to `<final_path>.tmp`,
// fsynced, renamed without replacing. Readers see the whole file or none; the caller fsyncs the
// directory (sync_directory) once everything it publishes is renamed.
inline result<void> publish_small_file(const std::filesystem::path& final_path,
                                       std::string_view text) {
    std::filesystem::path tmp = final_path;
    tmp += ".tmp";
    DBSAFE_TRY(auto fd, create_exclusive(tmp));
    auto written = write_all(fd.get(), std::as_bytes(std::span(text)), tmp);
    if (written) written = sync_fd(fd.get(), tmp);
    fd.reset();
    if (written) written = rename_no_replace(tmp, final_path);
    if (!written) (void)remove_file(tmp);
    return written;
}

// A new private file `<id>.unpacked-<pid>-<n>.tmp` in `dir`, for a backup rebuilt as a plain
// file to be read (a decompressed archive, a reconstructed page snapshot); a name dbsafe owns
// (storage/backup_file_names.hpp), so one a killed reader left behind is debris.
inline result<std::pair<std::filesystem::path, unique_fd>> create_scratch_file(
    const std::filesystem::path& dir, const std::string& id) {
    static std::atomic<unsigned> counter{0};
    for (int attempt = 0;; ++attempt) {
        const auto name = id + ".unpacked-" + std::to_string(::getpid()) + "-" +
                          std::to_string(counter.fetch_add(1)) + ".tmp";
        auto path = dir / name;
        auto fd = create_exclusive(path);
        if (fd) return std::pair{std::move(path), std::move(fd).value()};
        if (attempt >= 8 || fd.error().code != std::errc::file_exists) return fd.as_failure();
    }
}

}  // namespace dbsafe::file_ops
