// Drives online_backup's last attempt for a rollback-journal source (the two passes of
// online_backup::copy_file_in_two_passes) without timing luck, for tests that must act inside
// it. A writer holds RESERVED when the copy starts, so the file copy gives way at once; it
// commits at the first progress report, which restarts the backup-API steps at the next step,
// and at every stepped report after, until the steps give up (max_restarts); then the unlocked
// pass reports progress in reads of 4 MiB, which is how the scene knows it is there. It
// commits once more at that pass's first report (the copy in progress goes stale, as under a
// real writer), calls `on_unlocked_pass` and writes nothing after, so the pass under SHARED
// runs with no writer about.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "dbsafe/progress.hpp"
#include "support/concurrent_writer.hpp"
#include "support/sqlite_fixtures.hpp"

namespace dbsafe::test {

// The sample schema plus `mib` MiB of blobs, in rollback-journal mode.
inline void make_rollback_source(const std::filesystem::path& p, int mib) {
    create_sample_db(p, 2000, "delete");
    exec(p,
         "CREATE TABLE filler(id INTEGER PRIMARY KEY, body BLOB);"
         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<" +
             std::to_string(mib * 256) +
             ") INSERT INTO filler(body) SELECT randomblob(4000) FROM n;");
}

class last_attempt_scene {
  public:
    explicit last_attempt_scene(const std::filesystem::path& source) : writer_(source) {}

    // Call right before the copy: the writer takes RESERVED and keeps it.
    void hold_reserved() {
        exec(writer_, "BEGIN IMMEDIATE; UPDATE customers SET balance = balance + 0 WHERE id = 1");
        holding_ = true;
        in_unlocked_pass_ = false;
    }

    // The copy's ctx.on_progress.
    [[nodiscard]] progress_callback on_progress() {
        return [this](const progress& p) { report(p); };
    }

    std::function<void()> on_stepped_report;  // at each report of the steps, after its commit
    std::function<void()> on_unlocked_pass;   // once, at the unlocked pass's first report

    [[nodiscard]] std::int64_t commits() const { return commits_; }
    [[nodiscard]] bool reached_unlocked_pass() const { return in_unlocked_pass_; }

  private:
    void report(const progress& p) {
        if (in_unlocked_pass_) return;
        commit();
        if (p.bytes_done() >= (std::uint64_t{4} << 20)) {  // a 4 MiB read: the unlocked pass
            in_unlocked_pass_ = true;
            if (on_unlocked_pass) on_unlocked_pass();
        } else if (on_stepped_report) {
            on_stepped_report();
        }
    }

    void commit() {
        if (holding_) {
            exec(writer_, "COMMIT");
            holding_ = false;
        } else {
            write_transfer(writer_, ++next_);
        }
        ++commits_;
    }

    db_handle writer_;
    bool holding_ = false;
    bool in_unlocked_pass_ = false;
    std::int64_t next_ = 1'000'000;
    std::int64_t commits_ = 0;
};

}  // namespace dbsafe::test
