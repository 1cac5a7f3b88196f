// Every operating-system call dbsafe makes on files lives here, so a Windows port changes one
// header, not the policies. All writes go through descriptors opened with O_NOFOLLOW, and new
// files are created with O_EXCL and mode 0600: a planted symlink or an existing file is an
// error, never something we write through.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "dbsafe/error.hpp"

namespace dbsafe::detail {

// A move-only file descriptor.
class unique_fd {
  public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) reset(std::exchange(o.fd_, -1));
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    [[nodiscard]] int get() const noexcept { return fd_; }
    [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

  private:
    int fd_ = -1;
};

inline error os_error(int err, const std::string& what, const std::filesystem::path& p) {
    std::string msg = what + " " + p.string() + ": " + std::strerror(err);
    if (err == ELOOP) {
        return error(errc::symlink_refused,
                     msg +
                         " (a symlink stands there; dbsafe never writes through one: remove "
                         "it or choose another directory)",
                     p.string());
    }
    if (err == ENOSPC || err == EDQUOT) msg += " (free some space and retry)";
    if (err == EACCES || err == EPERM || err == EROFS) msg += " (check permissions of the path)";
    return errno_error(err, msg, p.string());
}

// Creates `p` for writing; fails if anything (file or symlink) already stands there.
inline result<unique_fd> create_exclusive(const std::filesystem::path& p, mode_t mode = 0600) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        const int err = errno;
        if (err == EEXIST) {
            struct stat st {};
            if (::lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
                return os_error(ELOOP, "cannot create", p);
            }
        }
        return os_error(err, "cannot create", p);
    }
    return unique_fd(fd);
}

// Opens an existing file (one dbsafe created, e.g. a staged backup) for writing.
inline result<unique_fd> open_for_writing(const std::filesystem::path& p) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return os_error(errno, "cannot open for writing", p);
    return unique_fd(fd);
}

// Opens an existing file (a staged copy dbsafe created) for reading and writing, so that it can
// be compared with its source and patched in place through the one descriptor.
inline result<unique_fd> open_for_update(const std::filesystem::path& p) {
    const int fd = ::open(p.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return os_error(errno, "cannot open for writing", p);
    return unique_fd(fd);
}

// Opens a regular file for reading. O_NONBLOCK, then a type check on the descriptor, then
// blocking reads again: a FIFO or device planted under a name dbsafe reads (a backup directory
// is writable by whoever planted it) is an error at once, never an open() that waits forever.
inline result<unique_fd> open_for_read(const std::filesystem::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT) {
            return error(errc::not_found, "cannot open " + p.string() + ": no such file");
        }
        return os_error(err, "cannot open", p);
    }
    unique_fd guard(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return os_error(errno, "cannot stat", p);
    if (!S_ISREG(st.st_mode)) {
        return error(errc::invalid_argument,
                     p.string() +
                         " is not a regular file (a FIFO, device, socket or directory): "
                         "dbsafe reads only regular files; remove or rename it");
    }
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        return os_error(errno, "cannot configure", p);
    }
    return guard;
}

// True when `p` itself (not a symlink's target) is a regular file. Checked before a path is
// handed to SQLite, which would block opening a FIFO.
inline bool is_regular_no_follow(const std::filesystem::path& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

inline result<void> write_all(int fd, std::span<const std::byte> data,
                              const std::filesystem::path& p) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return os_error(errno, "cannot write", p);
        }
        data = data.subspan(static_cast<std::size_t>(n));
    }
    return success();
}

// Reads up to buf.size() bytes at `offset`; returns the count (0 at end of file).
inline result<std::size_t> read_at(int fd, std::span<std::byte> buf, std::uint64_t offset,
                                   const std::filesystem::path& p) {
    for (;;) {
        const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
        if (n >= 0) return static_cast<std::size_t>(n);
        if (errno != EINTR) return os_error(errno, "cannot read", p);
    }
}

// Asks the kernel to start writing [offset, offset + length) to disk now, without waiting, so a
// later fsync of a large file finds little left to write. Best effort, so no error: that fsync
// is what counts. A no-op where sync_file_range does not exist.
inline void start_write_back([[maybe_unused]] int fd, [[maybe_unused]] std::uint64_t offset,
                             [[maybe_unused]] std::uint64_t length) noexcept {
#if defined(__linux__)
    (void)::sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(length),
                            SYNC_FILE_RANGE_WRITE);
#endif
}

inline result<void> sync_fd(int fd, const std::filesystem::path& p) {
#if defined(__APPLE__)
    // macOS fsync() does not flush the drive's cache; F_FULLFSYNC does.
    if (::fcntl(fd, F_FULLFSYNC) == 0) return success();
#endif
    if (::fsync(fd) != 0) return os_error(errno, "cannot fsync", p);
    return success();
}

inline result<void> sync_file(const std::filesystem::path& p) {
    DBSAFE_TRY(auto fd, open_for_read(p));
    return sync_fd(fd.get(), p);
}

// A rename is durable only once the directory holding the new name is on disk.
inline result<void> sync_directory(const std::filesystem::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return os_error(errno, "cannot open directory", dir);
    unique_fd guard(fd);
    if (::fsync(fd) != 0 && errno != EINVAL) return os_error(errno, "cannot fsync directory", dir);
    return success();
}

// Atomically gives `from` the name `to`, refusing to replace anything already at `to`.
inline result<void> rename_no_replace(const std::filesystem::path& from,
                                      const std::filesystem::path& to) {
#if defined(__linux__) && defined(SYS_renameat2)
    constexpr unsigned rename_noreplace = 1;  // RENAME_NOREPLACE
    if (::syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), rename_noreplace) ==
        0) {
        return success();
    }
    if (errno != ENOSYS && errno != EINVAL) {
        return os_error(errno, "cannot rename " + from.string() + " to", to);
    }
#endif
    // Portable fallback: link() fails with EEXIST instead of replacing.
    if (::link(from.c_str(), to.c_str()) != 0) {
        return os_error(errno, "cannot rename " + from.string() + " to", to);
    }
    // The file is in place under `to` now: that is the rename's outcome, and a caller told it
    // failed would report a backup missing that exists. A second name left at `from` is only a
    // stray link to the same inode (the staging name; prune's debris sweep removes it).
    (void)::unlink(from.c_str());
    return success();
}

// Atomically gives `from` the name `to`, replacing whatever file is at `to`.
inline result<void> rename_replace(const std::filesystem::path& from,
                                   const std::filesystem::path& to) {
    if (::rename(from.c_str(), to.c_str()) != 0) {
        return os_error(errno, "cannot rename " + from.string() + " onto", to);
    }
    return success();
}

// Whether anything (a file, a symlink, even a dangling one) stands at `p`. An error other than
// "no such file" counts as something: callers use this to refuse writing there.
inline bool exists_nofollow(const std::filesystem::path& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 || errno != ENOENT;
}

// The file's identity (st_dev, st_ino), following symlinks; nullopt when it cannot be stat'ed.
struct file_identity {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    friend bool operator==(const file_identity&, const file_identity&) = default;
};
inline std::optional<file_identity> identity_of(const std::filesystem::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return std::nullopt;
    return file_identity{static_cast<std::uint64_t>(st.st_dev),
                         static_cast<std::uint64_t>(st.st_ino)};
}

inline result<void> remove_file(const std::filesystem::path& p) {
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) return os_error(errno, "cannot remove", p);
    return success();
}

// "s3://bucket/x", "sftp://host/d": a URL, not a directory. Taken as a path it would become a
// local folder named "s3:", and backups would land where nobody looks; dbsafe stores backups
// in local directories only, so any `scheme://` is an error before anything is created.
inline result<void> refuse_url(const std::filesystem::path& dir) {
    const std::string s = dir.string();
    const auto end = s.find("://");
    if (end == std::string::npos || end == 0 ||
        std::isalpha(static_cast<unsigned char>(s[0])) == 0) {
        return success();
    }
    for (std::size_t i = 0; i < end; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (std::isalnum(c) == 0 && c != '+' && c != '-' && c != '.') return success();
    }
    return error(errc::unsupported,
                 "backup directory " + s + " is a URL (" + s.substr(0, end) +
                     "://), not a local directory: dbsafe stores backups in local directories "
                     "only; mount the remote storage and give its local path (nothing was "
                     "created)");
}

// Creates `dir` (and parents) with mode 0700 when missing; refuses a symlink or a non-directory.
inline result<void> ensure_directory(const std::filesystem::path& dir) {
    DBSAFE_TRYV(refuse_url(dir));
    struct stat st {};
    if (::lstat(dir.c_str(), &st) == 0) {
        if (S_ISLNK(st.st_mode)) {
            // A symlinked backup directory is a deliberate user choice we cannot tell from an
            // attack; follow it only if it resolves to a real directory.
            if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return success();
        }
        if (!S_ISDIR(st.st_mode)) {
            return error(errc::invalid_argument,
                         "backup directory " + dir.string() +
                             " exists but is not a directory: choose another backup directory",
                         dir.string());
        }
        return success();
    }
    if (dir.has_parent_path() && dir.parent_path() != dir) {
        DBSAFE_TRYV(ensure_directory(dir.parent_path()));
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return os_error(errno, "cannot create backup directory", dir);
    }
    return success();
}

// Bytes available to an unprivileged writer in the file system holding `dir`.
inline result<std::uint64_t> statvfs_free_bytes(const std::filesystem::path& dir) {
    struct statvfs vfs {};
    if (::statvfs(dir.c_str(), &vfs) != 0)
        return os_error(errno, "cannot query free space of", dir);
    return static_cast<std::uint64_t>(vfs.f_bavail) * static_cast<std::uint64_t>(vfs.f_frsize);
}

// Size of a regular file, 0 when it does not exist (a WAL that is not there is empty).
inline std::uint64_t file_size_or_zero(const std::filesystem::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    return static_cast<std::uint64_t>(st.st_size);
}

// Writes all of `data` at `offset` of the open file `fd` (`p` names it in errors).
inline result<void> write_at(int fd, std::span<const std::byte> data, std::uint64_t offset,
                             const std::filesystem::path& p) {
    while (!data.empty()) {
        const ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            return os_error(errno, "cannot write", p);
        }
        data = data.subspan(static_cast<std::size_t>(n));
        offset += static_cast<std::uint64_t>(n);
    }
    return success();
}

// Patch bytes at `offset` of an existing file (no symlinks followed).
inline result<void> write_at(const std::filesystem::path& p, std::uint64_t offset,
                             std::span<const std::byte> data) {
    DBSAFE_TRY(auto fd, open_for_writing(p));
    return write_at(fd.get(), data, offset, p);
}

}  // namespace dbsafe::detail
