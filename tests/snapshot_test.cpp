// snapshot/online_backup.hpp and snapshot/vacuum_into.hpp, driven directly: the copy equals the
// committed state of the source row by row, is a self-contained rollback-journal database, and
// is a consistent snapshot while another thread or process keeps committing; restarts caused by
// writers are bounded; locks, cancellation and transactions give clear errors.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stop_token>
#include <string>
#include <vector>

#include "dbsafe/checksum.hpp"
#include "dbsafe/detail/fast_copy_vfs.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/snapshot/online_backup.hpp"
#include "dbsafe/snapshot/vacuum_into.hpp"
#include "support/concurrent_writer.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
namespace fs = std::filesystem;
using dbsafe::test::db_handle;

// The snapshot contract: the target exists and is empty (the storage target created it).
fs::path empty_target(const fs::path& p) {
    std::ofstream(p).flush();
    return p;
}

// dbsafe's own connection to the source, as the vault opens it.
detail::connection open_source(const fs::path& p, int busy_ms = 10000) {
    auto c = detail::open_and_probe(p, detail::open_mode::read_write, busy_ms);
    if (!c) throw std::runtime_error(c.error().message);
    return std::move(c).value();
}

std::string integrity(const fs::path& p) {
    db_handle h(p, SQLITE_OPEN_READONLY);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, nullptr);
    std::string out;
    while (sqlite3_step(st) == SQLITE_ROW) {
        out += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
}

// Runs the plain sqlite3 shell on `file` read-only; returns its stdout.
std::string sqlite3_shell(const fs::path& file, const std::string& sql) {
    const std::string cmd = "sqlite3 -readonly '" + file.string() + "' '" + sql + "' 2>&1";
    FILE* f = ::popen(cmd.c_str(), "r");
    if (f == nullptr) return "popen failed";
    std::string out;
    std::array<char, 256> buf{};
    while (std::fgets(buf.data(), buf.size(), f) != nullptr) out += buf.data();
    ::pclose(f);
    return out;
}

class Snapshot : public ::testing::TestWithParam<std::string> {
  protected:
    dbsafe::test::temp_dir tmp;
    fs::path source = tmp / "live.db";
};

INSTANTIATE_TEST_SUITE_P(JournalModes, Snapshot, ::testing::Values("wal", "delete"));

TEST_P(Snapshot, OnlineBackupEqualsCommittedSourceRowByRowWithAnOpenWriter) {
    dbsafe::test::create_sample_db(source, 1500, GetParam());
    const auto committed = dbsafe::test::dump_rows(source);
    // A writer connection in the middle of a transaction: its rows are not committed and must
    // not appear in the copy.
    db_handle writer(source);
    dbsafe::test::exec(writer,
                       "BEGIN IMMEDIATE; INSERT INTO customers(name) VALUES ('ghost');"
                       "DELETE FROM orders WHERE id < 100");
    auto src = open_source(source);
    const auto target = empty_target(tmp / "copy.db");
    const auto info =
        online_backup{.pages_per_step = 64}.copy(src.get(), target, {.private_source = true});
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(dbsafe::test::dump_rows(target), committed);
    EXPECT_EQ(info.value().page_count, dbsafe::test::query_int(target, "PRAGMA page_count"));
    EXPECT_EQ(info.value().page_size, 4096);
    EXPECT_EQ(integrity(target), "ok");
    dbsafe::test::exec(writer, "ROLLBACK");
}

TEST_P(Snapshot, VacuumIntoEqualsCommittedSourceRowByRowWithAnOpenWriter) {
    dbsafe::test::create_sample_db(source, 1500, GetParam());
    const auto committed = dbsafe::test::dump_rows(source);
    db_handle writer(source);
    dbsafe::test::exec(writer, "BEGIN IMMEDIATE; INSERT INTO customers(name) VALUES ('ghost')");
    auto src = open_source(source);
    const auto target = empty_target(tmp / "copy.db");
    const auto info = vacuum_into{}.copy(src.get(), target, {.private_source = true});
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(dbsafe::test::dump_rows(target), committed);
    EXPECT_EQ(integrity(target), "ok");
    dbsafe::test::exec(writer, "ROLLBACK");
}

TEST_P(Snapshot, CopiesAreSelfContainedAndOpenInThePlainSqlite3Shell) {
    dbsafe::test::create_sample_db(source, 300, GetParam());
    db_handle keep_wal_alive(source);  // the source keeps its -wal while we copy
    auto src = open_source(source);
    const auto by_api = empty_target(tmp / "api.db");
    ASSERT_TRUE(online_backup{}.copy(src.get(), by_api, {.private_source = true}));
    const auto by_vacuum = empty_target(tmp / "vacuum.db");
    ASSERT_TRUE(vacuum_into{}.copy(src.get(), by_vacuum, {.private_source = true}));
    for (const auto& copy : {by_api, by_vacuum}) {
        SCOPED_TRACE(copy.string());
        // Header bytes 18/19 (file format write/read version) 1 = rollback journal, 2 = WAL.
        std::ifstream in(copy, std::ios::binary);
        std::array<char, 20> header{};
        in.read(header.data(), header.size());
        EXPECT_EQ(header[18], 1);
        EXPECT_EQ(header[19], 1);
        EXPECT_EQ(sqlite3_shell(copy, "PRAGMA journal_mode; SELECT count(*) FROM customers;"),
                  "delete\n300\n");
        EXPECT_FALSE(fs::exists(copy.string() + "-wal"));
    }
}

// How the vault opens its source (database_ref.hpp): through the read-ahead shim, which also
// tells online_backup whether a WAL read transaction reads the database file alone.
detail::connection open_source_as_vault_does(const fs::path& p) {
    auto c =
        detail::open_and_probe(p, detail::open_mode::read_write, 10000, detail::fast_read_vfs());
    if (!c) throw std::runtime_error(c.error().message);
    return std::move(c).value();
}

TEST_P(Snapshot, SnapshotReadStraightFromTheFileEqualsCommittedSourceAndHashesAsWritten) {
    dbsafe::test::create_sample_db(source, 1500, GetParam());
    const auto committed = dbsafe::test::dump_rows(source);
    db_handle writer(source);
    dbsafe::test::exec(writer,
                       "BEGIN IMMEDIATE; INSERT INTO customers(name) VALUES ('ghost');"
                       "DELETE FROM orders WHERE id < 100");
    auto src = open_source_as_vault_does(source);
    const auto target = empty_target(tmp / "copy.db");
    // One step: a rollback-journal source may then be read from its file under SHARED.
    const auto info =
        online_backup{.pages_per_step = -1}.copy(src.get(), target, {.private_source = true});
    ASSERT_TRUE(info) << info.error().message;
    // Everything is in the file (rollback journal, or a fully checkpointed WAL): file path.
    ASSERT_TRUE(info.value().content_checksum.has_value());
    const auto on_disk = hash_file(target);
    ASSERT_TRUE(on_disk);
    EXPECT_EQ(*info.value().content_checksum, on_disk.value());
    EXPECT_EQ(dbsafe::test::dump_rows(target), committed);
    EXPECT_EQ(info.value().page_count, dbsafe::test::query_int(target, "PRAGMA page_count"));
    EXPECT_EQ(fs::file_size(target),
              static_cast<std::uintmax_t>(info.value().page_count * info.value().page_size));
    EXPECT_EQ(integrity(target), "ok");
    EXPECT_EQ(sqlite3_shell(target, "PRAGMA journal_mode; SELECT count(*) FROM customers;"),
              "delete\n1500\n");
    dbsafe::test::exec(writer, "ROLLBACK");
}

TEST(OnlineBackup, WalFramesThatCannotBeCheckpointedAreCopiedThroughTheBackupApi) {
    dbsafe::test::temp_dir tmp;
    const auto source = tmp / "live.db";
    dbsafe::test::create_sample_db(source, 800, "wal");
    // An old reader holds read lock 0, so no checkpoint may write into the file; the frames
    // committed after it live only in the WAL, and a copy of the file alone would miss them.
    db_handle old_reader(source);
    dbsafe::test::exec(old_reader, "BEGIN; SELECT count(*) FROM customers");
    db_handle writer(source);
    dbsafe::test::exec(writer,
                       "INSERT INTO customers(name) VALUES ('after'); DELETE FROM orders WHERE "
                       "id < 50");
    const auto committed = dbsafe::test::dump_rows(source);
    auto src = open_source_as_vault_does(source);
    const auto target = empty_target(tmp / "copy.db");
    const auto info = online_backup{}.copy(src.get(), target, {.private_source = true});
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_FALSE(info.value().content_checksum.has_value()) << "took the file path";
    EXPECT_EQ(dbsafe::test::dump_rows(target), committed);
    EXPECT_EQ(integrity(target), "ok");
    dbsafe::test::exec(old_reader, "ROLLBACK");
}

TEST(OnlineBackup, ProgressIsMonotonicAndEndsAtTheTotal) {
    dbsafe::test::temp_dir tmp;
    dbsafe::test::create_sample_db(tmp / "live.db", 1500);
    auto src = open_source(tmp / "live.db");
    std::vector<progress> seen;
    const auto info = online_backup{.pages_per_step = 16}.copy(
        src.get(), empty_target(tmp / "copy.db"),
        {.on_progress = [&](const progress& p) { seen.push_back(p); }, .private_source = true});
    ASSERT_TRUE(info) << info.error().message;
    ASSERT_GE(seen.size(), 3U);
    for (std::size_t i = 1; i < seen.size(); ++i) {
        EXPECT_GE(seen[i].pages_done, seen[i - 1].pages_done) << i;
        EXPECT_LE(seen[i].pages_done, seen[i].pages_total) << i;
        EXPECT_EQ(seen[i].page_size, 4096U);
    }
    EXPECT_EQ(seen.back().pages_done, seen.back().pages_total);
    EXPECT_EQ(seen.back().pages_total, static_cast<std::uint64_t>(info.value().page_count));
    EXPECT_EQ(seen.back().bytes_done(), fs::file_size(tmp / "copy.db"));
}

TEST(OnlineBackup, RejectsAZeroStep) {
    dbsafe::test::temp_dir tmp;
    dbsafe::test::create_sample_db(tmp / "live.db", 10);
    auto src = open_source(tmp / "live.db");
    const auto r =
        online_backup{.pages_per_step = 0}.copy(src.get(), empty_target(tmp / "copy.db"), {});
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(errc::invalid_argument));
}

TEST(OnlineBackup, StopTokenCancelsBetweenSteps) {
    dbsafe::test::temp_dir tmp;
    dbsafe::test::create_sample_db(tmp / "live.db", 1500);
    auto src = open_source(tmp / "live.db");
    std::stop_source stop;
    int calls = 0;
    const auto r = online_backup{.pages_per_step = 8}.copy(src.get(), empty_target(tmp / "copy.db"),
                                                           {.on_progress =
                                                                [&](const progress&) {
                                                                    ++calls;
                                                                    stop.request_stop();
                                                                },
                                                            .stop = stop.get_token(),
                                                            .private_source = true});
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(errc::cancelled)) << r.error().message;
    EXPECT_EQ(calls, 1);
    // dbsafe's read transaction on the source ended with the copy.
    EXPECT_NE(sqlite3_get_autocommit(src.get()), 0);
}

// A whole-file lock taken between two steps and held: the copy gives up after its timeout with
// busy_timeout and says which database.
TEST(OnlineBackup, GivesUpWhenTheSourceStaysLockedPastTheTimeout) {
    dbsafe::test::temp_dir tmp;
    const auto source = tmp / "live.db";
    dbsafe::test::create_sample_db(source, 1500, "delete");
    auto src = open_source(source, 20);
    db_handle locker(source);
    bool locked = false;
    // The step loop's wait (fast_io off: an idle rollback-journal source would otherwise be
    // copied from its file before the lock is taken).
    const auto r = online_backup{.pages_per_step = 8, .fast_io = false}.copy(
        src.get(), empty_target(tmp / "copy.db"),
        {.on_progress =
             [&](const progress&) {
                 if (!locked) dbsafe::test::exec(locker, "BEGIN EXCLUSIVE");
                 locked = true;
             },
         .private_source = true,
         .busy_timeout = std::chrono::milliseconds(150)});
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(errc::busy_timeout)) << r.error().message;
    EXPECT_NE(r.error().message.find(source.string()), std::string::npos) << r.error().message;
    dbsafe::test::exec(locker, "ROLLBACK");
}

// Consistency under a continuous writer: after every copy step the progress callback waits
// until the writer has committed again, so commits land mid-copy in every run, not by luck.
struct concurrent_case {
    std::string journal_mode;
    bool private_source;
};

class OnlineBackupUnderWriters : public ::testing::TestWithParam<concurrent_case> {
  protected:
    dbsafe::test::temp_dir tmp;
    fs::path source = tmp / "live.db";

    void run_copy_while(const std::function<bool()>& writer_failed) {
        db_handle observer(source);
        std::int64_t seen = dbsafe::test::wait_for_commit_after(observer, 0);
        ASSERT_GT(seen, 0) << "the writer never committed";
        int steps = 0;
        std::stop_source never_ending;
        // The caller's connection as the source, or dbsafe's own.
        db_handle callers(source);
        auto own = open_source(source);
        sqlite3* src = GetParam().private_source ? own.get() : callers.db;
        const auto target = empty_target(tmp / "copy.db");
        // A rollback-journal source of dbsafe's own is copied in steps with fast_io off: an
        // idle moment would let the file copy take it whole (that copy, giving way to writers,
        // is pinned in rollback_file_copy_test.cpp); this pins the step loop's restart bound.
        const bool rollback_own = GetParam().private_source && GetParam().journal_mode != "wal";
        const auto info =
            online_backup{.pages_per_step = 8, .max_restarts = 3, .fast_io = !rollback_own}.copy(
                src, target,
                {.on_progress =
                     [&](const progress& p) {
                         // A copy whose restarts are not bounded never ends: fail, do not hang.
                         // The database has ~200 pages, 8 per step.
                         if (++steps > 200) never_ending.request_stop();
                         const auto now = dbsafe::test::wait_for_commit_after(observer, seen);
                         EXPECT_GT(now, seen) << "no commit between two copy steps";
                         EXPECT_LE(p.pages_done, p.pages_total);
                         seen = now;
                     },
                 .stop = never_ending.get_token(),
                 .private_source = GetParam().private_source});
        ASSERT_TRUE(info) << info.error().message << " after " << steps
                          << " steps: restarts were not bounded";
        EXPECT_FALSE(writer_failed());
        EXPECT_GE(steps, 3);
        const bool held_read_transaction =
            GetParam().private_source && GetParam().journal_mode == "wal";
        if (held_read_transaction) {
            EXPECT_EQ(info.value().restarts, 0);
        } else {
            // Every step saw a commit: restarts are counted and capped, then one final step.
            EXPECT_EQ(info.value().restarts, 3);
        }
        EXPECT_EQ(integrity(target), "ok");
        EXPECT_EQ(dbsafe::test::ledger_invariant_violation(target), "");
        const auto copied = dbsafe::test::query_int(target, "SELECT value FROM counters");
        EXPECT_GT(copied, 0);
        EXPECT_LT(copied, dbsafe::test::committed_writes(observer))
            << "the writer did not go on committing while the copy ran";
    }
};

INSTANTIATE_TEST_SUITE_P(Modes, OnlineBackupUnderWriters,
                         ::testing::Values(concurrent_case{"wal", true},
                                           concurrent_case{"wal", false},
                                           concurrent_case{"delete", true}),
                         [](const auto& info) {
                             return info.param.journal_mode + (info.param.private_source
                                                                   ? "_own_connection"
                                                                   : "_callers_connection");
                         });

TEST_P(OnlineBackupUnderWriters, ThreadWritingContinuouslyYieldsAConsistentSnapshot) {
    dbsafe::test::create_sample_db(source, 1500, GetParam().journal_mode);
    dbsafe::test::writer_thread writer(source);
    run_copy_while([&] { return writer.failed(); });
}

TEST_P(OnlineBackupUnderWriters, ProcessWritingContinuouslyYieldsAConsistentSnapshot) {
    dbsafe::test::create_sample_db(source, 1500, GetParam().journal_mode);
    dbsafe::test::writer_process writer(source);
    ASSERT_GT(writer.pid(), 0);
    run_copy_while([] { return false; });
    EXPECT_TRUE(writer.kill()) << "the writer process died on its own";
}

TEST(VacuumInto, ThreadWritingContinuouslyYieldsAConsistentSnapshot) {
    dbsafe::test::temp_dir tmp;
    const auto source = tmp / "live.db";
    dbsafe::test::create_sample_db(source, 1500, "wal");
    dbsafe::test::writer_thread writer(source);
    db_handle observer(source);
    auto src = open_source(source);
    std::int64_t seen = 0;
    for (int round = 0; round < 3; ++round) {
        seen = dbsafe::test::wait_for_commit_after(observer, seen);
        const auto target = empty_target(tmp / ("copy" + std::to_string(round) + ".db"));
        const auto info = vacuum_into{}.copy(src.get(), target, {.private_source = true});
        ASSERT_TRUE(info) << info.error().message;
        EXPECT_EQ(integrity(target), "ok");
        EXPECT_EQ(dbsafe::test::ledger_invariant_violation(target), "");
        EXPECT_GE(dbsafe::test::query_int(target, "SELECT value FROM counters"), seen);
    }
    EXPECT_FALSE(writer.failed());
}

TEST(VacuumInto, ProcessWritingContinuouslyYieldsAConsistentSnapshot) {
    dbsafe::test::temp_dir tmp;
    const auto source = tmp / "live.db";
    dbsafe::test::create_sample_db(source, 1500, "wal");
    dbsafe::test::writer_process writer(source);
    db_handle observer(source);
    auto src = open_source(source);
    std::int64_t seen = 0;
    for (int round = 0; round < 3; ++round) {
        seen = dbsafe::test::wait_for_commit_after(observer, seen);
        const auto target = empty_target(tmp / ("copy" + std::to_string(round) + ".db"));
        const auto info = vacuum_into{}.copy(src.get(), target, {.private_source = true});
        ASSERT_TRUE(info) << info.error().message;
        EXPECT_EQ(integrity(target), "ok");
        EXPECT_EQ(dbsafe::test::ledger_invariant_violation(target), "");
    }
    EXPECT_TRUE(writer.kill());
}

TEST(VacuumInto, RefusesToRunInsideATransactionAndSaysWhatToDo) {
    dbsafe::test::temp_dir tmp;
    const auto source = tmp / "live.db";
    dbsafe::test::create_sample_db(source, 100, "wal");
    db_handle callers(source);
    dbsafe::test::exec(callers, "BEGIN; INSERT INTO customers(name) VALUES ('pending')");
    const auto target = empty_target(tmp / "copy.db");
    const auto r = vacuum_into{}.copy(callers, target, {});
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(errc::in_transaction)) << r.error().message;
    EXPECT_NE(r.error().message.find(source.string()), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("commit or roll back"), std::string::npos);
    EXPECT_EQ(fs::file_size(target), 0U);
    // The caller's transaction is untouched.
    EXPECT_EQ(sqlite3_get_autocommit(callers), 0);
    dbsafe::test::exec(callers, "ROLLBACK");
}

TEST(VacuumInto, CompactsFreePagesAway) {
    dbsafe::test::temp_dir tmp;
    const auto source = tmp / "live.db";
    dbsafe::test::create_sample_db(source, 3000, "delete");
    dbsafe::test::exec(source, "DELETE FROM orders WHERE id % 4 != 0; DELETE FROM documents");
    auto src = open_source(source);
    const auto by_api = empty_target(tmp / "api.db");
    const auto by_vacuum = empty_target(tmp / "vacuum.db");
    ASSERT_TRUE(online_backup{}.copy(src.get(), by_api, {.private_source = true}));
    ASSERT_TRUE(vacuum_into{}.copy(src.get(), by_vacuum, {.private_source = true}));
    EXPECT_LT(fs::file_size(by_vacuum), fs::file_size(by_api) / 2);
    EXPECT_EQ(dbsafe::test::dump_rows(by_vacuum), dbsafe::test::dump_rows(source));
}

TEST(VacuumInto, StopTokenCancels) {
    dbsafe::test::temp_dir tmp;
    dbsafe::test::create_sample_db(tmp / "live.db", 1500);
    auto src = open_source(tmp / "live.db");
    std::stop_source stop;
    stop.request_stop();
    const auto r = vacuum_into{}.copy(src.get(), empty_target(tmp / "copy.db"),
                                      {.stop = stop.get_token(), .private_source = true});
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(errc::cancelled)) << r.error().message;
}

}  // namespace
