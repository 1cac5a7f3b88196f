// The step loop of SQLite's backup API, shared by the two copies dbsafe makes with it: a live
// database into a backup (snapshot/online_backup.hpp) and a backup into the live database
// (restore.hpp). One loop, so both wait for locks, report progress and give up the same way.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <stop_token>
#include <thread>

#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/progress.hpp"

namespace dbsafe::detail {

struct backup_steps {
    int pages_per_step = 1024;  // -1: one step
    // Another connection's commit to the source restarts a stepped copy from page 1; after
    // this many restarts the rest is copied in one step, under one read transaction, which
    // bounds the work however busy the writers are. A restore's source (a backup file) has
    // no writers, so it never restarts.
    int max_restarts = std::numeric_limits<int>::max();
    // At max_restarts, return (steps_done::gave_up) instead of finishing in one step: the
    // caller has a faster way to copy the rest under one read transaction (online_backup.hpp).
    bool give_up_at_max_restarts = false;
    // Total wait, with back-off, while other connections' locks answer a step with BUSY: a
    // writer blocks a backup's read and a restore's start, readers block a restore's commit.
    std::chrono::milliseconds busy_timeout{10'000};
    std::int64_t page_size = 0;       // for progress
    progress_callback on_progress{};  // after every step; may be empty
    std::stop_token stop{};           // checked before every step (a backup; restore has none)
    // The caller's errors, in its own words: the wait ran out, a step failed, a stop came.
    std::function<error(std::chrono::milliseconds)> timed_out;
    std::function<error(int rc)> failed;
    std::function<error()> cancelled;
};

struct steps_done {
    std::int64_t page_count = 0;
    int restarts = 0;      // times other connections' writes restarted the copy
    bool gave_up = false;  // stopped at max_restarts (give_up_at_max_restarts): not copied
};

// Steps `backup` until SQLITE_DONE. The step that returns DONE is the one that commits the
// destination's write transaction: success means the copy committed, and every error means
// it did not (the caller's sqlite3_backup_finish then rolls the destination back).
inline result<steps_done> run_backup_steps(sqlite3_backup* backup, const backup_steps& s) {
    using clock = std::chrono::steady_clock;
    steps_done out;
    int step = s.pages_per_step > 0 ? s.pages_per_step : -1;
    std::int64_t last_done = -1;
    auto busy_since = clock::time_point{};
    auto backoff = std::chrono::milliseconds(1);
    for (;;) {
        if (s.stop.stop_requested()) return s.cancelled();
        const auto step_started = clock::now();
        const int rc = sqlite3_backup_step(backup, step);
        if (rc == SQLITE_OK || rc == SQLITE_DONE) {
            busy_since = {};
            backoff = std::chrono::milliseconds(1);
            const std::int64_t total = sqlite3_backup_pagecount(backup);
            const std::int64_t done = total - sqlite3_backup_remaining(backup);
            // SQLite started over from page 1. Only a shortfall shows it: a restarted step of N
            // pages ends at page N again, so `done` equals (not undercuts) the previous count.
            const std::int64_t expected = std::max<std::int64_t>(last_done, 0) + step;
            if (step > 0 && rc == SQLITE_OK && done < expected) {
                if (++out.restarts >= s.max_restarts) {
                    if (s.give_up_at_max_restarts) {
                        out.gave_up = true;
                        return out;
                    }
                    step = -1;
                }
            }
            last_done = done;
            out.page_count = total;
            if (s.on_progress) {
                s.on_progress(progress{static_cast<std::uint64_t>(done),
                                       static_cast<std::uint64_t>(total),
                                       static_cast<std::uint64_t>(s.page_size)});
            }
            if (rc == SQLITE_DONE) return out;
            continue;
        }
        if (is_busy(rc)) {
            // Busy since the step began, not since it returned: the connections' busy handler
            // (polling_busy_wait or sqlite3_busy_timeout) may already have waited the whole
            // timeout inside it, and waiting it again would double the bound.
            const auto now = clock::now();
            if (busy_since == clock::time_point{}) busy_since = step_started;
            if (now - busy_since >= s.busy_timeout) return s.timed_out(s.busy_timeout);
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(100));
            continue;
        }
        return s.failed(rc);
    }
}

}  // namespace dbsafe::detail
