// Schema-version policies: what each reads, what "newer" means for each, the CLI spellings,
// what the vault records in the manifest, and restore's refusal of a newer backup per policy.
#include <gtest/gtest.h>

#include <dbsafe/dbsafe.hpp>
#include <filesystem>
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

template <class Schema>
basic_vault<online_backup, standard_checks, keep_all, local_directory, Schema> make_vault(
    const temp_dir& dir, Schema schema) {
    return {.storage = local_directory{dir / "backups"},
            .snapshot = {},
            .verification = standard_checks{.level = check_level::quick, .required = {}},
            .retention = {},
            .options = {},
            .schema = std::move(schema)};
}

void add_knex(const fs::path& db, const std::vector<std::string>& names) {
    test::exec(db,
               "CREATE TABLE IF NOT EXISTS knex_migrations(id INTEGER PRIMARY KEY, name "
               "TEXT, batch INTEGER, migration_time DATETIME)");
    for (const auto& n : names) {
        test::exec(db, "INSERT INTO knex_migrations(name, batch) VALUES ('" + n + "', 1)");
    }
}

TEST(SchemaVersion, UserVersionReadsThePragma) {
    temp_dir dir;
    db_handle db(dir / "a.db");
    test::exec(db, "PRAGMA user_version = 7");
    const auto info = user_version{}.read(db);
    ASSERT_TRUE(info);
    EXPECT_EQ(info.value().version, 7);
    EXPECT_TRUE(user_version{}.newer({8, {}}, {7, {}}));
    EXPECT_FALSE(user_version{}.newer({7, {}}, {7, {}}));
    EXPECT_FALSE(user_version{}.newer({6, {}}, {7, {}}));
}

TEST(SchemaVersion, MigrationTableReadsNamesInAppliedOrderAndNoTableMeansNone) {
    temp_dir dir;
    const auto path = dir / "a.db";
    test::exec(path, "CREATE TABLE t(x)");
    db_handle db(path);
    const migration_table knex{};
    EXPECT_TRUE(knex.read(db).value().migrations.empty());
    add_knex(path, {"20240101_init.js", "20230101_older_name_applied_later.js"});
    const auto info = knex.read(db).value();
    EXPECT_EQ(info.version, 2);
    EXPECT_EQ(info.migrations, (std::vector<std::string>{"20240101_init.js",
                                                         "20230101_older_name_applied_later.js"}));
    EXPECT_EQ(knex.name(), "migrations:knex_migrations");
}

TEST(SchemaVersion, MigrationTableNewerMeansAMigrationTheOtherLacks) {
    const migration_table knex{};
    const schema_info ab{2, {"a", "b"}};
    const schema_info abc{3, {"a", "b", "c"}};
    const schema_info abd{3, {"a", "b", "d"}};
    const schema_info abcd{4, {"a", "b", "c", "d"}};
    EXPECT_TRUE(knex.newer(abc, ab));
    EXPECT_FALSE(knex.newer(ab, abc));
    EXPECT_FALSE(knex.newer(abc, abc));
    EXPECT_TRUE(knex.newer(abd, abc)) << "same count, different migration: still newer";
    EXPECT_FALSE(knex.newer(abd, abcd));
}

TEST(SchemaVersion, MigrationTableNamesAMissingColumnInItsError) {
    temp_dir dir;
    const auto path = dir / "a.db";
    add_knex(path, {"one"});
    db_handle db(path);
    const auto info = migration_table{.table = "knex_migrations", .column = "version"}.read(db);
    ASSERT_FALSE(info);
    EXPECT_NE(info.error().message.find("version"), std::string::npos) << info.error().message;
}

TEST(SchemaVersion, SqlQueryReadsAnIntegerAndRefusesWritesAndNonIntegers) {
    temp_dir dir;
    const auto path = dir / "a.db";
    test::exec(path,
               "CREATE TABLE schema_info(version INTEGER); INSERT INTO schema_info "
               "VALUES (3), (5)");
    db_handle db(path);
    EXPECT_EQ(sql_query{"SELECT max(version) FROM schema_info"}.read(db).value().version, 5);
    const auto writes = sql_query{"DELETE FROM schema_info"}.read(db);
    ASSERT_FALSE(writes);
    EXPECT_TRUE(writes.error().is(errc::invalid_argument));
    EXPECT_EQ(test::query_int(db, "SELECT count(*) FROM schema_info"), 2);
    EXPECT_FALSE(sql_query{"SELECT 'three'"}.read(db));
    EXPECT_FALSE(sql_query{"SELECT version FROM schema_info WHERE 0"}.read(db));
}

TEST(SchemaVersion, ParsesTheCliSpellings) {
    EXPECT_EQ(parse_schema_policy("user_version").value().name(), "user_version");
    EXPECT_EQ(parse_schema_policy("migrations:knex_migrations").value().name(),
              "migrations:knex_migrations");
    const auto custom = parse_schema_policy("migrations:schema_migrations:version").value();
    EXPECT_EQ(std::get<migration_table>(custom.policy).column, "version");
    EXPECT_EQ(parse_schema_policy("sql:SELECT 1").value().name(), "sql:SELECT 1");
    for (const char* bad : {"", "user", "migrations:", "sql:", "migrations::x"}) {
        const auto r = parse_schema_policy(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_TRUE(r.error().is(errc::invalid_argument));
    }
}

TEST(SchemaVersion, VaultRecordsThePolicyAndMigrationsInTheManifest) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 20);
    add_knex(live, {"001_init", "002_orders"});
    auto v = make_vault(dir, migration_table{});
    const auto m = v.backup(live);
    ASSERT_TRUE(m) << m.error().message;
    // Read back from disk: the manifest file itself carries the policy and the names.
    const auto listed = v.list().value().backups.front();
    EXPECT_EQ(listed.schema_policy, "migrations:knex_migrations");
    EXPECT_EQ(listed.schema_version, 2);
    EXPECT_EQ(listed.migrations, (std::vector<std::string>{"001_init", "002_orders"}));

    auto plain = make_vault(dir, user_version{});
    test::exec(live, "PRAGMA user_version = 4");
    const auto u = plain.backup(live).value();
    EXPECT_EQ(u.schema_policy, "user_version");
    EXPECT_EQ(u.schema_version, 4);
    EXPECT_TRUE(u.migrations.empty());
}

// Each policy: back up at the newer schema, move the live database back to the older one,
// then restoring must be refused with both versions named and the live database unchanged.
template <class Schema>
void expect_newer_refused(const temp_dir& dir, Schema schema, const std::string& make_newer,
                          const std::string& make_older, const std::string& expect_in_message) {
    const auto live = dir / "live.db";
    test::create_sample_db(live, 50);
    test::exec(live, make_newer);
    auto v = make_vault(dir, std::move(schema));
    const auto id = v.backup(live).value().id;
    test::exec(live, make_older);
    const auto before = dump_rows(live);
    const auto before_version = test::query_int(live, "PRAGMA user_version");

    const auto refused = v.restore(live, {.id = id});
    ASSERT_FALSE(refused);
    EXPECT_TRUE(refused.error().is(errc::schema_newer)) << refused.error().message;
    EXPECT_NE(refused.error().message.find(expect_in_message), std::string::npos)
        << refused.error().message;
    EXPECT_EQ(dump_rows(live), before);
    EXPECT_EQ(test::query_int(live, "PRAGMA user_version"), before_version);
    EXPECT_EQ(v.list().value().backups.size(), 1u) << "no safety backup: nothing started";

    restore_options anyway;
    anyway.id = id;
    anyway.allow_newer_schema = true;
    const auto forced = v.restore(live, anyway);
    ASSERT_TRUE(forced) << forced.error().message;
    test::db_handle after(live);
    EXPECT_EQ(v.schema.read(after).value().version, forced.value().restored.schema_version);
}

TEST(Restore, RefusesBackupWithNewerUserVersion) {
    temp_dir dir;
    expect_newer_refused(dir, user_version{}, "PRAGMA user_version = 3", "PRAGMA user_version = 2",
                         "user_version 3) is newer than the live "
                         "database's (2)");
}

TEST(Restore, RefusesBackupWithAMigrationTheLiveDatabaseLacks) {
    temp_dir dir;
    expect_newer_refused(
        dir, migration_table{},
        "CREATE TABLE knex_migrations(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO "
        "knex_migrations(name) VALUES ('001_init'), ('002_add_orders'), ('003_add_index')",
        "DELETE FROM knex_migrations WHERE name = '003_add_index'", "lacks 003_add_index");
}

TEST(Restore, RefusesBackupWithNewerSqlQueryVersion) {
    temp_dir dir;
    expect_newer_refused(dir, sql_query{"SELECT max(v) FROM app_schema"},
                         "CREATE TABLE app_schema(v INTEGER); INSERT INTO app_schema VALUES (12)",
                         "UPDATE app_schema SET v = 11", "sql:SELECT max(v) FROM app_schema 12");
}

TEST(Restore, AcceptsAnOlderSchemaBackup) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 50);
    auto v = make_vault(dir, migration_table{});
    add_knex(live, {"001"});
    const auto id = v.backup(live).value().id;
    const auto wanted = dump_rows(live);
    add_knex(live, {"002"});
    const auto done = v.restore(live, {.id = id});
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(dump_rows(live), wanted);
}

}  // namespace
