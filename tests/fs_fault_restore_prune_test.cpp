// File-system faults at every injection point of `dbsafe restore` and `dbsafe prune`, through
// the LD_PRELOAD shim in the real binary (see support/cli_fault_run.hpp).
//  - restore: the live database ends in its old or its restored content, never a mix, and
//    exactly which one the exit code and message say; faults on the live database's files alone
//    break the copy-in, so the recovery from the safety backup runs (and, when the disk stays
//    broken, fails with instructions).
//  - prune: whatever fails, every manifest left names a data file that exists and verifies
//    (manifest removed first), no kept backup is touched, and a clean second run finishes.
// No VFS loop for prune: it opens no SQLite connection (it lists, reads manifests and unlinks).
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "support/backup_checks.hpp"
#include "support/cli_fault_run.hpp"
#include "support/injection_points.hpp"
#include "support/restore_scene.hpp"
#include "support/temp_dir.hpp"

namespace dbsafe::test {
namespace {

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::vector<std::string> sorted(std::vector<std::string> ids) {
    std::sort(ids.begin(), ids.end());
    return ids;
}

// Every kind of call the shim can fail, each with an errno a real disk gives for it.
const std::vector<fs_fault> every_call = {{"open", EACCES}, {"write", ENOSPC}, {"read", EIO},
                                          {"fsync", EIO},   {"truncate", EIO}, {"rename", EIO},
                                          {"unlink", EIO},  {"mkdir", EACCES}};

// What a loop did, printed for docs/reliability.md's table of injection points.
struct loop_tally {
    std::string calls;  // "open 22, write+ 45, ...": matching calls of the fault-free run
                        // (+: the fault persists)
    long runs = 0;
    long failures = 0;
    long recovered = 0;        // restore: the copy-in failed and the safety backup was put back
    long recovery_failed = 0;  // ... and putting it back failed too
    long untouched = 0;        // restore: stopped before the live database changed (e.g. the
                               // copy-in failed before its commit): nothing to recover

    void count(const fs_fault& f, long n) {
        calls += (calls.empty() ? "" : ", ") + std::string(f.call) + (f.persist ? "+" : "") + " " +
                 std::to_string(n);
    }
    void print(const std::string& what) const {
        std::printf(
            "fs-faults: %s: %s; %ld runs, %ld failed (%ld untouched, %ld recovered, %ld not)\n",
            what.c_str(), calls.c_str(), runs, failures, untouched, recovered, recovery_failed);
    }
};

// `dbsafe restore` of the scene's backup over its live database, with call N of each fault
// failing on paths containing `filter`, for every N the fault-free run makes (up to `cap` of them).
void cli_restore_under_every_fault(const temp_dir& tmp, const restore_scene& s,
                                   const std::filesystem::path& filter,
                                   const std::vector<fs_fault>& faults, long cap,
                                   loop_tally& tally) {
    const std::vector<std::string> args{"restore",      s.db.string(), "--dir",
                                        s.dir.string(), "--id",        s.id};
    for (const auto& f : faults) {
        s.reset();
        const auto counted = run_cli_with_fault(tmp, args, f, 0, filter);
        ASSERT_EQ(counted.result.exit_code, 0) << counted.result.err;
        tally.count(f, counted.calls);
        for (const long n : injection_points(counted.calls, cap)) {
            SCOPED_TRACE(describe(f, n, counted.calls));
            s.reset();
            const auto r = run_cli_with_fault(tmp, args, f, n, filter);
            ++tally.runs;
            ASSERT_EQ(r.result.signal, 0) << "the CLI crashed: " << r.result.err;
            ASSERT_TRUE(r.result.exit_code == 0 || r.result.exit_code == 1) << r.result.err;
            const std::string& err = r.result.err;

            // The live state the outcome promises: restored, untouched, recovered, or (only
            // when the recovery failed too) either, as the message then says.
            using states = std::vector<std::vector<std::string>>;
            states allowed{s.old_rows, s.new_rows};
            if (r.result.exit_code == 0) {
                allowed = {s.new_rows};
            } else if (contains(err, "the live database was not changed") ||
                       contains(err, "; recovered: ")) {
                allowed = {s.old_rows};
            }
            reopen_read_write(s.db);
            ASSERT_TRUE(live_intact(s.db, allowed)) << err;

            ::testing::AssertionResult verdict = ::testing::AssertionSuccess();
            const auto after = check_directory(s.dir, &verdict);
            ASSERT_TRUE(verdict);
            // Debris is possible only when the cleanup itself was the failed call.
            if (!after.debris.empty()) {
                EXPECT_EQ(std::string(f.call), "unlink") << after.debris.front();
            }
            if (r.result.exit_code == 0) {
                EXPECT_EQ(after.ids.size(), 2U) << "restored, but no safety backup was kept";
                continue;
            }
            ++tally.failures;
            EXPECT_GE(r.injected, 1) << "failed without a fault: " << err;
            EXPECT_TRUE(contains(err, "restor")) << "the error does not name the restore: " << err;
            EXPECT_TRUE(names_a_file(err, {s.db, s.dir})) << "the error names no file: " << err;
            if (contains(err, "the live database was not changed")) ++tally.untouched;
            if (contains(err, "; recovered: ")) ++tally.recovered;
            if (contains(err, "RECOVERY ALSO FAILED")) {
                ++tally.recovery_failed;
                EXPECT_TRUE(contains(err, "dbsafe restore " + s.db.string()))
                    << "no command to restore the safety backup by hand: " << err;
            }
        }
    }
}

void cli_restore_survives_every_failed_call(const std::string& journal_mode) {
    temp_dir tmp;
    const restore_scene s(tmp / "data", journal_mode);  // the shim's output stays outside
    loop_tally tally;
    cli_restore_under_every_fault(tmp, s, tmp / "data", every_call, 40, tally);
    tally.print("restore (" + journal_mode + "), every file");
    EXPECT_GT(tally.failures, 30) << "the injected faults did not reach the restore";
}

TEST(FsFaults, CliRestoreOfWalDatabaseLeavesOldOrRestoredContentWhicheverCallFails) {
    cli_restore_survives_every_failed_call("wal");
}

TEST(FsFaults, CliRestoreOfRollbackDatabaseLeavesOldOrRestoredContentWhicheverCallFails) {
    cli_restore_survives_every_failed_call("delete");
}

// Faults on the live database's files only (with its -wal, -shm, -journal): the backup and the
// safety backup are fine, the copy-in breaks. Issue 13 changed what follows: a copy-in that
// fails before its commit leaves the live database as it was and says so (it used to run a
// recovery, which met the same fault: "RECOVERY ALSO FAILED" over an untouched database);
// a failure after the commit (the check) still recovers from the safety backup.
TEST(FsFaults, CliRestoreLeavesTheLiveDatabaseAsItWasOrRecoversWhenTheCopyInFails) {
    const std::vector<fs_fault> faults = {
        {"write", EIO},   {"write", ENOSPC, true}, {"fsync", EIO}, {"read", EIO},
        {"open", EACCES}, {"truncate", EIO},       {"unlink", EIO}};
    for (const char* journal_mode : {"wal", "delete"}) {
        SCOPED_TRACE(journal_mode);
        temp_dir tmp;
        const restore_scene s(tmp / "data", journal_mode);
        loop_tally tally;
        cli_restore_under_every_fault(tmp, s, s.db, faults, 15, tally);
        tally.print(std::string("restore (") + journal_mode + "), live database files only");
        EXPECT_GT(tally.untouched + tally.recovered, 5)
            << "no fault reached the copy-in (" << tally.runs << " runs)";
        EXPECT_GT(tally.untouched, 0) << "no failed copy-in said the database was not changed";
    }
}

// A manifest that cannot be read is not debris: it may be the newest backup. Were it skipped,
// `--latest` would put an older backup in place and exit 0.
TEST(FsFaults, CliRestoreLatestRefusesWhenTheNewestManifestCannotBeRead) {
    temp_dir tmp;
    const restore_scene s(tmp / "data", "wal");
    vault v{.storage = local_directory{s.dir}};
    const auto newest = v.backup(s.db);  // of the old content, newer than the scene's backup
    ASSERT_TRUE(newest) << newest.error().message;
    const auto manifest = s.dir / (newest.value().id + ".json");

    const auto r =
        run_cli_with_fault(tmp, {"restore", s.db.string(), "--dir", s.dir.string(), "--latest"},
                           {"read", EIO}, 1, manifest);
    ASSERT_EQ(r.injected, 1);
    EXPECT_EQ(r.result.exit_code, 1) << r.result.out;
    EXPECT_TRUE(names_a_file(r.result.err, {manifest})) << r.result.err;
    EXPECT_TRUE(live_intact(s.db, {s.old_rows}));
}

// --- prune ---

// Five backups a day apart, the newest taken now; `--keep-within 2d` judged half a day later
// keeps the two newest and deletes three. reset() puts the untouched directory back.
struct prune_scene {
    std::filesystem::path dir;
    std::filesystem::path original;
    std::vector<std::string> kept;  // sorted
    std::vector<std::string> args;

    explicit prune_scene(const temp_dir& tmp)
        : dir(tmp / "data" / "backups"), original(tmp / "original") {
        using namespace std::chrono;
        const auto db = tmp / "source.db";
        create_sample_db(db, 60, "wal");
        const auto taken = system_clock::now();
        for (int age_days = 4; age_days >= 0; --age_days) {
            const auto created = taken - days{age_days};
            vault v{.storage = local_directory{original},
                    .options = {.clock = [created] { return created; }}};
            const auto made = v.backup(db);
            if (!made) throw std::runtime_error(made.error().message);
            if (age_days < 2) kept.push_back(made.value().id);
        }
        std::sort(kept.begin(), kept.end());
        // A debris grace of 0: the clean second run sweeps what a fault left at once.
        const std::string now = detail::format_iso8601(taken + hours{12});
        args = {"prune", "--dir",          dir.string(), "--keep-within", "2d", "--now",
                now,     "--debris-grace", "0h"};
        reset();
    }

    void reset() const {
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir.parent_path());
        std::filesystem::copy(original, dir);
    }
};

TEST(FsFaults, CliPruneNeverLeavesAManifestWithoutDataAndARerunFinishes) {
    temp_dir tmp;
    const prune_scene s(tmp);
    const auto filter = tmp / "data";
    loop_tally tally;
    for (const auto& f : every_call) {
        s.reset();
        const auto counted = run_cli_with_fault(tmp, s.args, f, 0, filter);
        ASSERT_EQ(counted.result.exit_code, 0) << counted.result.err;
        tally.count(f, counted.calls);
        for (const long n : injection_points(counted.calls, 40)) {
            SCOPED_TRACE(describe(f, n, counted.calls));
            s.reset();
            const auto r = run_cli_with_fault(tmp, s.args, f, n, filter);
            ++tally.runs;
            ASSERT_EQ(r.result.signal, 0) << "the CLI crashed: " << r.result.err;
            ASSERT_TRUE(r.result.exit_code == 0 || r.result.exit_code == 1) << r.result.err;
            const std::string& err = r.result.err;

            ::testing::AssertionResult verdict = ::testing::AssertionSuccess();
            const auto after = check_directory(s.dir, &verdict);
            ASSERT_TRUE(verdict) << "a manifest left behind does not verify";
            for (const auto& d : after.debris) {
                EXPECT_FALSE(d.ends_with(".json")) << "a manifest without its data: " << d;
            }
            for (const auto& id : s.kept) {
                EXPECT_NE(std::find(after.ids.begin(), after.ids.end(), id), after.ids.end())
                    << "prune deleted " << id << ", which the policy keeps";
            }
            if (r.result.exit_code == 1) {
                ++tally.failures;
                EXPECT_GE(r.injected, 1) << "failed without a fault: " << err;
                EXPECT_TRUE(contains(err, "cannot list backup directory") ||
                            contains(err, "could not delete backup") ||
                            contains(err, "could not remove"))
                    << "the error does not name the operation: " << err;
                EXPECT_TRUE(names_a_file(err, {s.dir})) << "the error names no file: " << err;
            } else {
                EXPECT_EQ(sorted(after.ids), s.kept)
                    << "exit 0, but the job is not done: " << r.result.out;
                EXPECT_TRUE(after.debris.empty()) << "exit 0, but left " << after.debris.front();
            }

            const auto rerun = run_cli_with_fault(tmp, s.args, f, 0, filter);
            ASSERT_EQ(rerun.result.exit_code, 0) << rerun.result.err;
            const auto finished = check_directory(s.dir, &verdict);
            ASSERT_TRUE(verdict);
            EXPECT_EQ(sorted(finished.ids), s.kept)
                << "a clean second prune did not finish the job";
            EXPECT_TRUE(finished.debris.empty()) << finished.debris.front();
        }
    }
    tally.print("prune (3 of 5 backups due)");
    EXPECT_GT(tally.failures, 10) << "the injected faults did not reach the prune";
}

}  // namespace
}  // namespace dbsafe::test
