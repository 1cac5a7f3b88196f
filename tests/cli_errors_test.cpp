// How the `dbsafe` program fails, for people and for scripts: every failure says "dbsafe: ..."
// on stderr; usage errors (bad flag values, malformed ids, unknown commands) exit 2 before
// anything is touched; with --json every failure prints exactly one JSON document on stdout,
// {"error": {"code", "message", "path"}}, with a stable snake_case code and an absolute path.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <ios>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "dbsafe/error_name.hpp"
#include "support/child_process.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using dbsafe::test::child_result;

class CliErrors : public ::testing::Test {
  protected:
    dbsafe::test::temp_dir tmp;
    fs::path db = tmp / "app.db";
    fs::path dir = tmp / "backups";
    dbsafe::test::temp_dir scratch;  // the child's captured output, outside the CLI's cwd

    void SetUp() override {
        ASSERT_TRUE(fs::exists(DBSAFE_CLI_PATH)) << "build the dbsafe_cli target first";
        dbsafe::test::exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    }

    // Runs the CLI in the temp dir, so relative paths resolve there as a user's shell would;
    // a CLI that hangs (on a FIFO, say) is killed after 60 s and fails the test (exit 124).
    child_result cli(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {"/bin/sh", "-c", "cd \"$0\" && exec timeout 60 \"$@\"",
                                         tmp.path().string(), DBSAFE_CLI_PATH};
        argv.insert(argv.end(), args.begin(), args.end());
        return dbsafe::test::run(argv, {}, scratch.path());
    }
};

bool is_snake_case(const std::string& s) {
    return std::regex_match(s, std::regex("[a-z][a-z0-9]*(_[a-z0-9]+)*"));
}

// The whole of stdout is one JSON document holding one error; stderr says the same for people.
json expect_one_error_document(const child_result& r, const std::string& code) {
    EXPECT_NE(r.exit_code, 0);
    json doc;
    EXPECT_NO_THROW(doc = json::parse(r.out)) << "stdout is not exactly one JSON document:\n"
                                              << r.out;
    EXPECT_TRUE(doc.is_object() && doc.size() == 1 && doc.contains("error")) << r.out;
    const json e = doc.value("error", json::object());
    EXPECT_EQ(e.value("code", ""), code) << r.out;
    EXPECT_TRUE(is_snake_case(e.value("code", ""))) << r.out;
    EXPECT_FALSE(e.value("message", "").empty()) << r.out;
    EXPECT_TRUE(e.contains("path")) << r.out;
    if (e.contains("path") && e["path"].is_string()) {
        EXPECT_TRUE(fs::path(e["path"].get<std::string>()).is_absolute()) << r.out;
    }
    EXPECT_EQ(r.err.rfind("dbsafe: ", 0), 0U) << r.err;
    EXPECT_NE(r.err.find(e.value("message", "")), std::string::npos) << r.err;
    return e;
}

TEST_F(CliErrors, FailureWithJsonPrintsOneErrorDocumentWithAnAbsolutePath) {
    const auto r = cli({"backup", "missing.db", "--dir", "backups", "--json"});
    EXPECT_EQ(r.exit_code, 1);
    const json e = expect_one_error_document(r, "not_found");
    EXPECT_EQ(e["path"], (tmp / "missing.db").string());
    EXPECT_FALSE(fs::exists(dir / "missing.db"));
}

TEST_F(CliErrors, EveryCommandFailingWithJsonPrintsOneErrorDocument) {
    ASSERT_EQ(cli({"backup", "app.db", "--dir", "backups"}).exit_code, 0);
    const std::vector<std::pair<std::vector<std::string>, std::string>> failures = {
        {{"restore", "app.db", "--dir", "backups", "--id", "20000101T000000.000Z-manual-000000",
          "--json"},
         "not_found"},
        {{"migrate", "app.db", "--dir", "backups", "--sql", "no-such.sql", "--json"}, "not_found"},
        {{"backup", "notes.txt", "--dir", "backups", "--json"}, "not_found"},
    };
    for (const auto& [args, code] : failures) {
        SCOPED_TRACE(args.front());
        const auto r = cli(args);
        EXPECT_EQ(r.exit_code, 1);
        expect_one_error_document(r, code);
    }
}

// The error that another one led to keeps it: "cause" holds the original code and message, for
// a script to branch on without parsing the sentence.
TEST_F(CliErrors, JsonErrorCarriesTheCauseItWraps) {
    ASSERT_EQ(cli({"backup", "app.db", "--dir", "backups"}).exit_code, 0);
    const auto r = cli({"restore", "app.db", "--dir", "backups", "--id",
                        "20000101T000000.000Z-manual-000000", "--json"});
    const json e = expect_one_error_document(r, "not_found");
    ASSERT_TRUE(e.contains("cause")) << r.out;
    const json cause = e["cause"];
    EXPECT_EQ(cause.value("code", ""), "not_found") << r.out;
    const std::string original = cause.value("message", "");
    EXPECT_NE(original.find("no backup with id 20000101T000000.000Z-manual-000000"),
              std::string::npos)
        << r.out;
    // The message still tells it all: the cause is inside it, with what restore was doing.
    EXPECT_NE(e.value("message", "").find(original), std::string::npos) << r.out;
    EXPECT_EQ(e.value("message", "").rfind("not restoring backup", 0), 0U) << r.out;
    // An error with no cause has no "cause".
    const auto plain = cli({"backup", "missing.db", "--dir", "backups", "--json"});
    EXPECT_FALSE(expect_one_error_document(plain, "not_found").contains("cause")) << plain.out;
}

// The library's advice is in library terms (restore_options::replace_damaged); the tool adds the
// command line that does it, with the user's own paths and id.
TEST_F(CliErrors, RestoreIntoADamagedDatabaseHintsTheCommandsThatDoIt) {
    const auto taken = cli({"backup", "app.db", "--dir", "backups", "--json"});
    ASSERT_EQ(taken.exit_code, 0) << taken.err;
    const std::string id = json::parse(taken.out).value("id", "");
    {
        std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
        f.write("garbage, not an SQLite header", 29);
    }
    const auto r = cli({"restore", "app.db", "--dir", "backups", "--id", id});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("dbsafe: hint: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("rerun with --replace-damaged"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("`dbsafe restore --to NEW_PATH --dir backups --id " + id + "`"),
              std::string::npos)
        << r.err;
    const auto j = cli({"restore", "app.db", "--dir", "backups", "--id", id, "--json"});
    const json e = expect_one_error_document(j, "not_a_database");
    EXPECT_NE(e.value("hint", "").find("--replace-damaged"), std::string::npos) << j.out;
    // Taking the hint works.
    const auto fixed =
        cli({"restore", "app.db", "--dir", "backups", "--id", id, "--replace-damaged"});
    EXPECT_EQ(fixed.exit_code, 0) << fixed.err;
    EXPECT_EQ(dbsafe::test::query_int(db, "SELECT count(*) FROM t"), 1);
}

// The same failures, through the tool: its hints name commands the library messages never do.
TEST_F(CliErrors, UnknownIdAndAnotherDatabasesBackupHintTheListCommand) {
    ASSERT_EQ(cli({"backup", "app.db", "--dir", "backups"}).exit_code, 0);
    const auto unknown = cli(
        {"restore", "app.db", "--dir", "backups", "--id", "20000101T000000.000Z-manual-000000"});
    EXPECT_EQ(unknown.exit_code, 1);
    EXPECT_NE(unknown.err.find("dbsafe: hint: `dbsafe list --dir backups` shows the ids"),
              std::string::npos)
        << unknown.err;
    dbsafe::test::exec(tmp / "other.db", "CREATE TABLE t(x)");
    const auto listed = cli({"list", "--dir", "backups", "--json"});
    const std::string id = json::parse(listed.out).at(0).value("id", "");
    const auto other = cli({"restore", "other.db", "--dir", "backups", "--id", id});
    EXPECT_EQ(other.exit_code, 1);
    EXPECT_NE(other.err.find("`dbsafe list --dir backups --db other.db`"), std::string::npos)
        << other.err;
    EXPECT_NE(other.err.find("--allow-other-database"), std::string::npos) << other.err;
}

TEST_F(CliErrors, MigrateRefusesAFifoAsItsSqlFileWithoutWaitingForAWriter) {
    ASSERT_EQ(::mkfifo((tmp / "m.sql").c_str(), 0600), 0);
    const auto r = cli({"migrate", "app.db", "--dir", "backups", "--sql", "m.sql", "--json"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    const json e = expect_one_error_document(r, "invalid_argument");
    EXPECT_EQ(e["path"], (tmp / "m.sql").string());
    EXPECT_FALSE(fs::exists(dir)) << "a pre-migration backup was taken for a refused file";
}

TEST_F(CliErrors, NotADatabaseHasItsOwnCodeAndNamesTheFile) {
    {
        std::ofstream(tmp / "notes.txt") << "not a database, just text that is long enough "
                                            "to be more than a header of one hundred bytes ..."
                                         << std::string(200, 'x');
    }
    const auto r = cli({"backup", "notes.txt", "--dir", "backups", "--json"});
    EXPECT_EQ(r.exit_code, 1);
    const json e = expect_one_error_document(r, "not_a_database");
    EXPECT_EQ(e["path"], (tmp / "notes.txt").string());
}

TEST_F(CliErrors, UsageErrorsExitTwoBeforeTouchingAnything) {
    const std::vector<std::vector<std::string>> usage = {
        {"backup", "app.db", "--dir", "backups", "--space-factor", "nan"},
        {"backup", "app.db", "--dir", "backups", "--space-factor", "inf"},
        {"backup", "app.db", "--dir", "backups", "--space-factor", "101"},
        {"backup", "app.db", "--dir", "backups", "--space-factor", "-1"},
        {"migrate", "app.db", "--dir", "backups", "--sql", "x.sql", "--space-factor", "nan"},
        {"restore", "app.db", "--dir", "backups", "--id", "../../etc/passwd"},
        {"restore", "app.db", "--dir", "backups", "--id", "a/b"},
        {"verify", "--dir", "backups", "..hidden"},
        {"restore", "app.db", "--dir", "backups"},  // neither --id nor --latest
        {"prune", "--dir", "backups", "--keep-last", "0"},
        {"backup", "app.db"},  // --dir missing
        {"bakup", "app.db", "--dir", "backups"},
        {"help", "bakup"},
    };
    for (const auto& args : usage) {
        SCOPED_TRACE(args[0] + " " + args.back());
        auto r = cli(args);
        EXPECT_EQ(r.exit_code, 2) << r.err;
        EXPECT_EQ(r.err.rfind("dbsafe: ", 0), 0U) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
        auto with_json = args;
        with_json.emplace_back("--json");
        r = cli(with_json);
        EXPECT_EQ(r.exit_code, 2) << r.err;
        expect_one_error_document(r, "usage");
    }
    EXPECT_FALSE(fs::exists(dir)) << "a usage error created the backup directory";
}

TEST_F(CliErrors, SuccessWithJsonPrintsOneDocumentWithAbsolutePaths) {
    const auto r = cli({"backup", "app.db", "--dir", "backups", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json m = json::parse(r.out);
    EXPECT_TRUE(fs::path(m.value("path", "")).is_absolute()) << r.out;
    const auto restored =
        cli({"restore", "app.db", "--dir", "backups", "--id", m.value("id", ""), "--json"});
    ASSERT_EQ(restored.exit_code, 0) << restored.err;
    const json doc = json::parse(restored.out);
    EXPECT_EQ(doc.value("database", ""), db.string());
}

TEST(ErrorName, EveryDbsafeCodeHasADistinctSnakeCaseName) {
    std::set<std::string> seen;
    // Every enumerator: the category names each one, and says "unknown" past the last.
    for (int v = 0; dbsafe::dbsafe_category().message(v) != "unknown dbsafe error"; ++v) {
        const std::string name = dbsafe::error_name(make_error_code(static_cast<dbsafe::errc>(v)));
        EXPECT_TRUE(is_snake_case(name)) << v << ": " << name;
        EXPECT_NE(name, "unknown_error") << v;
        EXPECT_TRUE(seen.insert(name).second) << "duplicate name " << name;
    }
    EXPECT_GE(seen.size(), 20U);
}

TEST(ErrorName, SqliteAndErrnoCodesHaveStableNames) {
    const auto sq = [](int rc) { return std::error_code(rc, dbsafe::sqlite_category()); };
    EXPECT_EQ(dbsafe::error_name(sq(SQLITE_BUSY)), "sqlite_busy");
    EXPECT_EQ(dbsafe::error_name(sq(SQLITE_IOERR_FSYNC)), "sqlite_ioerr");  // extended -> primary
    EXPECT_EQ(dbsafe::error_name(sq(SQLITE_CORRUPT)), "sqlite_corrupt");
    const auto os = [](int e) { return std::error_code(e, std::generic_category()); };
    EXPECT_EQ(dbsafe::error_name(os(ENOSPC)), "no_space_on_device");
    EXPECT_EQ(dbsafe::error_name(os(EACCES)), "permission_denied");
    EXPECT_EQ(dbsafe::error_name(std::error_code(1, std::iostream_category())), "unknown_error");
}

}  // namespace
