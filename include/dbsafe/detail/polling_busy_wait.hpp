// polling_busy_wait: while it lives, a connection waits for another connection's lock by asking
// again every 250 microseconds, up to its busy timeout, instead of with SQLite's default busy
// handler (sleeps of 1, 2, 5, 10, ... then 100 ms each).
//
// Why: in rollback-journal mode a writer committing back to back holds PENDING or EXCLUSIVE
// nearly all the time (its journal and database syncs) and lets a new reader in only in the
// tens of microseconds between one commit and the next one's PENDING. A reader that asks every
// 100 ms almost never lands in such a gap: beside a writer committing ~450 times a second, a
// backup's read transaction on a 512 MiB database waited seconds each time it began one, and a
// backup in three ran out of its 10 s busy timeout (bench/notes.md). Asking every 250 us finds
// a gap within a few commits. Each ask is an fcntl(F_SETLK) or two on the lock bytes.
// Used only on a connection dbsafe opened itself (private_source): the caller's connections
// keep their own handlers. Its busy timeout is set back when this ends.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <thread>

namespace dbsafe::detail {

class polling_busy_wait {
  public:
    static constexpr std::chrono::microseconds interval{250};

    polling_busy_wait(sqlite3* db, std::chrono::milliseconds timeout) : db_(db), timeout_(timeout) {
        sqlite3_busy_handler(db_, &ask_again, this);
    }
    polling_busy_wait(const polling_busy_wait&) = delete;
    polling_busy_wait& operator=(const polling_busy_wait&) = delete;
    ~polling_busy_wait() { sqlite3_busy_timeout(db_, static_cast<int>(timeout_.count())); }

  private:
    // SQLite's busy handler: `count` is 0 at the first BUSY of a wait. Nonzero: ask again.
    static int ask_again(void* self_ptr, int count) noexcept {
        auto* self = static_cast<polling_busy_wait*>(self_ptr);
        const auto now = std::chrono::steady_clock::now();
        if (count == 0) self->since_ = now;
        if (now - self->since_ >= self->timeout_) return 0;
        std::this_thread::sleep_for(interval);
        return 1;
    }

    sqlite3* db_;
    std::chrono::milliseconds timeout_;
    std::chrono::steady_clock::time_point since_{};
};

}  // namespace dbsafe::detail
