// kill -9 at any moment of a restore: the live database passes integrity_check and holds,
// row by row, either its old content or the backup's, never anything else.
//
// Two kinds of kill, each in WAL and rollback-journal mode:
//  - the child kills itself from the progress callback after a random number of copy steps:
//    always inside the copy's write transaction, so the old content must survive (no timing);
//  - the parent kills the child after a random delay spread over a whole restore (verify,
//    safety backup, copy, check): any moment, including the commit itself.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
using dbsafe::test::dump_rows;
using dbsafe::test::temp_dir;
namespace fs = std::filesystem;

constexpr int trials_per_case = 15;  // x 2 kinds x 2 journal modes = 60 kills

vault make_vault(const fs::path& dir) {
    return vault{.storage = local_directory{dir},
                 .snapshot = {},
                 .verification = standard_checks{.level = check_level::quick, .required = {}},
                 .retention = {},
                 .options = {}};
}

struct scenario {
    temp_dir dir;
    fs::path old_template = dir / "old-template.db";
    fs::path backups = dir / "backups";
    std::string backup_id;
    int backup_pages = 0;
    std::vector<std::string> old_rows;
    std::vector<std::string> new_rows;

    explicit scenario(const std::string& mode) {
        // "new" = the backup's content; "old" = what the live database holds before restoring.
        const auto source = dir / "source.db";
        test::create_sample_db(source, 150, mode);
        auto v = make_vault(backups);
        const auto m = v.backup(source).value();
        backup_id = m.id;
        backup_pages = static_cast<int>(m.page_count);
        new_rows = dump_rows(source);
        test::exec(source, R"sql(
            DELETE FROM orders WHERE id % 2 = 0;
            UPDATE customers SET name = 'renamed ' || id;
            INSERT INTO documents(body) VALUES (randomblob(20000));
            CREATE TABLE only_in_old(x); INSERT INTO only_in_old VALUES (1);
        )sql");
        old_rows = dump_rows(source);
        test::exec(source, "PRAGMA wal_checkpoint(TRUNCATE)");
        fs::copy_file(source, old_template);
    }

    fs::path fresh_live(int trial) const {
        const auto live = dir / ("live-" + std::to_string(trial) + ".db");
        fs::copy_file(old_template, live);
        return live;
    }
};

// Runs a restore in a child; `self_kill_after_steps` >= 0 makes the child SIGKILL itself from
// the progress callback. Returns the child's pid.
pid_t spawn_restore(const scenario& s, const fs::path& live, int self_kill_after_steps) {
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    auto v = make_vault(s.backups);
    restore_options o;
    o.id = s.backup_id;
    o.allow_other_database = true;  // one backup, restored into a fresh copy per trial
    o.pages_per_step = 2;           // many steps: many moments inside the copy
    int steps = 0;
    o.on_progress = [&](const progress& p) {
        if (p.phase != progress_phase::copy_in) return;  // killed inside the copy, not before
        if (self_kill_after_steps >= 0 && ++steps > self_kill_after_steps &&
            p.pages_done < p.pages_total) {
            ::kill(::getpid(), SIGKILL);
        }
    };
    const auto done = v.restore(live, o);
    ::_exit(done ? 0 : 3);
}

enum class ended { old_content, new_content };

ended check_survivor(const scenario& s, const fs::path& live) {
    // A read-write open first: it rolls back a hot journal or recovers the WAL.
    test::db_handle db(live);
    const auto check = detail::query_text(db, "PRAGMA integrity_check");
    EXPECT_TRUE(check && check.value() == "ok")
        << live << ": " << (check ? check.value() : check.error().message);
    const auto rows = dump_rows(live);
    if (rows == s.old_rows) return ended::old_content;
    EXPECT_EQ(rows, s.new_rows) << live << " holds neither the old nor the restored content";
    return ended::new_content;
}

class RestoreCrash : public ::testing::TestWithParam<std::string> {};

TEST_P(RestoreCrash, KillInsideTheCopyLeavesTheOldContent) {
    scenario s(GetParam());
    std::mt19937 rng(20261125);
    // 2 pages per step; the last step commits, so kill before it.
    ASSERT_GT(s.backup_pages, 8);
    std::uniform_int_distribution<int> after(0, (s.backup_pages - 1) / 2 - 1);
    for (int trial = 0; trial < trials_per_case; ++trial) {
        const auto live = s.fresh_live(trial);
        const pid_t pid = spawn_restore(s, live, after(rng));
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "trial " << trial;
        EXPECT_EQ(check_survivor(s, live), ended::old_content) << "trial " << trial;
    }
}

TEST_P(RestoreCrash, KillAtARandomMomentLeavesOldOrNewContent) {
    scenario s(GetParam());
    // How long one restore takes here, to spread the kills over all of it (not an assertion).
    const auto probe = s.fresh_live(1000);
    const auto t0 = std::chrono::steady_clock::now();
    int status = 0;
    const pid_t first = spawn_restore(s, probe, -1);
    ASSERT_EQ(::waitpid(first, &status, 0), first);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const auto span = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - t0);
    EXPECT_EQ(check_survivor(s, probe), ended::new_content);

    std::mt19937 rng(7 + static_cast<unsigned>(GetParam().size()));
    std::uniform_int_distribution<long> delay(0, span.count() * 5 / 4);
    int old_count = 0;
    int new_count = 0;
    for (int trial = 0; trial < trials_per_case; ++trial) {
        const auto live = s.fresh_live(trial);
        const pid_t pid = spawn_restore(s, live, -1);
        std::this_thread::sleep_for(std::chrono::microseconds(delay(rng)));
        ::kill(pid, SIGKILL);
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        (check_survivor(s, live) == ended::old_content ? old_count : new_count)++;
    }
    std::printf("[ info ] %s: %d kills left the old content, %d the restored content\n",
                GetParam().c_str(), old_count, new_count);
}

INSTANTIATE_TEST_SUITE_P(Modes, RestoreCrash, ::testing::Values("wal", "delete"));

}  // namespace
