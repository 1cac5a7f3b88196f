// Writers that keep committing to a sample database (tests/support/sqlite_fixtures.hpp) while a
// backup runs, in another thread or another process, and the invariant their transactions keep:
// every transaction inserts two ledger rows that cancel out and bumps counters.writes, so a
// consistent snapshot has sum(delta) = 0 and count(ledger) = 2 x writes. A torn copy (pages
// from before and after a commit) breaks one of the two, or fails integrity_check.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include "support/sqlite_fixtures.hpp"

namespace dbsafe::test {

// One writer transaction. BEGIN IMMEDIATE: take the write lock up front, so a busy writer
// waits in the busy handler instead of failing on lock upgrade.
inline void write_transfer(sqlite3* db, std::int64_t i) {
    const std::string n = std::to_string(i);
    exec(db,
         "BEGIN IMMEDIATE;"
         "INSERT INTO ledger(account, delta) VALUES (" +
             n + " % 10, " + n + "), ((" + n + " + 1) % 10, -" + n +
             ");"
             "UPDATE customers SET balance = balance + 1 WHERE id = 1 + " +
             n +
             " % 50;"
             "UPDATE counters SET value = value + 1 WHERE name = 'writes';"
             "COMMIT");
}

inline std::int64_t committed_writes(sqlite3* db) {
    return query_int(db, "SELECT value FROM counters WHERE name = 'writes'");
}

// Checks the writers' invariant on a (backup) file; empty string when it holds.
inline std::string ledger_invariant_violation(const std::filesystem::path& p) {
    db_handle h(p, SQLITE_OPEN_READONLY);
    const auto sum = query_int(h, "SELECT coalesce(sum(delta), 0) FROM ledger");
    const auto rows = query_int(h, "SELECT count(*) FROM ledger");
    const auto writes = committed_writes(h);
    if (sum != 0 || rows != 2 * writes) {
        return "ledger sum " + std::to_string(sum) + ", " + std::to_string(rows) +
               " ledger rows, counters.writes " + std::to_string(writes);
    }
    return {};
}

// In rollback-journal mode a writer that commits back to back starves readers: each commit
// holds PENDING/EXCLUSIVE while it syncs, and a reader's busy handler keeps waking up inside
// the next commit (measured here: 25-45 s for a 1.5 k-row stepped copy on a loaded machine). A
// short pause between transactions models a busy application and still puts commits between
// copy steps.
inline std::chrono::milliseconds pause_for(const std::filesystem::path& p) {
    db_handle h(p, SQLITE_OPEN_READONLY);
    const auto wal =
        query_int(h, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'");
    return std::chrono::milliseconds(wal == 1 ? 0 : 2);
}

// A thread that commits transfers until destroyed.
class writer_thread {
  public:
    explicit writer_thread(std::filesystem::path p)
        : thread_([this, p = std::move(p)](std::stop_token stop) {
              try {
                  const auto pause = pause_for(p);
                  db_handle h(p);
                  for (std::int64_t i = 1; !stop.stop_requested(); ++i) {
                      write_transfer(h, i);
                      if (pause.count() > 0) std::this_thread::sleep_for(pause);
                  }
              } catch (...) {
                  failure_ = true;
              }
          }) {}
    [[nodiscard]] bool failed() const { return failure_.load(); }

  private:
    std::atomic<bool> failure_{false};
    std::jthread thread_;
};

// A child process that commits transfers until killed with SIGKILL (never a clean stop).
class writer_process {
  public:
    // `pause` between commits: by default pause_for(p); zero commits back to back.
    explicit writer_process(const std::filesystem::path& p,
                            std::optional<std::chrono::milliseconds> pause_between = {}) {
        pid_ = ::fork();
        if (pid_ == 0) {
            try {
                const auto pause = pause_between ? *pause_between : pause_for(p);
                db_handle h(p);  // opened after fork: no SQLite state shared with the parent
                for (std::int64_t i = 1;; ++i) {
                    write_transfer(h, i);
                    if (pause.count() > 0) std::this_thread::sleep_for(pause);
                }
            } catch (...) {
            }
            ::_exit(3);
        }
    }
    writer_process(const writer_process&) = delete;
    writer_process& operator=(const writer_process&) = delete;
    ~writer_process() { kill(); }

    // Kills the child; true when it was still running (it did not die of an error).
    bool kill() {
        if (pid_ <= 0) return false;
        int status = 0;
        const bool running = ::waitpid(pid_, &status, WNOHANG) == 0;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return running;
    }
    [[nodiscard]] pid_t pid() const { return pid_; }

  private:
    pid_t pid_ = -1;
};

// Blocks until counters.writes exceeds `seen` (another commit landed), up to `limit`. Used in
// progress callbacks so that, deterministically, a commit happens between two copy steps.
inline std::int64_t wait_for_commit_after(sqlite3* observer, std::int64_t seen,
                                          std::chrono::seconds limit = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        const auto now_seen = committed_writes(observer);
        if (now_seen > seen || std::chrono::steady_clock::now() > deadline) return now_seen;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

}  // namespace dbsafe::test
