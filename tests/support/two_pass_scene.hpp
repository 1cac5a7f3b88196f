// Drives online_backup's two-pass copy of a rollback-journal source (copy_file_in_two_passes)
// without timing luck, for tests that must act inside it. A writer holds RESERVED, with a
// transfer written but not committed, when the copy starts, so the file copy gives way at once
// and the two passes begin. The unlocked pass reports progress after each read of 4 MiB (which
// is how the scene knows it is there): at its first report the writer commits (the copy in
// progress goes stale, as under a real writer), the scene calls `on_unlocked_pass`, and nothing
// is written after, so the pass under SHARED runs with no writer about.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "dbsafe/progress.hpp"
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

class two_pass_scene {
  public:
    explicit two_pass_scene(const std::filesystem::path& source) : writer_(source) {}

    // Call right before the copy: the writer takes RESERVED and keeps it, one ledger transfer
    // (support/concurrent_writer.hpp's invariant) written and not committed.
    void hold_reserved() {
        exec(writer_,
             "BEGIN IMMEDIATE;"
             "INSERT INTO ledger(account, delta) VALUES (1, 7), (2, -7);"
             "UPDATE counters SET value = value + 1 WHERE name = 'writes'");
        holding_ = true;
        in_unlocked_pass_ = false;
    }

    // The copy's ctx.on_progress.
    [[nodiscard]] progress_callback on_progress() {
        return [this](const progress& p) { report(p); };
    }

    std::function<void()> on_unlocked_pass;  // once, at the unlocked pass's first report

    [[nodiscard]] bool reached_unlocked_pass() const { return in_unlocked_pass_; }

  private:
    void report(const progress& p) {
        if (in_unlocked_pass_ || p.bytes_done() < (std::uint64_t{4} << 20)) return;
        in_unlocked_pass_ = true;
        if (holding_) {
            exec(writer_, "COMMIT");
            holding_ = false;
        }
        if (on_unlocked_pass) on_unlocked_pass();
    }

    db_handle writer_;
    bool holding_ = false;
    bool in_unlocked_pass_ = false;
};

}  // namespace dbsafe::test
