// Issue 13, items 5, 6 and 9 as a user types them: `restore --latest` of the wrong database,
// `list/health/prune --db`, `restore --to`, a database named `file:x.db` given relative to the
// working directory, and `--dir s3://…`.
#include <gtest/gtest.h>

#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/child_process.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using dbsafe::test::dump_rows;
using dbsafe::test::temp_dir;
namespace fs = std::filesystem;

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// `dbsafe ARGS` run by the shell in `cwd`, so relative paths are the user's.
dbsafe::test::child_result dbsafe_in(const temp_dir& scratch, const fs::path& cwd,
                                     const std::string& args) {
    return dbsafe::test::run(
        {"/bin/sh", "-c", "cd " + q(cwd) + " && exec " + std::string(DBSAFE_CLI_PATH) + " " + args},
        {}, scratch.path());
}

// The backups `dbsafe list` shows: its lines after the table's header ("ID  AGE  ...").
std::size_t rows(const std::string& list_output) {
    if (!list_output.starts_with("ID ")) return 0;
    return static_cast<std::size_t>(std::count(list_output.begin(), list_output.end(), '\n')) - 1;
}

struct two_databases {
    temp_dir tmp;
    fs::path work = tmp / "work";
    two_databases() {
        fs::create_directory(work);
        dbsafe::test::create_sample_db(work / "notes.db", 20);
        dbsafe::test::create_sample_db(work / "app.db", 40);
        dbsafe::test::exec(work / "app.db",
                           "CREATE TABLE only_app(x); INSERT INTO only_app VALUES (1)");
    }
    dbsafe::test::child_result operator()(const std::string& args) const {
        return dbsafe_in(tmp, work, args);
    }
};

TEST(CliSourceIdentity, LatestNeverRestoresAnotherDatabasesBackup) {
    const two_databases run;
    ASSERT_EQ(run("backup notes.db --dir bk").exit_code, 0);
    const auto app_rows = dump_rows(run.work / "app.db");
    const auto r = run("restore app.db --dir bk --latest");
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("no backup of " + fs::canonical(run.work).string() + "/app.db"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(dump_rows(run.work / "app.db"), app_rows);

    // By id: refused, naming both and the override; with it, done.
    ASSERT_EQ(run("backup app.db --dir bk").exit_code, 0);
    const auto listed = run("list --dir bk --db notes.db");
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    ASSERT_EQ(rows(listed.out), 1u) << listed.out;
    EXPECT_NE(listed.out.find("/notes.db"), std::string::npos) << listed.out;
    const std::string row = listed.out.substr(listed.out.find('\n') + 1);
    const std::string id = row.substr(0, row.find(' '));
    const auto refused = run("restore app.db --dir bk --id " + id);
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.err.find("--allow-other-database"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("/notes.db"), std::string::npos) << refused.err;
    EXPECT_EQ(dump_rows(run.work / "app.db"), app_rows);
    const auto forced = run("restore app.db --dir bk --id " + id + " --allow-other-database");
    EXPECT_EQ(forced.exit_code, 0) << forced.err;
    EXPECT_EQ(dump_rows(run.work / "app.db"), dump_rows(run.work / "notes.db"));

    // --latest of app.db is now app.db's own backup (the safety backup aside).
    const auto latest = run("restore app.db --dir bk --latest");
    EXPECT_EQ(latest.exit_code, 0) << latest.err;
    EXPECT_EQ(dump_rows(run.work / "app.db"), app_rows);
}

TEST(CliSourceIdentity, ListHealthAndPruneFilterByDatabase) {
    const two_databases run;
    for (int i = 0; i < 2; ++i) {
        ASSERT_EQ(run("backup notes.db --dir bk").exit_code, 0);
        ASSERT_EQ(run("backup app.db --dir bk").exit_code, 0);
    }
    EXPECT_EQ(rows(run("list --dir bk").out), 4u);
    EXPECT_EQ(rows(run("list --dir bk --db ./app.db").out), 2u);
    const auto pruned = run("prune --dir bk --db app.db --keep-last 1");
    EXPECT_EQ(pruned.exit_code, 0) << pruned.err;
    EXPECT_EQ(rows(run("list --dir bk --db app.db").out), 1u);
    EXPECT_EQ(rows(run("list --dir bk --db notes.db").out), 2u);
    const auto healthy = run("health --dir bk --db notes.db --check quick");
    EXPECT_EQ(healthy.exit_code, 0) << healthy.out << healthy.err;
    const auto none = run("health --dir bk --db other.db");
    EXPECT_EQ(none.exit_code, 1) << none.out;
}

TEST(CliRestoreTo, WritesANewFileAndTouchesNoLiveDatabase) {
    const two_databases run;
    ASSERT_EQ(run("backup app.db --dir bk").exit_code, 0);
    const auto wanted = dump_rows(run.work / "app.db");
    dbsafe::test::exec(run.work / "app.db", "DELETE FROM orders");
    const auto changed = dump_rows(run.work / "app.db");
    const auto r = run("restore app.db --to copy.db --dir bk --latest");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(dump_rows(run.work / "copy.db"), wanted);
    EXPECT_EQ(dump_rows(run.work / "app.db"), changed);
    const auto again = run("restore app.db --to copy.db --dir bk --latest");
    EXPECT_EQ(again.exit_code, 1);
    EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;

    // A compressed backup is decompressed on the way (builds with the zstd backend).
    if (run("backup app.db --dir zbk --compress zstd").exit_code == 0) {
        const auto unpacked = run("restore app.db --to unpacked.db --dir zbk --latest");
        ASSERT_EQ(unpacked.exit_code, 0) << unpacked.err;
        EXPECT_EQ(dump_rows(run.work / "unpacked.db"), changed);
    }
}

TEST(CliPaths, FileColonDatabaseIsItself) {
    const two_databases run;
    dbsafe::test::create_sample_db(run.work / "x.db", 5);  // what a URI reading would open
    dbsafe::test::create_sample_db(run.work / "file:x.db", 30);
    const auto decoy = dump_rows(run.work / "x.db");
    const auto wanted = dump_rows(run.work / "file:x.db");
    ASSERT_EQ(run("backup file:x.db --dir bk").exit_code, 0);
    dbsafe::test::exec(run.work / "file:x.db", "DELETE FROM customers");
    const auto r = run("restore file:x.db --dir bk --latest");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(dump_rows(run.work / "file:x.db"), wanted);
    EXPECT_EQ(dump_rows(run.work / "x.db"), decoy);
}

TEST(CliPaths, UrlBackupDirectoryIsAnErrorAndCreatesNothing) {
    const two_databases run;
    for (const std::string cmd : {"backup app.db --dir s3://bucket/x", "list --dir sftp://h/d",
                                  "restore app.db --dir s3://bucket/x --latest"}) {
        const auto r = run(cmd);
        EXPECT_EQ(r.exit_code, 1) << cmd;
        EXPECT_NE(r.err.find("is a URL"), std::string::npos) << cmd << ": " << r.err;
    }
    EXPECT_FALSE(fs::exists(run.work / "s3:"));
    EXPECT_FALSE(fs::exists(run.work / "sftp:"));
}

}  // namespace
