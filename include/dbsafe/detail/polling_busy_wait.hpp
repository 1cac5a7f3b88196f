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
// dbsafe installs it only on connections it opened itself (private_source): the caller's
// connections keep their own handlers unless the caller asks for it (dbsafe::polling_busy_wait,
// database_connection.hpp). The connection's own busy timeout, as it was before, is set back
// when this ends.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <thread>

namespace dbsafe::detail {

class polling_busy_wait {
  public:
    static constexpr std::chrono::microseconds interval{250};

    // Read before the handler is installed: installing one zeroes the connection's timeout.
    polling_busy_wait(sqlite3* db, std::chrono::milliseconds timeout)
        : db_(db), timeout_(timeout), previous_timeout_(busy_timeout_of(db, timeout)) {
        sqlite3_busy_handler(db_, &ask_again, this);
    }
    polling_busy_wait(const polling_busy_wait&) = delete;
    polling_busy_wait& operator=(const polling_busy_wait&) = delete;
    ~polling_busy_wait() { sqlite3_busy_timeout(db_, static_cast<int>(previous_timeout_.count())); }

  private:
    // PRAGMA busy_timeout, asked directly: detail/sqlite.hpp's query_int includes this header.
    // When the connection cannot answer (out of memory), `fallback` is what is set back.
    static std::chrono::milliseconds busy_timeout_of(sqlite3* db,
                                                     std::chrono::milliseconds fallback) noexcept {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db, "PRAGMA busy_timeout", -1, &st, nullptr) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            fallback = std::chrono::milliseconds(sqlite3_column_int64(st, 0));
        }
        sqlite3_finalize(st);
        return fallback;
    }

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
    std::chrono::milliseconds previous_timeout_;
    std::chrono::steady_clock::time_point since_{};
};

}  // namespace dbsafe::detail
