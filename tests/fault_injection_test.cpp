// I/O faults at every injection point of backup, verify and (in process) restore. Two injectors:
//  - fault_vfs (in process): the Nth xRead/xWrite/xSync/xTruncate of SQLite fails;
//  - fs_fault_preload (LD_PRELOAD into the dbsafe CLI): the Nth open/write/fsync/rename/unlink/
//    mkdir/... fails, whether dbsafe or SQLite makes the call.
// After each run: the live database is intact and unchanged, the backup directory lists only
// backups that verify, and a failure names the file it failed on. The shim's loops for restore
// and prune are in fs_fault_restore_prune_test.cpp.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dbsafe/detail/fast_copy_vfs.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "support/backup_checks.hpp"
#include "support/cli_fault_run.hpp"
#include "support/fault_vfs.hpp"
#include "support/injection_points.hpp"
#include "support/restore_scene.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"
#include "support/two_pass_scene.hpp"

namespace dbsafe::test {
namespace {

struct vfs_fault {
    vfs_op op;
    int code;
    bool persist;
};

void backup_under_every_fault(const std::string& journal_mode) {
    fault_vfs::scope vfs;  // before the first backup: see fault_vfs.hpp
    temp_dir tmp;
    const auto db = tmp / "live.db";
    const auto dir = tmp / "backups";
    create_sample_db(db, 60, journal_mode);
    const auto before = dump_rows(db);
    vault v{.storage = local_directory{dir}};

    const vfs_fault faults[] = {
        {vfs_op::read, SQLITE_IOERR_READ, false},
        {vfs_op::write, SQLITE_IOERR_WRITE, false},
        {vfs_op::write, SQLITE_FULL, true},
        {vfs_op::sync, SQLITE_IOERR_FSYNC, false},
        {vfs_op::truncate, SQLITE_IOERR_TRUNCATE, false},
    };
    long total_failures = 0;
    for (const auto& f : faults) {
        vfs.arm({});  // count this operation's calls in one clean backup
        ASSERT_TRUE(v.backup(db)) << "a backup without faults must succeed";
        const long count = vfs.calls(f.op);
        for (const long n : injection_points(count, 40)) {
            vfs.arm({.op = f.op, .nth = n, .code = f.code, .persist = f.persist});
            auto made = v.backup(db);
            const long injected = vfs.injected();
            vfs.arm({});
            SCOPED_TRACE(std::string(to_string(f.op)) + " #" + std::to_string(n) + " -> " +
                         sqlite3_errstr(f.code));
            if (!made) {
                ++total_failures;
                EXPECT_GT(injected, 0) << "failed without a fault: " << made.error().message;
                EXPECT_TRUE(names_a_file(made.error().message, {db, dir})) << made.error().message;
            }
            ASSERT_TRUE(live_intact(db, {before}));
            ::testing::AssertionResult verdict = ::testing::AssertionSuccess();
            const auto state = check_directory(dir, &verdict);
            ASSERT_TRUE(verdict);
            EXPECT_TRUE(state.debris.empty()) << "a failed backup left " << state.debris.front();
        }
    }
    EXPECT_GT(total_failures, 20) << "the injected faults did not reach the backup";
}

TEST(FaultVfs, BackupOfWalDatabaseSurvivesEveryFailedCall) { backup_under_every_fault("wal"); }

TEST(FaultVfs, BackupOfRollbackDatabaseSurvivesEveryFailedCall) {
    backup_under_every_fault("delete");
}

TEST(FaultVfs, VerifyFailsOnEveryFailedReadAndChangesNothing) {
    fault_vfs::scope vfs;  // before the first backup: see fault_vfs.hpp
    temp_dir tmp;
    const auto db = tmp / "live.db";
    create_sample_db(db, 60, "wal");
    // full_check: the backup passed integrity_check at creation, so a plain verify re-hashes
    // it without SQLite (the trust chain); the faults here are in SQLite's reads.
    vault v{.storage = local_directory{tmp / "backups"}, .verification = {.full_check = true}};
    auto made = v.backup(db);
    ASSERT_TRUE(made) << made.error().message;
    const auto& m = made.value();
    vfs.arm({});
    ASSERT_TRUE(v.verify(m.id));
    const long reads = vfs.calls(vfs_op::read);
    ASSERT_GT(reads, 3);
    for (const long n : injection_points(reads, 60)) {
        vfs.arm({.op = vfs_op::read, .nth = n, .code = SQLITE_IOERR_READ});
        auto r = v.verify(m.id);
        vfs.arm({});
        ASSERT_FALSE(r) << "verify passed although read #" << n << " of " << reads << " failed";
        EXPECT_TRUE(names_a_file(r.error().message, {m.data_path})) << r.error().message;
        ASSERT_TRUE(hash_file(m.data_path).value() == m.checksum) << "verify changed the backup";
    }
    EXPECT_TRUE(v.verify(m.id)) << "the backup is fine once the disk is";
}

// Restore B over A with one failed call at each point: the verify, the safety backup, the copy
// into the live database, the check, and the recovery that follows a failure.
void restore_under_every_fault(const std::string& journal_mode) {
    fault_vfs::scope vfs;  // before the first backup: see fault_vfs.hpp
    temp_dir tmp;
    const restore_scene s(tmp.path(), journal_mode);
    const auto& [db, dir, pristine, id, old_rows, new_rows] = s;
    vault v{.storage = local_directory{dir}};
    const vfs_fault faults[] = {{vfs_op::read, SQLITE_IOERR_READ, false},
                                {vfs_op::write, SQLITE_IOERR_WRITE, false},
                                {vfs_op::write, SQLITE_FULL, true},
                                {vfs_op::sync, SQLITE_IOERR_FSYNC, false},
                                {vfs_op::truncate, SQLITE_IOERR_TRUNCATE, false}};
    long failures = 0;
    for (const auto& f : faults) {
        s.reset();
        vfs.arm({});
        ASSERT_TRUE(v.restore(db, {.id = id}));
        const long count = vfs.calls(f.op);
        for (const long n : injection_points(count, 25)) {
            s.reset();
            vfs.arm({.op = f.op, .nth = n, .code = f.code, .persist = f.persist});
            auto r = v.restore(db, {.id = id});
            vfs.arm({});
            SCOPED_TRACE(std::string(to_string(f.op)) + " #" + std::to_string(n) + " of " +
                         std::to_string(count) + " -> " + sqlite3_errstr(f.code));
            if (!r) {
                ++failures;
                EXPECT_TRUE(names_a_file(r.error().message, {db, dir})) << r.error().message;
            }
            reopen_read_write(db);
            using states = std::vector<std::vector<std::string>>;
            ASSERT_TRUE(live_intact(db, r ? states{new_rows} : states{old_rows, new_rows}));
            ASSERT_TRUE(only_whole_backups(dir));
        }
    }
    EXPECT_GT(failures, 10) << "the injected faults did not reach the restore";
}

TEST(FaultVfs, RestoreOfWalDatabaseSurvivesEveryFailedCall) { restore_under_every_fault("wal"); }

TEST(FaultVfs, RestoreOfRollbackDatabaseSurvivesEveryFailedCall) {
    restore_under_every_fault("delete");
}

// Restore writes the live database, its journal and its WAL through the live-write shim
// (detail/fast_copy_vfs.hpp): in runs of up to 1 MiB, where SQLite alone makes one call per
// page, twice (the journal or WAL, then the file). Counted by the VFS below the shim.
TEST(FaultVfs, RestoreWritesTheLiveFilesInRunsNotPageByPage) {
    fault_vfs::scope vfs;  // before the first backup: see fault_vfs.hpp
    for (const std::string mode : {"wal", "delete"}) {
        SCOPED_TRACE(mode);
        temp_dir tmp;
        const auto db = tmp.path() / "live.db";
        create_sample_db(db, 3000, mode);
        vault v{.storage = local_directory{tmp.path() / "backups"}};
        const auto taken = v.backup(db).value();
        const auto backed_up = dump_rows(db);
        exec(db, "DELETE FROM orders WHERE id % 2 = 0; UPDATE customers SET name = upper(name)");
        vfs.arm({.filter = "live.db"});
        const auto restored = v.restore(db, {.id = taken.id});
        const long writes = vfs.calls(vfs_op::write);
        vfs.arm({});
        ASSERT_TRUE(restored) << restored.error().message;
        EXPECT_EQ(dump_rows(db), backed_up);
        EXPECT_GT(writes, 0) << "the count saw no write to the live files";
        EXPECT_LT(writes, taken.page_count / 4)
            << writes << " write calls for a copy of " << taken.page_count << " pages";
    }
}

// The last attempt of a rollback-journal backup that writers kept restarting (online_backup's
// two passes, reached on purpose by support/two_pass_scene.hpp) with one failed read at
// each of its reads, counted from the unlocked pass's first report: a read that fails in the
// unlocked pass only leaves that copy incomplete, and the pass under SHARED completes it page
// by page, so the backup succeeds with the database's exact rows; a read that fails under
// SHARED fails the backup with a message naming the database. Never a success with a wrong
// copy.
TEST(FaultVfs, RollbackTwoPassCopyIgnoresAFailedUnlockedReadAndFailsCleanlyOnALockedOne) {
    fault_vfs::scope vfs;  // before the first backup: see fault_vfs.hpp
    temp_dir tmp;
    const auto db = tmp / "live.db";
    make_rollback_source(db, 12);
    two_pass_scene scene(db);
    long nth = 0;  // 0: a clean run, which counts the reads from the arm point on
    scene.on_unlocked_pass = [&] {
        vfs.arm({.op = vfs_op::read, .nth = nth, .code = SQLITE_IOERR_READ, .filter = "live.db"});
    };
    long reads = -1;
    int succeeded_despite_a_fault = 0;
    int failed = 0;
    for (nth = 0; reads < 0 || nth <= reads + 1; ++nth) {
        SCOPED_TRACE("read #" + std::to_string(nth) + " of the last attempt fails");
        vfs.arm({});
        const auto target = tmp / ("copy" + std::to_string(nth) + ".db");
        std::ofstream(target).flush();
        auto src = detail::open_and_probe(db, detail::open_mode::read_write, 10'000,
                                          detail::fast_read_vfs());
        ASSERT_TRUE(src) << src.error().message;
        scene.hold_reserved();
        const auto info = online_backup{.pages_per_step = 16, .max_restarts = 2}.copy(
            src.value().get(), target,
            {.on_progress = scene.on_progress(), .private_source = true});
        const long injected = vfs.injected();
        const long counted = vfs.calls(vfs_op::read);
        vfs.arm({});
        ASSERT_TRUE(scene.reached_unlocked_pass()) << "the file copy never gave way";
        if (nth == 0) {
            ASSERT_TRUE(info) << info.error().message;
            reads = counted;
            ASSERT_GT(reads, 3) << "too few reads after the arm point to fail one in each pass";
        }
        if (info) {
            EXPECT_EQ(injected, nth == 0 || nth > reads ? 0 : 1);
            if (injected > 0) ++succeeded_despite_a_fault;
            EXPECT_GE(info.value().restarts, 1);
            ASSERT_TRUE(info.value().content_checksum.has_value()) << "not the two-pass attempt";
            EXPECT_TRUE(*info.value().content_checksum == hash_file(target).value());
            EXPECT_EQ(integrity(target), "ok");
            EXPECT_EQ(dump_rows(target), dump_rows(db)) << "a wrong copy was called a backup";
        } else {
            ++failed;
            EXPECT_EQ(injected, 1) << "failed without a fault: " << info.error().message;
            EXPECT_TRUE(names_a_file(info.error().message, {db})) << info.error().message;
        }
        std::filesystem::remove(target);
    }
    std::printf("[ last try  ] %ld reads after the arm point: %d failed reads ignored, %d failed\n",
                reads, succeeded_despite_a_fault, failed);
    EXPECT_GT(succeeded_despite_a_fault, 0) << "no failed read landed in the unlocked pass";
    EXPECT_GT(failed, 0) << "no failed read landed under SHARED";
    EXPECT_EQ(integrity(db), "ok");
}

// --- dbsafe's own file operations, through the LD_PRELOAD shim on the CLI ---

TEST(FsFaults, CliBackupNeverPublishesAHalfBackupWhicheverCallFails) {
    temp_dir tmp;
    const auto db = tmp / "live.db";
    const auto dir = tmp / "backups";
    create_sample_db(db, 60, "wal");
    const auto before = dump_rows(db);
    const std::vector<std::string> args{"backup",     db.string(), "--dir",
                                        dir.string(), "--verify",  "quick"};
    const fs_fault faults[] = {{"open", EACCES},  {"write", ENOSPC}, {"fsync", EIO},
                               {"rename", EIO},   {"unlink", EIO},   {"mkdir", EACCES},
                               {"truncate", EIO}, {"read", EIO}};
    long failures = 0;
    for (const auto& f : faults) {
        std::filesystem::remove_all(dir);  // mkdir happens only for a new directory
        const auto counted = run_cli_with_fault(tmp, args, f, 0, dir);
        ASSERT_EQ(counted.result.exit_code, 0) << counted.result.err;
        for (const long n : injection_points(counted.calls, 12)) {
            SCOPED_TRACE(describe(f, n, counted.calls));
            if (std::string(f.call) == "mkdir") std::filesystem::remove_all(dir);
            const auto before_ids = [&] {
                ::testing::AssertionResult ok = ::testing::AssertionSuccess();
                return check_directory(dir, &ok).ids;
            }();
            const auto r = run_cli_with_fault(tmp, args, f, n, dir);
            ASSERT_EQ(r.result.signal, 0) << "the CLI crashed: " << r.result.err;
            ASSERT_TRUE(r.result.exit_code == 0 || r.result.exit_code == 1) << r.result.err;
            ::testing::AssertionResult verdict = ::testing::AssertionSuccess();
            const auto after = check_directory(dir, &verdict);
            ASSERT_TRUE(verdict);
            ASSERT_TRUE(live_intact(db, {before}));
            if (r.result.exit_code == 1) {
                ++failures;
                EXPECT_EQ(r.injected, 1) << r.result.err;
                EXPECT_NE(r.result.err.find(dir.string()), std::string::npos)
                    << "the error does not name the file: " << r.result.err;
            } else {
                EXPECT_EQ(after.ids.size(), before_ids.size() + 1) << "exit 0 but no new backup";
            }
            // Debris is possible only when the cleanup itself was the failed call.
            if (!after.debris.empty()) {
                EXPECT_EQ(std::string(f.call), "unlink") << after.debris.front();
                sweep_debris(dir);
            }
        }
    }
    // The copy needs few calls (4 MiB reads and writes) and the checks read through a memory
    // map, so a few dozen injection points exist; most of them must fail the backup.
    EXPECT_GT(failures, 15) << "the injected faults did not reach dbsafe";
}

TEST(FsFaults, CliVerifyReportsAFailedReadAndLeavesTheBackupAlone) {
    temp_dir tmp;
    const auto db = tmp / "live.db";
    const auto dir = tmp / "backups";
    create_sample_db(db, 60, "wal");
    vault v{.storage = local_directory{dir}};
    auto made = v.backup(db);
    ASSERT_TRUE(made) << made.error().message;
    const std::vector<std::string> args{"verify", "--dir", dir.string()};
    for (const fs_fault& f : {fs_fault{"read", EIO}, fs_fault{"open", EACCES}}) {
        const auto counted = run_cli_with_fault(tmp, args, f, 0, dir);
        ASSERT_EQ(counted.result.exit_code, 0) << counted.result.err;
        for (const long n : injection_points(counted.calls, 15)) {
            SCOPED_TRACE(std::string(f.call) + " #" + std::to_string(n));
            const auto r = run_cli_with_fault(tmp, args, f, n, dir);
            ASSERT_EQ(r.result.signal, 0);
            // A manifest read may fail as "not a complete backup"; either way: exit 1.
            EXPECT_EQ(r.result.exit_code, 1) << r.result.out << r.result.err;
            EXPECT_NE((r.result.out + r.result.err).find(dir.string()), std::string::npos)
                << r.result.out << r.result.err;
            EXPECT_TRUE(v.verify(made.value().id)) << "verify under faults changed the backup";
        }
    }
}

}  // namespace
}  // namespace dbsafe::test
