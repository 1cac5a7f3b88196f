// The `dbsafe restore` and `dbsafe migrate` commands, run as a user runs them: exit codes,
// what they print, and the database afterwards.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"
#include "support/terminal_run.hpp"

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
    // Phase times as a person reads them (0.04 s, 1.4 s), not 0.0412345 s.
    EXPECT_TRUE(std::regex_search(
        r.out, std::regex(R"(, total (0\.[0-9]{2}|[1-9]\.[0-9]|[1-5]?[0-9]) s\n$)")))
        << r.out;
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

// The id of the backup `backup --json` just took, and its creation time as written.
nlohmann::json backup_json(const cli_fixture& f) {
    const auto r = dbsafe_cli(f.dir, "backup " + q(f.live) + f.dir_arg + " --json");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
}

TEST(CliRestore,
     AStartOfAnIdOnlyOneBackupHasRestoresItAndOneSeveralHaveListsThemAndRestoresNothing) {
    cli_fixture f;
    const auto first_rows = dump_rows(f.live);
    const auto first = backup_json(f)["id"].get<std::string>();
    dbsafe::test::exec(f.live, "DELETE FROM orders WHERE id % 2 = 0");
    const auto second_rows = dump_rows(f.live);
    const auto second = backup_json(f)["id"].get<std::string>();
    dbsafe::test::exec(f.live, "DROP TABLE documents");
    const auto now_rows = dump_rows(f.live);
    ASSERT_NE(first_rows, second_rows);
    std::size_t common = 0;
    while (first[common] == second[common]) ++common;
    ASSERT_GE(common, 8U);  // the same day: "20261203T0615..."

    // Shared by both: refused, with both ids named, and the live database untouched.
    const auto shared =
        dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --id " + first.substr(0, common));
    EXPECT_EQ(shared.exit_code, 2);  // a usage error, as a malformed id: fix the command
    EXPECT_NE(shared.err.find("is the start of 2 backup ids"), std::string::npos) << shared.err;
    EXPECT_NE(shared.err.find(first), std::string::npos) << shared.err;
    EXPECT_NE(shared.err.find(second), std::string::npos) << shared.err;
    EXPECT_EQ(dump_rows(f.live), now_rows);

    // No backup's: refused, pointing at `dbsafe list`.
    const auto none = dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --id 1999");
    EXPECT_EQ(none.exit_code, 1);
    EXPECT_NE(none.err.find("has an id starting with '1999'"), std::string::npos) << none.err;
    EXPECT_NE(none.err.find("dbsafe list"), std::string::npos) << none.err;
    EXPECT_EQ(dump_rows(f.live), now_rows);

    // One character more than they share: that backup, named in full in the output.
    const auto unique = dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --id " +
                                              first.substr(0, common + 1) + " --json");
    ASSERT_EQ(unique.exit_code, 0) << unique.err;
    EXPECT_EQ(nlohmann::json::parse(unique.out)["restored"]["id"], first);
    EXPECT_EQ(dump_rows(f.live), first_rows);

    // `latest` is --latest: the newest backup that is not the safety backup just taken.
    const auto latest =
        dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --id latest --json");
    ASSERT_EQ(latest.exit_code, 0) << latest.err;
    EXPECT_EQ(nlohmann::json::parse(latest.out)["restored"]["id"], second);
    EXPECT_EQ(dump_rows(f.live), second_rows);
}

TEST(CliRestore, BeforeATimeRestoresTheNewestBackupOfTheDatabaseTakenBeforeIt) {
    cli_fixture f;
    const auto first_rows = dump_rows(f.live);
    const auto first = backup_json(f);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // created_at has milliseconds
    dbsafe::test::exec(f.live, "DELETE FROM orders WHERE id % 3 = 0");
    const auto second = backup_json(f);
    dbsafe::test::exec(f.live, "DROP TABLE documents");
    const auto now_rows = dump_rows(f.live);

    // Before the second backup's own time: the first one (backups taken at that instant or
    // later are not "before" it).
    const auto r = dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --before " +
                                         second["created_at"].get<std::string>() + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["restored"]["id"], first["id"]);
    EXPECT_EQ(dump_rows(f.live), first_rows);

    // A day ago there was no backup yet: refused with the oldest one named, nothing restored.
    const auto none = dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --before 1d");
    EXPECT_EQ(none.exit_code, 1);
    EXPECT_NE(none.err.find("taken before"), std::string::npos) << none.err;
    EXPECT_NE(none.err.find(first["id"].get<std::string>()), std::string::npos) << none.err;
    EXPECT_EQ(dump_rows(f.live), first_rows);

    // A time it cannot read, or --before with --id or --latest: usage errors.
    for (const char* extra : {" --before yesterday", " --before 2026-13-45",
                              " --before 1d --latest", " --before 1d --id latest"}) {
        const auto bad = dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + extra);
        EXPECT_EQ(bad.exit_code, 2) << extra << "\n" << bad.err;
    }
    EXPECT_EQ(dump_rows(f.live), first_rows);
}

// A phase's final progress line: "copy in        4.2 MiB in 0.03 s, 140.1 MiB/s".
std::regex phase_done(const std::string& phase) {
    return std::regex(phase + " +[0-9.]+ (B|KiB|MiB|GiB) in [0-9.]+ s, [0-9.]+ (B|KiB|MiB|GiB)/s");
}

TEST(CliProgress,
     OnATerminalRestoreDrawsTheSafetyBackupThenTheCopyInEachFinishedOnceInEightyColumns) {
    cli_fixture f;
    dbsafe::test::exec(f.live,
                       "INSERT INTO documents(body) SELECT randomblob(4000) FROM "
                       "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                       "WHERE i < 2000) SELECT i FROM n)");  // ~8 MiB: several steps
    const auto wanted = dump_rows(f.live);
    ASSERT_EQ(dbsafe_cli(f.dir, "backup " + q(f.live) + f.dir_arg).exit_code, 0);
    dbsafe::test::exec(f.live, "DELETE FROM documents");

    const auto r = dbsafe::test::run_on_terminal(
        {DBSAFE_CLI_PATH, "restore", f.live.string(), "--dir", f.backups.string(), "--latest"});
    ASSERT_EQ(r.exit_code, 0) << r.screen;
    EXPECT_EQ(dump_rows(f.live), wanted);
    const auto segments = dbsafe::test::terminal_segments(r.screen);
    std::vector<std::size_t> safety_done, copy_done, restored;
    std::size_t copy_progress = 0;
    for (std::size_t i = 0; i < segments.size(); ++i) {
        // Progress fits an 80-column terminal (the result lines below it hold whole paths).
        if (segments[i].starts_with("safety backup ") || segments[i].starts_with("copy in ")) {
            EXPECT_LE(segments[i].size(), 80U) << segments[i];
        }
        if (std::regex_match(segments[i], phase_done("safety backup"))) safety_done.push_back(i);
        if (std::regex_match(segments[i], phase_done("copy in"))) copy_done.push_back(i);
        if (segments[i].starts_with("copy in ") && segments[i].find('%') != std::string::npos) {
            ++copy_progress;
        }
        if (segments[i].starts_with("restored ")) restored.push_back(i);
    }
    ASSERT_EQ(safety_done.size(), 1U) << r.screen;
    ASSERT_EQ(copy_done.size(), 1U) << r.screen;
    ASSERT_EQ(restored.size(), 1U) << r.screen;
    EXPECT_LT(safety_done[0], copy_done[0]);
    EXPECT_LT(copy_done[0], restored[0]);
    EXPECT_GE(copy_progress, 1U) << "the copy in drew no progress before its last line";

    // Asked for JSON, a terminal gets the document and nothing else.
    const auto json =
        dbsafe::test::run_on_terminal({DBSAFE_CLI_PATH, "restore", f.live.string(), "--dir",
                                       f.backups.string(), "--latest", "--json"});
    ASSERT_EQ(json.exit_code, 0) << json.screen;
    const auto lines = dbsafe::test::terminal_segments(json.screen);
    ASSERT_EQ(lines.size(), 1U) << json.screen;
    EXPECT_TRUE(nlohmann::json::parse(lines[0], nullptr, false).is_object()) << lines[0];

    // A backup on a terminal: its snapshot line, its check's, then its store's, each once.
    const auto backup = dbsafe::test::run_on_terminal(
        {DBSAFE_CLI_PATH, "backup", f.live.string(), "--dir", f.backups.string()});
    ASSERT_EQ(backup.exit_code, 0) << backup.screen;
    std::vector<std::size_t> snapshot_done, check_done, store_done;
    const auto backup_segments = dbsafe::test::terminal_segments(backup.screen);
    for (std::size_t i = 0; i < backup_segments.size(); ++i) {
        if (std::regex_match(backup_segments[i], phase_done("snapshot")))
            snapshot_done.push_back(i);
        if (std::regex_match(backup_segments[i], phase_done("check"))) check_done.push_back(i);
        // The store's bytes are not measured as they go: its size and time, no rate.
        static const std::regex store_line("store +[0-9.]+ (B|KiB|MiB|GiB) in [0-9.]+ s");
        if (std::regex_match(backup_segments[i], store_line)) store_done.push_back(i);
        // The check tells how much it has read and the time, never an ETA it cannot know.
        if (backup_segments[i].starts_with("check ")) {
            EXPECT_EQ(backup_segments[i].find("ETA"), std::string::npos) << backup_segments[i];
            EXPECT_LE(backup_segments[i].size(), 80U) << backup_segments[i];
        }
    }
    ASSERT_EQ(snapshot_done.size(), 1U) << backup.screen;
    ASSERT_EQ(check_done.size(), 1U) << backup.screen;
    EXPECT_LT(snapshot_done[0], check_done[0]);
    ASSERT_EQ(store_done.size(), 1U) << backup.screen;
    EXPECT_LT(check_done[0], store_done[0]);
}

TEST(CliProgress, OnATerminalRestoreDrawsTheBackupsChecksumBeforeTheSafetyBackup) {
    cli_fixture f;
    ASSERT_EQ(dbsafe_cli(f.dir, "backup " + q(f.live) + f.dir_arg).exit_code, 0);
    const auto r = dbsafe::test::run_on_terminal(
        {DBSAFE_CLI_PATH, "restore", f.live.string(), "--dir", f.backups.string(), "--latest"});
    ASSERT_EQ(r.exit_code, 0) << r.screen;
    std::vector<std::string> finished;
    for (const auto& s : dbsafe::test::terminal_segments(r.screen)) {
        for (const char* phase : {"checksum", "safety backup", "copy in"}) {
            if (std::regex_match(s, phase_done(phase))) finished.emplace_back(phase);
        }
    }
    // Checked at creation, the backup is re-hashed (the trust chain), not re-checked.
    EXPECT_EQ(finished, (std::vector<std::string>{"checksum", "safety backup", "copy in"}))
        << r.screen;
}

TEST(CliProgress, OnATerminalRestoreOfACompressedBackupDrawsItsUnpackFirst) {
    cli_fixture f;
    ASSERT_EQ(dbsafe_cli(f.dir, "backup " + q(f.live) + f.dir_arg + " --compress zstd").exit_code,
              0);
    const auto r = dbsafe::test::run_on_terminal(
        {DBSAFE_CLI_PATH, "restore", f.live.string(), "--dir", f.backups.string(), "--latest"});
    ASSERT_EQ(r.exit_code, 0) << r.screen;
    std::vector<std::string> finished;
    for (const auto& s : dbsafe::test::terminal_segments(r.screen)) {
        for (const char* phase : {"unpack", "checksum", "safety backup", "copy in"}) {
            if (std::regex_match(s, phase_done(phase))) finished.emplace_back(phase);
        }
    }
    EXPECT_EQ(finished,
              (std::vector<std::string>{"unpack", "checksum", "safety backup", "copy in"}))
        << r.screen;
}

TEST(CliProgress, OnATerminalVerifyDrawsEachBackupsCheckAndErasesItBeforeItsResultLine) {
    cli_fixture f;
    ASSERT_EQ(dbsafe_cli(f.dir, "backup " + q(f.live) + f.dir_arg).exit_code, 0);
    ASSERT_EQ(dbsafe_cli(f.dir, "backup " + q(f.live) + f.dir_arg).exit_code, 0);
    const auto r = dbsafe::test::run_on_terminal(
        {DBSAFE_CLI_PATH, "verify", "--dir", f.backups.string(), "--full-check"});
    ASSERT_EQ(r.exit_code, 0) << r.screen;
    std::size_t drawn = 0, ok = 0;
    for (const auto& s : dbsafe::test::terminal_segments(r.screen)) {
        drawn += s.starts_with("check ") ? 1 : 0;
        EXPECT_FALSE(std::regex_match(s, phase_done("check"))) << "a check line was kept: " << s;
        ok += s.starts_with("ok ") ? 1 : 0;
    }
    EXPECT_GE(drawn, 2U) << r.screen;  // each backup's check was on screen
    EXPECT_EQ(ok, 2U) << r.screen;
    // Each result line starts on a line the progress left empty (erased, not overwritten).
    std::size_t erased_then_ok = 0;
    for (auto at = r.screen.find("\r\x1b[Kok "); at != std::string::npos;
         at = r.screen.find("\r\x1b[Kok ", at + 1)) {
        ++erased_then_ok;
    }
    EXPECT_EQ(erased_then_ok, 2U) << r.screen;
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

// --- Issue 13 item 12: no wrong successes from `migrate`.

std::size_t files_in(const fs::path& dir) {
    std::error_code ec;
    std::size_t n = 0;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
        ++n;
    }
    return n;
}

TEST(CliMigrate, RefusesADirectoryABinaryOrANonUtf8FileBeforeTouchingAnything) {
    cli_fixture f;
    const auto before = dump_rows(f.live);
    const auto nul = f.dir / "nul.sql";
    {
        std::ofstream out(nul, std::ios::binary);
        out << "CREATE TABLE kept(x);";
        out.put('\0');
        out << "DROP TABLE orders;";
    }
    const auto latin1 = f.dir / "latin1.sql";
    std::ofstream(latin1, std::ios::binary) << "INSERT INTO customers(name) VALUES ('caf\xe9');";
    const auto missing = f.dir / "missing.sql";
    for (const auto& [file, says] : {std::pair{f.dir.path(), std::string("is a directory")},
                                     std::pair{nul, std::string("NUL byte at offset 21")},
                                     std::pair{latin1, std::string("is not UTF-8")},
                                     std::pair{missing, std::string("No such file")}}) {
        const auto r = dbsafe_cli(f.dir, "migrate " + q(f.live) + f.dir_arg + " --sql " + q(file));
        EXPECT_EQ(r.exit_code, 1) << file;
        EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("nothing was done"), std::string::npos) << r.err;
    }
    EXPECT_EQ(dump_rows(f.live), before);
    EXPECT_EQ(files_in(f.backups), 0u) << "no pre-migration backup for a refused file";
}

TEST(CliMigrate, AnEmptyOrCommentsOnlyFileIsNothingToMigrateAndTakesNoBackup) {
    cli_fixture f;
    const auto before = dump_rows(f.live);
    const auto empty = f.dir / "empty.sql";
    std::ofstream(empty) << "";
    const auto comments = f.dir / "comments.sql";
    std::ofstream(comments) << "-- nothing yet\n/* later */ ;\n";
    for (const auto& file : {empty, comments}) {
        const auto r = dbsafe_cli(f.dir, "migrate " + q(f.live) + f.dir_arg + " --sql " + q(file));
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_NE(r.out.find("nothing to migrate"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("no backup was taken"), std::string::npos) << r.out;
    }
    const auto j = nlohmann::json::parse(
        dbsafe_cli(f.dir, "migrate " + q(f.live) + f.dir_arg + " --sql " + q(empty) + " --json")
            .out);
    EXPECT_EQ(j["nothing_to_migrate"], true);
    EXPECT_TRUE(j["pre_migration_backup"].is_null());
    EXPECT_EQ(files_in(f.backups), 0u);
    EXPECT_EQ(dump_rows(f.live), before);
}

TEST(CliMigrate, AMigrationsTableThatDoesNotExistIsAnErrorNotASkippedCheck) {
    cli_fixture f;
    const auto before = dump_rows(f.live);
    const auto sql = f.dir / "002.sql";
    std::ofstream(sql) << "ALTER TABLE customers ADD COLUMN tier TEXT;\n";
    const auto typo = dbsafe_cli(f.dir, "migrate " + q(f.live) + f.dir_arg + " --sql " + q(sql) +
                                            " --schema migrations:knex_migratoins");
    EXPECT_EQ(typo.exit_code, 1);
    EXPECT_NE(typo.err.find("has no table knex_migratoins"), std::string::npos) << typo.err;
    EXPECT_EQ(files_in(f.backups), 0u);
    EXPECT_EQ(dump_rows(f.live), before);
    // Named by the file but not created by it: rolled back after the file ran.
    const auto mentions = f.dir / "mentions.sql";
    std::ofstream(mentions) << "DELETE FROM orders; -- knex_migrations comes later\n";
    const auto later = dbsafe_cli(f.dir, "migrate " + q(f.live) + f.dir_arg + " --sql " +
                                             q(mentions) + " --schema migrations:knex_migrations");
    EXPECT_EQ(later.exit_code, 1);
    EXPECT_NE(later.err.find("rolled back"), std::string::npos) << later.err;
    EXPECT_EQ(dump_rows(f.live), before);
    // The first migration creates the table: fine.
    const auto first = f.dir / "001.sql";
    std::ofstream(first) << "CREATE TABLE knex_migrations(id INTEGER PRIMARY KEY, name TEXT);\n"
                            "INSERT INTO knex_migrations(name) VALUES ('001_init');\n";
    const auto created = dbsafe_cli(f.dir, "migrate " + q(f.live) + f.dir_arg + " --sql " +
                                               q(first) + " --schema migrations:knex_migrations");
    EXPECT_EQ(created.exit_code, 0) << created.err;
    // And restore refuses the typo too, instead of comparing nothing.
    const auto id = dbsafe::local_directory{f.backups}.list().value().backups.at(0).id;
    const auto restore = dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --id " + id +
                                               " --schema migrations:knex_migratoins");
    EXPECT_EQ(restore.exit_code, 1);
    EXPECT_NE(restore.err.find("has no table knex_migratoins"), std::string::npos) << restore.err;
}

// --- Issue 13 item 2: one transaction where SQLite allows it.

TEST(CliMigrate, RunsTheFileInOneTransactionUnlessItCannot) {
    cli_fixture f;
    const auto plain = f.dir / "plain.sql";
    std::ofstream(plain) << "CREATE TABLE a(x);\nINSERT INTO a VALUES (1);\n";
    auto r =
        dbsafe_cli(f.dir, "migrate " + q(f.live) + f.dir_arg + " --sql " + q(plain) + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["transaction"], "single");
    for (const std::string breaker :
         {"VACUUM;", "PRAGMA foreign_keys = ON;", "BEGIN; CREATE TABLE c(x); COMMIT;"}) {
        const auto own = f.dir / "own.sql";
        std::ofstream(own) << "CREATE TABLE IF NOT EXISTS b(x);\n" << breaker << "\n";
        r = dbsafe_cli(f.dir, "migrate " + q(f.live) + f.dir_arg + " --sql " + q(own));
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_NE(r.out.find("statement by statement: statement 2"), std::string::npos) << r.out;
    }
}

// --- Issue 13 item 4: ATTACH is refused before anything happens.

TEST(CliMigrate, AttachIsRefusedBeforeAnyBackupOrChange) {
    cli_fixture f;
    const auto before = dump_rows(f.live);
    const auto other = f.dir / "other.db";
    dbsafe::test::create_sample_db(other, 10);
    const auto other_before = dump_rows(other);
    const auto sql = f.dir / "attach.sql";
    std::ofstream(sql) << "DELETE FROM orders;\n-- and the other one\nATTACH DATABASE " << q(other)
                       << " AS o;\nDELETE FROM o.orders;\n";
    const auto r = dbsafe_cli(f.dir, "migrate " + q(f.live) + f.dir_arg + " --sql " + q(sql));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("statement 2"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("ATTACH and DETACH are refused"), std::string::npos) << r.err;
    EXPECT_EQ(dump_rows(f.live), before);
    EXPECT_EQ(dump_rows(other), other_before);
    EXPECT_EQ(files_in(f.backups), 0u);
}

// --- Issue 13 item 3: the rollback (and the advised restore) work after a page size change.

TEST(CliMigrate, RollbackAndRestoreWorkAfterTheMigrationChangedThePageSize) {
    for (const std::string mode : {"wal", "delete"}) {
        SCOPED_TRACE(mode);
        cli_fixture f;
        dbsafe::test::exec(f.live, "PRAGMA journal_mode=" + mode);
        const auto before = dump_rows(f.live);
        const auto sql = f.dir / "pages.sql";
        std::ofstream(sql) << "DELETE FROM orders WHERE id % 2 = 0;\n"
                              "PRAGMA journal_mode=DELETE;\nPRAGMA page_size=8192;\nVACUUM;\n"
                              "PRAGMA journal_mode="
                           << mode << ";\nINSERT INTO no_such_table VALUES (1);\n";
        const auto r = dbsafe_cli(f.dir, "migrate " + q(f.live) + f.dir_arg + " --sql " + q(sql));
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_NE(r.err.find("as it was before"), std::string::npos) << r.err;
        EXPECT_EQ(dump_rows(f.live), before);
        EXPECT_EQ(dbsafe::test::query_int(f.live, "PRAGMA page_size"), 4096);
        {
            dbsafe::test::db_handle h(f.live);
            EXPECT_EQ(dbsafe::detail::query_text(h, "PRAGMA journal_mode").value(), mode);
        }
        // The same change made outside dbsafe, then `restore --id` of the pre-migration backup.
        dbsafe::test::exec(f.live,
                           "DELETE FROM customers WHERE id > 50; PRAGMA "
                           "journal_mode=DELETE; PRAGMA page_size=1024; VACUUM; PRAGMA "
                           "auto_vacuum=FULL; VACUUM; PRAGMA journal_mode=" +
                               mode);
        const auto id = dbsafe::local_directory{f.backups}.list().value().backups.back().id;
        const auto restored = dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --id " + id);
        EXPECT_EQ(restored.exit_code, 0) << restored.err;
        EXPECT_EQ(dump_rows(f.live), before);
        EXPECT_EQ(dbsafe::test::query_int(f.live, "PRAGMA page_size"), 4096);
        EXPECT_EQ(dbsafe::test::query_int(f.live, "PRAGMA auto_vacuum"), 0);
    }
}

// --- Issue 13 item 2: `dbsafe recover`, and the implicit recovery of migrate and restore.

// What kill -9 leaves: a guard opened, half the migration committed, no commit, no rollback.
void crash_halfway(const fs::path& live, const fs::path& backups) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        dbsafe::vault v{.storage = dbsafe::local_directory{backups}};
        auto guard = dbsafe::migration_guard::open(v, live);
        if (!guard) ::_exit(2);
        dbsafe::test::exec(live, "DELETE FROM orders; CREATE TABLE half(x)");
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(CliRecover, RollsBackAnInterruptedMigrationAndSaysSo) {
    cli_fixture f;
    const auto before = dump_rows(f.live);
    crash_halfway(f.live, f.backups);
    ASSERT_NE(dump_rows(f.live), before);
    auto r = dbsafe_cli(f.dir, "recover " + q(f.live) + f.dir_arg + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["rolled_back"], true);
    EXPECT_EQ(j["recovery"]["rolled_back_to"]["kind"], "pre_migration");
    EXPECT_EQ(j["recovery"]["safety_backup"]["kind"], "safety");
    EXPECT_EQ(dump_rows(f.live), before);
    r = dbsafe_cli(f.dir, "recover " + q(f.live) + f.dir_arg);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("nothing to recover"), std::string::npos) << r.out;
}

TEST(CliRecover, MigrateAndRestoreRecoverImplicitly) {
    cli_fixture f;
    const auto before = dump_rows(f.live);
    crash_halfway(f.live, f.backups);
    const auto sql = f.dir / "next.sql";
    std::ofstream(sql) << "CREATE TABLE next(x);\n";
    auto r = dbsafe_cli(f.dir, "migrate " + q(f.live) + f.dir_arg + " --sql " + q(sql));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("recovered an interrupted migration"), std::string::npos) << r.out;
    EXPECT_EQ(dbsafe::test::query_int(f.live, "SELECT count(*) FROM orders"), 300)
        << "the new migration ran on the old state, not the half-migrated one";
    EXPECT_EQ(dbsafe::test::query_int(
                  f.live, "SELECT count(*) FROM sqlite_schema WHERE name IN ('half', 'next')"),
              1);
    // restore: a crash, then `restore --id` of another backup clears the record.
    const auto pre = dbsafe::local_directory{f.backups}.list().value().backups.back().id;
    crash_halfway(f.live, f.backups);
    r = dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --id " + pre);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(dump_rows(f.live), before);
    r = dbsafe_cli(f.dir, "recover " + q(f.live) + f.dir_arg);
    EXPECT_NE(r.out.find("nothing to recover"), std::string::npos) << r.out;
    EXPECT_EQ(dump_rows(f.live), before);
}

}  // namespace
