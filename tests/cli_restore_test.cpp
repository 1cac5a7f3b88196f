// The `dbsafe restore` and `dbsafe migrate` commands, run as a user runs them: exit codes,
// what they print, and the database afterwards.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using dbsafe::test::dump_rows;
using dbsafe::test::temp_dir;
namespace fs = std::filesystem;

struct run_result {
    int exit_code = -1;
    std::string out;
    std::string err;
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

run_result dbsafe_cli(const temp_dir& dir, const std::string& args) {
    const auto out = dir / "stdout.txt";
    const auto err = dir / "stderr.txt";
    const std::string cmd =
        std::string(DBSAFE_CLI_PATH) + " " + args + " >" + out.string() + " 2>" + err.string();
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

struct cli_fixture {
    temp_dir dir;
    fs::path live = dir / "app.db";
    fs::path backups = dir / "backups";
    std::string dir_arg = " --dir " + q(backups);
    cli_fixture() { dbsafe::test::create_sample_db(live, 100); }
};

TEST(CliRestore, LatestRestoresTheNewestBackupAndNamesTheSafetyBackup) {
    cli_fixture f;
    const auto wanted = dump_rows(f.live);
    ASSERT_EQ(dbsafe_cli(f.dir, "backup " + q(f.live) + f.dir_arg).exit_code, 0);
    dbsafe::test::exec(f.live, "DELETE FROM orders; DROP TABLE documents");
    const auto r = dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --latest");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("safety backup"), std::string::npos) << r.out;
    EXPECT_EQ(dump_rows(f.live), wanted);

    // The newest backup is now the safety backup; --latest still means the user's backup.
    const auto again = dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --latest --json");
    ASSERT_EQ(again.exit_code, 0) << again.err;
    const auto j = nlohmann::json::parse(again.out);
    EXPECT_EQ(j["restored"]["kind"], "manual");
    EXPECT_EQ(j["safety_backup"]["kind"], "safety");
    EXPECT_TRUE(fs::exists(j["safety_backup"]["path"].get<std::string>()));
    EXPECT_EQ(dump_rows(f.live), wanted);
}

TEST(CliRestore, UsageAndUnknownIdErrors) {
    cli_fixture f;
    ASSERT_EQ(dbsafe_cli(f.dir, "backup " + q(f.live) + f.dir_arg).exit_code, 0);
    EXPECT_EQ(dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg).exit_code, 2);
    EXPECT_EQ(dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --latest --id x").exit_code,
              2);
    EXPECT_EQ(dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --latest --schema bogus")
                  .exit_code,
              2);
    const auto unknown = dbsafe_cli(
        f.dir, "restore " + q(f.live) + f.dir_arg + " --id 20990101T000000.000Z-manual-aaaaaa");
    EXPECT_EQ(unknown.exit_code, 1);
    EXPECT_NE(unknown.err.find("no backup with id"), std::string::npos) << unknown.err;
}

TEST(CliRestore, RefusesNewerMigrationSchema) {
    cli_fixture f;
    dbsafe::test::exec(f.live,
                       "CREATE TABLE knex_migrations(id INTEGER PRIMARY KEY, name TEXT);"
                       "INSERT INTO knex_migrations(name) VALUES ('001'), ('002')");
    ASSERT_EQ(dbsafe_cli(f.dir, "backup " + q(f.live) + f.dir_arg).exit_code, 0);
    dbsafe::test::exec(f.live, "DELETE FROM knex_migrations WHERE name = '002'");
    const auto before = dump_rows(f.live);
    const auto r = dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg +
                                         " --latest --schema migrations:knex_migrations "
                                         "--require-table orders");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("newer"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("002"), std::string::npos) << r.err;
    EXPECT_EQ(dump_rows(f.live), before);
    // user_version sees no difference and restores.
    EXPECT_EQ(dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --latest").exit_code, 0);
    EXPECT_EQ(dbsafe::test::query_int(f.live, "SELECT count(*) FROM knex_migrations"), 2);
}

TEST(CliMigrate, RunsTheFileAndNamesThePreMigrationBackup) {
    cli_fixture f;
    const auto sql = f.dir / "002.sql";
    std::ofstream(sql) << "-- add tiers\nALTER TABLE customers ADD COLUMN tier TEXT;\n"
                          "UPDATE customers SET tier = 'gold' WHERE id < 10;\n"
                          "PRAGMA user_version = 2;\n";
    const auto r =
        dbsafe_cli(f.dir, "migrate " + q(f.live) + f.dir_arg + " --sql " + q(sql) + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["statements"], 3);
    EXPECT_EQ(j["schema_before"], 0);
    EXPECT_EQ(j["schema_after"], 2);
    EXPECT_EQ(j["pre_migration_backup"]["kind"], "pre_migration");
    EXPECT_EQ(dbsafe::test::query_int(f.live,
                                      "SELECT count(*) FROM customers WHERE tier = "
                                      "'gold'"),
              9);
}

TEST(CliMigrate, FailingStatementRollsBackToTheSameSchemaAndRows) {
    cli_fixture f;
    const auto before = dump_rows(f.live);
    const auto schema_before =
        dbsafe::test::query_int(f.live, "SELECT count(*) FROM sqlite_schema");
    const auto sql = f.dir / "bad.sql";
    std::ofstream(sql) << "CREATE TABLE tiers(name TEXT);\nDELETE FROM orders;\n"
                          "INSERT INTO no_such_table VALUES (1);\nDROP TABLE customers;\n";
    const auto r = dbsafe_cli(f.dir, "migrate " + q(f.live) + f.dir_arg + " --sql " + q(sql));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("statement 3"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("no_such_table"), std::string::npos) << r.err;
    EXPECT_EQ(dump_rows(f.live), before);
    EXPECT_EQ(dbsafe::test::query_int(f.live, "SELECT count(*) FROM sqlite_schema"), schema_before);
    // The pre-migration backup named in the message exists.
    const auto listed = dbsafe::local_directory{f.backups}.list().value();
    bool named = false;
    for (const auto& m : listed.backups) {
        if (m.kind == dbsafe::backup_kind::pre_migration) {
            named = r.err.find(m.id) != std::string::npos;
        }
    }
    EXPECT_TRUE(named) << r.err;
}

TEST(CliMigrate, NoPreMigrationBackupMeansTheFileIsNotRun) {
    cli_fixture f;
    const auto not_a_dir = f.dir / "file-not-dir";
    std::ofstream(not_a_dir) << "x";
    const auto sql = f.dir / "drop.sql";
    std::ofstream(sql) << "DROP TABLE orders;\n";
    const auto r =
        dbsafe_cli(f.dir, "migrate " + q(f.live) + " --dir " + q(not_a_dir) + " --sql " + q(sql));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("blocked"), std::string::npos) << r.err;
    EXPECT_EQ(dbsafe::test::query_int(f.live, "SELECT count(*) FROM orders"), 300);
}

}  // namespace
