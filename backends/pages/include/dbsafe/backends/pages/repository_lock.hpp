// The repository lock, `pages/lock`: flock(2) on a file that is never written. Backups hold it
// shared from stage() to commit() or discard() (many may run at once: content-addressed files
// never conflict), garbage collection holds it exclusive (it deletes packs a running backup may
// be counting on as stored). flock is released by the kernel when the process dies, so a killed
// backup or collection never leaves the repository locked.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>

#include "dbsafe/error.hpp"
#include "dbsafe/storage/file_operations.hpp"

namespace dbsafe {

enum class repository_lock_mode { shared, exclusive };

class repository_lock {
  public:
    repository_lock() = default;

    // Takes the lock of the repository in `repo` (D/pages, which must exist), waiting up to
    // `timeout` for the other side to finish.
    static result<repository_lock> acquire(const std::filesystem::path& repo,
                                           repository_lock_mode mode,
                                           std::chrono::milliseconds timeout) {
        const auto path = repo / "lock";
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) return file_ops::os_error(errno, "cannot open the repository lock", path);
        repository_lock lock;
        lock.fd_ = file_ops::unique_fd(fd);
        const int op = (mode == repository_lock_mode::shared ? LOCK_SH : LOCK_EX) | LOCK_NB;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (::flock(fd, op) == 0) return lock;
            if (errno == EINTR) continue;
            if (errno != EWOULDBLOCK) {
                return file_ops::os_error(errno, "cannot lock the repository", path);
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                const std::string held_by =
                    mode == repository_lock_mode::shared
                        ? "a garbage collection of the repository (a prune) is running"
                        : "a backup into the repository is running";
                return error(errc::busy_timeout,
                             "page repository " + repo.string() + " is locked: " + held_by +
                                 " in another process, and it did not finish within " +
                                 std::to_string(timeout.count()) +
                                 " ms; retry when it has finished");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    [[nodiscard]] bool held() const noexcept { return fd_.get() >= 0; }
    // Released by closing the descriptor (also when the process dies).
    void release() noexcept { fd_.reset(); }

  private:
    file_ops::unique_fd fd_;
};

}  // namespace dbsafe
