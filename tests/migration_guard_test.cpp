// migration_guard and run_guarded: no migration without a verified pre-migration backup, and
// every way of leaving without commit() puts the database back as it was.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/backup_checks.hpp"
#include "support/child_process.hpp"
#include "support/concurrent_writer.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
using dbsafe::test::db_handle;
using dbsafe::test::dump_rows;
using dbsafe::test::temp_dir;
namespace fs = std::filesystem;

using knex_vault =
    basic_vault<online_backup, standard_checks, keep_all, local_directory, migration_table>;

struct fixture {
    temp_dir dir;
    fs::path live = dir / "app.db";
    knex_vault v{.storage = local_directory{dir / "backups"},
                 .snapshot = {},
                 .verification = standard_checks{.level = check_level::quick, .required = {}},
                 .retention = {},
                 .options = {},
                 .schema = {}};
    fixture() {
        test::create_sample_db(live, 100);
        test::exec(live,
                   "CREATE TABLE knex_migrations(id INTEGER PRIMARY KEY, name TEXT); "
                   "INSERT INTO knex_migrations(name) VALUES ('001_init')");
    }
};

// Half a migration: a committed schema change, then rows, the way knex runs them.
void migrate_halfway(sqlite3* db) {
    test::exec(db, "ALTER TABLE customers ADD COLUMN tier TEXT DEFAULT 'basic'");
    test::exec(db, "UPDATE customers SET tier = 'gold' WHERE balance > 300");
    test::exec(db, "INSERT INTO knex_migrations(name) VALUES ('002_tiers')");
}

std::size_t pre_migration_backups(const knex_vault& v) {
    std::size_t n = 0;
    const auto listed = v.list().value();
    for (const auto& m : listed.backups) n += m.kind == backup_kind::pre_migration;
    return n;
}

TEST(MigrationGuard, ExceptionRollsBack) {
    fixture f;
    const auto before = dump_rows(f.live);
    db_handle db(f.live);
    try {
        auto guard = migration_guard::open(f.v, db.db).value();
        migrate_halfway(db);
        throw std::runtime_error("second step of the migration failed");
    } catch (const std::runtime_error&) {
    }
    EXPECT_EQ(dump_rows(f.live), before);
    EXPECT_EQ(test::query_int(db,
                              "SELECT count(*) FROM pragma_table_info('customers') WHERE "
                              "name = 'tier'"),
              0)
        << "the application's own connection sees the rolled-back schema";
    EXPECT_EQ(pre_migration_backups(f.v), 1u) << "the pre-migration backup is kept";
}

TEST(MigrationGuard, EarlyReturnRollsBack) {
    fixture f;
    const auto before = dump_rows(f.live);
    db_handle db(f.live);
    const auto migrate = [&]() -> bool {
        auto guard = migration_guard::open(f.v, db.db).value();
        migrate_halfway(db);
        if (test::query_int(db, "SELECT count(*) FROM customers WHERE tier = 'gold'") > 0) {
            return false;  // "not what we expected": leave without commit
        }
        return guard.commit().has_value();
    };
    EXPECT_FALSE(migrate());
    EXPECT_EQ(dump_rows(f.live), before);
}

TEST(MigrationGuard, CommitKeepsTheMigration) {
    fixture f;
    db_handle db(f.live);
    {
        auto guard = migration_guard::open(f.v, db.db).value();
        EXPECT_EQ(guard.backup().kind, backup_kind::pre_migration);
        EXPECT_EQ(guard.backup().migrations, std::vector<std::string>{"001_init"});
        migrate_halfway(db);
        ASSERT_TRUE(guard.commit());
        EXPECT_EQ(guard.status(), migration_guard::state::committed);
    }
    EXPECT_EQ(test::query_int(f.live, "SELECT count(*) FROM knex_migrations"), 2);
    EXPECT_GT(test::query_int(f.live, "SELECT count(*) FROM customers WHERE tier = 'gold'"), 0);
}

TEST(MigrationGuard, OpenTransactionAndRunningStatementAreReleasedBeforeRollback) {
    fixture f;
    const auto before = dump_rows(f.live);
    db_handle db(f.live);
    sqlite3_stmt* reading = nullptr;
    {
        auto guard = migration_guard::open(f.v, db.db).value();
        migrate_halfway(db);                          // committed statements ...
        test::exec(db, "BEGIN; DELETE FROM orders");  // ... and an open transaction
        ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT id FROM customers", -1, &reading, nullptr),
                  SQLITE_OK);
        ASSERT_EQ(sqlite3_step(reading), SQLITE_ROW);  // a loop the exception left mid-way
        EXPECT_FALSE(guard.commit()) << "commit with the transaction still open is refused";
        const auto rolled = guard.rollback();
        ASSERT_TRUE(rolled) << rolled.error().message;
        EXPECT_EQ(guard.status(), migration_guard::state::rolled_back);
    }
    sqlite3_finalize(reading);
    EXPECT_EQ(dump_rows(f.live), before);
}

TEST(MigrationGuard, NoBackupMeansNoGuardAndTheMigrationNeverRuns) {
    fixture f;
    f.v.options.free_space = [](const fs::path&) -> result<std::uint64_t> { return 0; };
    db_handle db(f.live);
    const auto guard = migration_guard::open(f.v, db.db);
    ASSERT_FALSE(guard);
    EXPECT_TRUE(guard.error().is(errc::insufficient_space)) << guard.error().message;
    EXPECT_NE(guard.error().message.find("must not run"), std::string::npos);

    bool called = false;
    const auto ran = run_guarded(f.v, db.db, [&](sqlite3*) { called = true; });
    ASSERT_FALSE(ran);
    EXPECT_FALSE(called);
    EXPECT_EQ(pre_migration_backups(f.v), 0u);
}

TEST(MigrationGuard, DestructorNeverThrowsEvenWhenRollbackFails) {
    fixture f;
    db_handle db(f.live);
    std::optional<error> reported;
    std::string backup_id;
    EXPECT_NO_THROW({
        migration_guard_options o;
        o.on_rollback_failure = [&](const error& e) {
            reported = e;
            throw std::runtime_error("a callback that throws must not escape the destructor");
        };
        auto guard = migration_guard::open(f.v, db.db, o).value();
        backup_id = guard.backup().id;
        migrate_halfway(db);
        fs::remove(guard.backup().data_path);  // the pre-migration backup is gone
    });
    ASSERT_TRUE(reported.has_value());
    EXPECT_NE(reported->message.find(backup_id), std::string::npos) << reported->message;
    EXPECT_EQ(detail::query_text(db, "PRAGMA integrity_check").value(), "ok");
    EXPECT_EQ(test::query_int(f.live, "SELECT count(*) FROM knex_migrations"), 2)
        << "nothing to roll back to: the migrated database stays as it is, intact";
}

TEST(MigrationGuard, ExplicitRollbackFailureIsQueryable) {
    fixture f;
    db_handle db(f.live);
    auto guard = migration_guard::open(f.v, db.db).value();
    migrate_halfway(db);
    fs::remove(guard.backup().data_path);
    EXPECT_FALSE(guard.rollback());
    EXPECT_EQ(guard.status(), migration_guard::state::rollback_failed);
    ASSERT_TRUE(guard.rollback_error().has_value());
    EXPECT_NE(guard.rollback_error()->message.find("vault.restore"), std::string::npos);
}

TEST(MigrationGuard, WorksOnAPathToo) {
    fixture f;
    const auto before = dump_rows(f.live);
    {
        auto guard = migration_guard::open(f.v, f.live).value();
        test::exec(f.live, "DROP TABLE orders");
    }
    EXPECT_EQ(dump_rows(f.live), before);
}

TEST(RunGuarded, CommitsOnSuccessAndReturnsThePreMigrationBackup) {
    fixture f;
    db_handle db(f.live);
    const auto ran = run_guarded(f.v, db.db, [](sqlite3* c) { migrate_halfway(c); });
    ASSERT_TRUE(ran) << ran.error().message;
    EXPECT_EQ(ran.value().kind, backup_kind::pre_migration);
    EXPECT_EQ(test::query_int(f.live, "SELECT count(*) FROM knex_migrations"), 2);
}

TEST(RunGuarded, ErrorResultRollsBack) {
    fixture f;
    const auto before = dump_rows(f.live);
    db_handle db(f.live);
    const auto ran = run_guarded(f.v, db.db, [](sqlite3* c) -> result<void> {
        migrate_halfway(c);
        return detail::exec(c, "INSERT INTO no_such_table VALUES (1)");
    });
    ASSERT_FALSE(ran);
    EXPECT_TRUE(ran.error().is(errc::migration_failed)) << ran.error().message;
    EXPECT_NE(ran.error().message.find("no_such_table"), std::string::npos);
    EXPECT_NE(ran.error().message.find("rolled back"), std::string::npos);
    EXPECT_EQ(dump_rows(f.live), before);
}

TEST(RunGuarded, ExceptionBecomesAnErrorAndRollsBack) {
    fixture f;
    const auto before = dump_rows(f.live);
    db_handle db(f.live);
    const auto ran = run_guarded(f.v, db.db, [](sqlite3* c) {
        migrate_halfway(c);
        throw std::logic_error("boom halfway");
    });
    ASSERT_FALSE(ran);
    EXPECT_TRUE(ran.error().is(errc::migration_failed));
    EXPECT_NE(ran.error().message.find("boom halfway"), std::string::npos);
    EXPECT_EQ(dump_rows(f.live), before);
}

// --- Issue 13 item 2: a crash during a guarded migration is rolled back, never left half-done.

std::vector<fs::path> records_in(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (e.path().extension() == ".migration") out.push_back(e.path());
    }
    return out;
}

// A process that opens a guard, migrates halfway (committed statements) and dies without
// commit or rollback: what kill -9 leaves. The parent holds no connection across fork.
void crash_halfway(fixture& f) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        auto guard = migration_guard::open(f.v, f.live);
        if (!guard) ::_exit(2);
        db_handle db(f.live);
        migrate_halfway(db);
        ::_exit(0);  // no destructor runs: the record stays, the kernel drops its lock
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(MigrationGuard, KeepsALockedRecordWhileActiveAndRemovesItOnCommitAndRollback) {
    fixture f;
    db_handle db(f.live);
    {
        auto guard = migration_guard::open(f.v, db.db).value();
        ASSERT_TRUE(fs::exists(guard.record_path()));
        EXPECT_EQ(guard.record_path().parent_path(), f.dir / "backups");
        const auto record = nlohmann::json::parse(test::slurp(guard.record_path()));
        EXPECT_EQ(record["database"], fs::canonical(f.live).string());
        EXPECT_EQ(record["backup_id"], guard.backup().id);
        EXPECT_EQ(record["pid"], ::getpid());
        // Held by this guard: recovery in the same process does not touch it either.
        const auto recovered = f.v.recover(f.live);
        ASSERT_FALSE(recovered);
        EXPECT_TRUE(recovered.error().is(errc::migration_running)) << recovered.error().message;
        migrate_halfway(db);
        ASSERT_TRUE(guard.commit());
        EXPECT_FALSE(fs::exists(guard.record_path()));
    }
    {
        auto guard = migration_guard::open(f.v, db.db).value();
        ASSERT_TRUE(guard.rollback());
        EXPECT_FALSE(fs::exists(guard.record_path()));
    }
    EXPECT_TRUE(records_in(f.dir / "backups").empty());
}

TEST(MigrationGuard, CrashedMigrationIsRolledBackByRecover) {
    fixture f;
    const auto before = dump_rows(f.live);
    crash_halfway(f);
    ASSERT_EQ(records_in(f.dir / "backups").size(), 1u);
    ASSERT_NE(dump_rows(f.live), before) << "the crash left a half-migrated database";
    const auto recovered = f.v.recover(f.live);
    ASSERT_TRUE(recovered) << recovered.error().message;
    EXPECT_TRUE(recovered.value().rolled_back);
    EXPECT_EQ(recovered.value().restore.safety.kind, backup_kind::safety);
    EXPECT_EQ(dump_rows(f.live), before);
    EXPECT_TRUE(records_in(f.dir / "backups").empty());
    const auto again = f.v.recover(f.live);
    ASSERT_TRUE(again);
    EXPECT_FALSE(again.value().rolled_back) << "nothing left to do";
}

// Recovery of a crashed migration on a path opens its own connections to the database (the
// restore's, and the short ones reading and putting back the journal mode); each asks for its
// locks every 250 us (detail/polling_busy_wait.hpp). Beside a rollback-journal writer
// committing back to back, SQLite's default handler (sleeps growing to 100 ms) would miss the
// gaps between its commits until the busy timeout ran out, and the half-migrated database would
// stay as it is.
TEST(MigrationGuard, RecoverBesideAWriterCommittingBackToBackRollsTheCrashedMigrationBack) {
    fixture f;
    test::exec(f.live, "PRAGMA journal_mode=delete");
    f.v.options.busy_timeout = std::chrono::seconds(1);
    crash_halfway(f);
    ASSERT_EQ(records_in(f.dir / "backups").size(), 1u);
    const auto tier_columns = [&] {
        return test::query_int(f.live,
                               "SELECT count(*) FROM pragma_table_info('customers') "
                               "WHERE name = 'tier'");
    };
    ASSERT_EQ(tier_columns(), 1) << "the crash left a half-migrated database";
    {
        test::writer_process writer(f.live, std::chrono::milliseconds(0));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the writer is committing
        const auto recovered = f.v.recover(f.live);
        EXPECT_TRUE(writer.kill()) << "the writer died of an SQLite error";
        ASSERT_TRUE(recovered) << recovered.error().message;
        EXPECT_TRUE(recovered.value().rolled_back);
    }
    test::reopen_read_write(f.live);  // the writer was killed mid-transaction: roll it back
    EXPECT_EQ(tier_columns(), 0);
    EXPECT_EQ(test::query_int(f.live, "SELECT count(*) FROM knex_migrations"), 1);
    EXPECT_EQ(test::query_int(f.live,
                              "SELECT count(*) FROM pragma_journal_mode "
                              "WHERE journal_mode = 'delete'"),
              1);
    EXPECT_TRUE(records_in(f.dir / "backups").empty());
    EXPECT_EQ(test::ledger_invariant_violation(f.live), "");
}

TEST(MigrationGuard, NextOpenRollsBackACrashedMigrationBeforeItsBackup) {
    fixture f;
    const auto before = dump_rows(f.live);
    crash_halfway(f);
    db_handle db(f.live);
    bool told = false;
    migration_guard_options o;
    o.on_recovery = [&](const recovery_report& r) { told = r.rolled_back; };
    {
        auto guard = migration_guard::open(f.v, db.db, o);
        ASSERT_TRUE(guard) << guard.error().message;
        EXPECT_TRUE(told);
        EXPECT_EQ(dump_rows(f.live), before) << "the new migration starts from the old state";
        ASSERT_TRUE(guard.value().commit());
    }
    EXPECT_TRUE(records_in(f.dir / "backups").empty());
}

TEST(MigrationGuard, RestoreEndsACrashedMigrationAndClearsItsRecord) {
    fixture f;
    const auto before = dump_rows(f.live);
    crash_halfway(f);
    const auto record = records_in(f.dir / "backups").at(0);
    const auto id = record.stem().string();
    const auto done = f.v.restore(f.live, {.id = id});
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(dump_rows(f.live), before);
    EXPECT_FALSE(fs::exists(record));
}

TEST(MigrationGuard, ALiveMigrationInAnotherProcessIsNeverRecoveredUnderIt) {
    fixture f;
    int ready[2];
    int go[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(go), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
        auto guard = migration_guard::open(f.v, f.live);
        if (!guard) ::_exit(2);
        {
            db_handle db(f.live);
            migrate_halfway(db);
        }
        char c = 'r';
        (void)!::write(ready[1], &c, 1);
        (void)!::read(go[0], &c, 1);
        ::_exit(guard.value().commit() ? 0 : 3);
    }
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    const auto halfway = dump_rows(f.live);
    const auto recovered = f.v.recover(f.live);
    ASSERT_FALSE(recovered);
    EXPECT_TRUE(recovered.error().is(errc::migration_running)) << recovered.error().message;
    EXPECT_NE(recovered.error().message.find("pid " + std::to_string(pid)), std::string::npos)
        << recovered.error().message;
    const auto pre = records_in(f.dir / "backups").at(0).stem().string();
    const auto restored = f.v.restore(f.live, {.id = pre});
    ASSERT_FALSE(restored);
    EXPECT_TRUE(restored.error().is(errc::migration_running)) << restored.error().message;
    EXPECT_EQ(dump_rows(f.live), halfway) << "the running migration was not touched";
    ASSERT_EQ(::write(go[1], &c, 1), 1);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const auto after = f.v.recover(f.live);
    ASSERT_TRUE(after) << after.error().message;
    EXPECT_FALSE(after.value().rolled_back) << "the migration committed: nothing to recover";
    EXPECT_EQ(dump_rows(f.live), halfway);
    for (int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);
}

TEST(MigrationGuard, RecordOfAnotherDatabaseIsIgnored) {
    fixture f;
    crash_halfway(f);
    const auto other = f.dir / "other.db";
    test::create_sample_db(other, 20);
    const auto before = dump_rows(other);
    const auto recovered = f.v.recover(other);
    ASSERT_TRUE(recovered) << recovered.error().message;
    EXPECT_FALSE(recovered.value().rolled_back);
    EXPECT_EQ(dump_rows(other), before);
    EXPECT_EQ(records_in(f.dir / "backups").size(), 1u) << "app.db's record stays for app.db";
}

TEST(MigrationGuard, RecordWhosePreMigrationBackupIsGoneIsKeptAndTheErrorSaysWhatToDo) {
    fixture f;
    crash_halfway(f);
    const auto halfway = dump_rows(f.live);
    const auto record = records_in(f.dir / "backups").at(0);
    fs::remove(f.dir / "backups" / (record.stem().string() + ".db"));
    const auto recovered = f.v.recover(f.live);
    ASSERT_FALSE(recovered);
    const auto& msg = recovered.error().message;
    EXPECT_NE(msg.find(record.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("vault.restore()"), std::string::npos) << msg;
    EXPECT_TRUE(fs::exists(record));
    EXPECT_EQ(dump_rows(f.live), halfway);
    // And a new migration does not start on the half-migrated database.
    db_handle db(f.live);
    const auto opened = migration_guard::open(f.v, db.db);
    ASSERT_FALSE(opened);
    EXPECT_NE(opened.error().message.find("blocked"), std::string::npos);
}

// --- Issue 13 item 4: ATTACH inside a guarded migration is refused before it changes anything.

TEST(RunGuarded, AttachIsRefusedSoTheRollbackMessageIsTrue) {
    fixture f;
    const auto before = dump_rows(f.live);
    const auto other = f.dir / "other.db";
    test::create_sample_db(other, 10);
    const auto other_before = dump_rows(other);
    db_handle db(f.live);
    const auto ran = run_guarded(f.v, db.db, [&](sqlite3* c) -> result<void> {
        migrate_halfway(c);
        DBSAFE_TRYV(detail::exec(c, "ATTACH '" + other.string() + "' AS o"));
        return detail::exec(c, "DELETE FROM o.orders");
    });
    ASSERT_FALSE(ran);
    EXPECT_NE(ran.error().message.find("ATTACH, DETACH and VACUUM INTO are refused"),
              std::string::npos)
        << ran.error().message;
    EXPECT_NE(ran.error().message.find("as it was before"), std::string::npos);
    EXPECT_EQ(dump_rows(f.live), before);
    EXPECT_EQ(dump_rows(other), other_before);
    // The authorizer ends with the guard: the connection attaches again afterwards.
    EXPECT_TRUE(detail::exec(db, "ATTACH '" + other.string() + "' AS o"));
}

// --- Issue 13 item 3: the rollback works whatever the migration did to the database's layout.

TEST(RunGuarded, RollbackRestoresRowsPageSizeAutoVacuumAndJournalMode) {
    for (const std::string mode : {"wal", "delete"}) {
        for (const std::string layout :
             {"PRAGMA journal_mode=DELETE; PRAGMA page_size=8192; VACUUM; PRAGMA journal_mode=WAL;",
              "PRAGMA journal_mode=DELETE; PRAGMA page_size=1024; PRAGMA auto_vacuum=FULL; VACUUM;",
              "PRAGMA journal_mode=WAL; PRAGMA auto_vacuum=INCREMENTAL; VACUUM;"}) {
            SCOPED_TRACE(mode + ": " + layout);
            fixture f;
            test::exec(f.live, "PRAGMA journal_mode=" + mode);
            const auto before = dump_rows(f.live);
            db_handle db(f.live);
            const auto ran = run_guarded(f.v, db.db, [&](sqlite3* c) -> result<void> {
                migrate_halfway(c);
                DBSAFE_TRYV(detail::exec(c, layout));
                return detail::exec(c, "INSERT INTO no_such_table VALUES (1)");
            });
            ASSERT_FALSE(ran);
            EXPECT_NE(ran.error().message.find("as it was before"), std::string::npos)
                << ran.error().message;
            EXPECT_EQ(dump_rows(f.live), before);
            EXPECT_EQ(test::query_int(db, "PRAGMA page_size"), 4096);
            EXPECT_EQ(test::query_int(db, "PRAGMA auto_vacuum"), 0);
            EXPECT_EQ(detail::query_text(db, "PRAGMA journal_mode").value(), mode);
            EXPECT_EQ(detail::query_text(db, "PRAGMA integrity_check").value(), "ok");
            EXPECT_TRUE(records_in(f.dir / "backups").empty());
        }
    }
}

}  // namespace
