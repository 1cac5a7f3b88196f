// migration_guard and run_guarded: no migration without a verified pre-migration backup, and
// every way of leaving without commit() puts the database back as it was.
#include <gtest/gtest.h>

#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

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
    EXPECT_NE(guard.rollback_error()->message.find("dbsafe restore"), std::string::npos);
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

}  // namespace
