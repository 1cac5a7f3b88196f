// The `dbsafe` program as users and scripts run it: exit codes 0/1/2, --json output a machine
// can parse, errors on stderr that name the file, and a backup directory that holds only
// complete backups after any failure.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "dbsafe/storage/local_directory.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct run_result {
    int exit_code = -1;
    std::string out;
    std::string err;

    [[nodiscard]] std::string last_line() const {
        std::string s = out;
        while (!s.empty() && s.back() == '\n') s.pop_back();
        const auto nl = s.rfind('\n');
        return nl == std::string::npos ? s : s.substr(nl + 1);
    }
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class Cli : public ::testing::Test {
  protected:
    dbsafe::test::temp_dir tmp;
    fs::path db = tmp / "app.db";
    fs::path dir = tmp / "backups";

    void SetUp() override {
        ASSERT_TRUE(fs::exists(DBSAFE_CLI_PATH)) << "build the dbsafe_cli target first";
    }

    // Runs `argv` (argv[0] is the program) with stdout/stderr captured in files; `shell_prefix`
    // non-empty runs it through /bin/sh after that prefix (for ulimit and traps).
    run_result run(const std::vector<std::string>& args, const std::string& shell_prefix = "") {
        const auto out_path = tmp / "stdout";
        const auto err_path = tmp / "stderr";
        std::vector<std::string> argv;
        if (shell_prefix.empty()) {
            argv.emplace_back(DBSAFE_CLI_PATH);
            argv.insert(argv.end(), args.begin(), args.end());
        } else {
            std::string cmd = shell_prefix + " exec '" + std::string(DBSAFE_CLI_PATH) + "'";
            for (const auto& a : args) cmd += " '" + a + "'";
            argv = {"/bin/sh", "-c", cmd};
        }
        std::vector<char*> c_argv;
        for (auto& a : argv) c_argv.push_back(a.data());
        c_argv.push_back(nullptr);
        const pid_t pid = ::fork();
        if (pid == 0) {
            const int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            const int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            ::dup2(o, 1);
            ::dup2(e, 2);
            ::execv(c_argv[0], c_argv.data());
            ::_exit(127);
        }
        int status = 0;
        ::waitpid(pid, &status, 0);
        run_result r;
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        r.out = slurp(out_path);
        r.err = slurp(err_path);
        return r;
    }

    json backup_json(const std::vector<std::string>& extra = {}) {
        std::vector<std::string> args = {"backup", db.string(), "--dir", dir.string(), "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto r = run(args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return json::parse(r.last_line(), nullptr, false);
    }

    void expect_only_complete_backups(std::size_t count) const {
        const dbsafe::local_directory storage{dir};
        const auto listed = storage.list();
        ASSERT_TRUE(listed);
        EXPECT_EQ(listed.value().backups.size(), count);
        EXPECT_TRUE(listed.value().leftovers.empty());
        if (fs::exists(dir)) {
            for (const auto& e : fs::directory_iterator(dir)) {
                EXPECT_FALSE(e.path().string().ends_with(".tmp")) << e.path();
            }
        }
    }
};

TEST_F(Cli, BackupJsonLastLineHasEveryField) {
    dbsafe::test::create_sample_db(db, 300);
    dbsafe::test::exec(db, "PRAGMA user_version = 5");
    const auto r = run({"backup", db.string(), "--dir", dir.string(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.last_line(), nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.out;
    for (const char* key : {"id", "kind", "path", "size_bytes", "checksum", "created_at",
                            "schema_version", "seconds"}) {
        EXPECT_TRUE(j.contains(key)) << key << " missing in " << r.last_line();
    }
    EXPECT_EQ(j["kind"], "manual");
    EXPECT_EQ(j["schema_version"], 5);
    const fs::path path = j["path"].get<std::string>();
    EXPECT_TRUE(path.is_absolute());
    EXPECT_EQ(path, dir / (j["id"].get<std::string>() + ".db"));
    EXPECT_EQ(j["size_bytes"].get<std::uint64_t>(), fs::file_size(path));
    EXPECT_EQ(j["checksum"]["hex"], dbsafe::hash_file(path).value().hex);
    EXPECT_EQ(dbsafe::test::dump_rows(path), dbsafe::test::dump_rows(db));
    EXPECT_EQ(r.err, "") << "stderr is not a terminal: no progress bar expected";
    EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all, fs::perms::owner_all);
}

TEST_F(Cli, BackupHumanOutputKindMethodAndQuickVerify) {
    dbsafe::test::create_sample_db(db, 100, "delete");
    const auto r = run({"backup", db.string(), "--dir", dir.string(), "--kind", "pre_migration",
                        "--method", "vacuum", "--verify", "quick", "--require-table", "orders"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("pre_migration"), std::string::npos) << r.out;
    // Its time as a person reads it (0.04 s, 1.4 s, 42 s), not 0.0412345 s.
    EXPECT_TRUE(std::regex_search(
        r.out, std::regex(R"(\) in (0\.[0-9]{2}|[1-9]\.[0-9]|[1-5]?[0-9]) s\n$)")))
        << r.out;
    const auto listed = dbsafe::local_directory{dir}.list().value().backups;
    ASSERT_EQ(listed.size(), 1U);
    EXPECT_EQ(listed[0].method, "vacuum-into");
    EXPECT_EQ(listed[0].kind, dbsafe::backup_kind::pre_migration);
}

TEST_F(Cli, ListJsonIsNewestFirstWithEveryField) {
    dbsafe::test::create_sample_db(db, 50);
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        ids.push_back(backup_json()["id"].get<std::string>());
        usleep(2000);  // distinct milliseconds: ids and created_at strictly increase
    }
    const auto r = run({"list", "--dir", dir.string(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json arr = json::parse(r.last_line(), nullptr, false);
    ASSERT_TRUE(arr.is_array()) << r.out;
    ASSERT_EQ(arr.size(), 3U);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(arr[i]["id"], ids[2 - i]);
        for (const char* key :
             {"id", "kind", "created_at", "size_bytes", "checksum", "schema_version", "path"}) {
            EXPECT_TRUE(arr[i].contains(key)) << key;
        }
    }
    EXPECT_GT(arr[0]["created_at"].get<std::string>(), arr[2]["created_at"].get<std::string>());
    // For people: a table, newest first, with the columns a person scans.
    dbsafe::test::exec(db, "INSERT INTO orders(customer_id, amount) VALUES (1, 1)");
    const auto unchecked = backup_json({"--verify", "none"})["id"].get<std::string>();
    const auto human = run({"list", "--dir", dir.string()});
    EXPECT_EQ(human.exit_code, 0);
    std::vector<std::string> lines;
    std::istringstream in(human.out);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    ASSERT_EQ(lines.size(), 5U) << human.out;
    EXPECT_TRUE(
        std::regex_match(lines[0], std::regex("ID +AGE +KIND +SIZE +FORMAT +VERIFIED +SOURCE")))
        << lines[0];
    EXPECT_TRUE(std::regex_match(
        lines[1], std::regex(unchecked + " +[0-9]+ s +manual +[0-9.]+ [KM]iB +file +no +" +
                             fs::canonical(db).string())))
        << lines[1];
    EXPECT_TRUE(std::regex_match(lines[2], std::regex(ids[2] + " .* file +integrity_check +/.*")))
        << lines[2];
    EXPECT_EQ(lines[4].substr(0, ids[0].size()), ids[0]);
    // Columns line up: each row's AGE starts where the header's does.
    for (std::size_t i = 1; i < lines.size(); ++i) {
        EXPECT_EQ(lines[i].find_first_of("0123456789", lines[0].find("AGE")), lines[0].find("AGE"))
            << lines[i];
    }
}

TEST_F(Cli, ListKindAndLastShowOnlyTheNewestBackupsOfTheKindsAskedFor) {
    dbsafe::test::create_sample_db(db, 50);
    const auto first = backup_json()["id"].get<std::string>();
    const auto pre = backup_json({"--kind", "pre_migration"})["id"].get<std::string>();
    const auto third = backup_json()["id"].get<std::string>();
    const auto ids = [&](const std::vector<std::string>& filters) {
        std::vector<std::string> args{"list", "--dir", dir.string(), "--json"};
        args.insert(args.end(), filters.begin(), filters.end());
        const auto r = run(args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        std::vector<std::string> out;
        for (const auto& m : json::parse(r.last_line())) out.push_back(m["id"]);
        return out;
    };
    EXPECT_EQ(ids({}), (std::vector<std::string>{third, pre, first}));
    EXPECT_EQ(ids({"--kind", "manual"}), (std::vector<std::string>{third, first}));
    EXPECT_EQ(ids({"--kind", "manual", "--last", "1"}), (std::vector<std::string>{third}));
    EXPECT_EQ(ids({"--kind", "pre_migration", "--kind", "safety", "--last", "5"}),
              (std::vector<std::string>{pre}));
    EXPECT_EQ(ids({"--last", "2"}), (std::vector<std::string>{third, pre}));
    const auto text = run({"list", "--dir", dir.string(), "--kind", "safety"});
    EXPECT_EQ(text.exit_code, 0);
    EXPECT_NE(text.out.find("no backups of the kinds asked for"), std::string::npos) << text.out;
    const std::vector<std::vector<std::string>> usage_errors{
        {"--kind", "hourly"}, {"--last", "0"}, {"--last", "x"}};
    for (const auto& bad : usage_errors) {
        std::vector<std::string> args{"list", "--dir", dir.string()};
        args.insert(args.end(), bad.begin(), bad.end());
        EXPECT_EQ(run(args).exit_code, 2) << bad[0] << " " << bad[1];
    }
}

TEST_F(Cli, ListReportsDebrisOnStderr) {
    dbsafe::test::create_sample_db(db, 50);
    backup_json();
    std::ofstream(dir / "20260101T000000.000Z-manual-abcdef.db.tmp") << "half";
    const auto r = run({"list", "--dir", dir.string(), "--json"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(json::parse(r.last_line()).size(), 1U);
    EXPECT_NE(r.err.find("20260101T000000.000Z-manual-abcdef.db.tmp"), std::string::npos) << r.err;
}

TEST_F(Cli, QuietPrintsOnlyErrorsAndAskedForJsonAndVerboseSaysHowTheWorkWasDone) {
    dbsafe::test::create_sample_db(db, 50);
    auto r = run({"backup", db.string(), "--dir", dir.string(), "-q"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "");
    expect_only_complete_backups(1);
    std::ofstream(dir / "20260101T000000.000Z-manual-abcdef.db.tmp") << "half";
    r = run({"list", "--dir", dir.string(), "--quiet"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "") << "a note about debris is not an error";
    r = run({"list", "--dir", dir.string(), "-q", "--json"});
    EXPECT_EQ(json::parse(r.last_line()).size(), 1U) << "JSON asked for is printed";
    // Errors still reach stderr, with their exit code.
    r = run({"verify", "--dir", dir.string(), "20990101T000000.000Z-manual-000000", "-q"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("verification failed"), std::string::npos) << r.err;
    r = run({"backup", (tmp / "missing.db").string(), "--dir", dir.string(), "-q"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("missing.db"), std::string::npos) << r.err;
    EXPECT_EQ(run({"list", "--dir", dir.string(), "-q", "-v"}).exit_code, 2);

    // Verbose: the method, the check relied on, how the restored file was proven.
    r = run({"backup", db.string(), "--dir", dir.string(), "-v"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("  method "), std::string::npos) << r.out;
    r = run({"verify", "--dir", dir.string(), "latest", "--verbose"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("(relied on integrity_check at creation"), std::string::npos) << r.out;
    r = run({"restore", db.string(), "--dir", dir.string(), "--latest", "-v"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("backup checked by its checksum: integrity_check passed"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("restored database checked by "), std::string::npos) << r.out;
}

TEST_F(Cli, ConfigFileSettingsApplyBelowFlagsAndTheEnvironmentAndConfigShowSaysWhere) {
    dbsafe::test::create_sample_db(db, 50);
    const auto config = tmp / "config.toml";
    const auto from_file = tmp / "from-file";
    std::ofstream(config) << "# defaults\ndir = \"" << from_file.string()
                          << "\"\nbusy-timeout = 20000\n[backup]\nverify = \"quick\"\n"
                             "require-table = [\"orders\", \"customers\"]\n";
    const auto backup_with = [&](const std::vector<std::string>& extra,
                                 const std::string& env = "") {
        std::vector<std::string> args{"backup", db.string(), "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto r = run(args, env);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return json::parse(r.last_line(), nullptr, false);
    };
    // The file's dir and [backup] settings.
    auto j = backup_with({"--config", config.string()});
    EXPECT_EQ(fs::path(j["path"].get<std::string>()).parent_path(), from_file);
    EXPECT_EQ(j["verified"]["checks"], "quick_check");
    // Flags win; DBSAFE_DIR wins over the file; DBSAFE_CONFIG finds the file.
    const auto flagged = tmp / "flagged";
    j = backup_with({"--config", config.string(), "--dir", flagged.string(), "--verify", "full"});
    EXPECT_EQ(fs::path(j["path"].get<std::string>()).parent_path(), flagged);
    EXPECT_EQ(j["verified"]["checks"], "integrity_check");
    const std::string env =
        "DBSAFE_DIR='" + dir.string() + "' DBSAFE_CONFIG='" + config.string() + "'";
    j = backup_with({}, env);
    EXPECT_EQ(fs::path(j["path"].get<std::string>()).parent_path(), dir);
    EXPECT_EQ(j["verified"]["checks"], "quick_check");

    auto r = run({"config", "show", "--config", config.string(), "--json"},
                 "DBSAFE_DIR='" + dir.string() + "'");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json shown = json::parse(r.last_line());
    std::map<std::string, json> by_name;
    for (const auto& setting : shown["settings"]) by_name[setting["name"]] = setting;
    EXPECT_EQ(by_name["dir"]["source"], "environment");
    EXPECT_EQ(by_name["dir"]["value"], dir.string());
    EXPECT_EQ(by_name["dir"]["file_value"], from_file.string());
    EXPECT_EQ(by_name["verify"]["section"], "backup");
    EXPECT_EQ(by_name["verify"]["source"], "file");

    // A configured dir never turns a valid command line into a usage error: verify --file
    // reads no directory (--dir and --file exclude each other).
    r = run({"verify", "--file", db.string(), "--config", config.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;

    // `json = true` in the file is --json typed: a failure prints its error document too.
    std::ofstream(config) << "json = true\n";
    r = run({"backup", (tmp / "missing.db").string(), "--dir", dir.string(), "--config",
             config.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(json::parse(r.last_line(), nullptr, false).contains("error")) << r.out;

    // A list value reaches the command: a table the database lacks fails the backup.
    std::ofstream(config) << "[backup]\nrequire-table = [\"orders\", \"invoices\"]\n";
    r = run({"backup", db.string(), "--dir", dir.string(), "--config", config.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("invoices"), std::string::npos) << r.err;

    // A setting that would do nothing, a value a flag refuses, a missing file: usage errors
    // naming the file, before anything runs; help and --version still work.
    for (const std::string bad : {"[bakup]\nverify = \"quick\"\n", "frobnicate = 1\n",
                                  "[backup]\nverify = \"sometimes\"\n"}) {
        std::ofstream(config) << bad;
        r = run({"list", "--dir", dir.string(), "--config", config.string()});
        if (bad.find("sometimes") != std::string::npos) {
            r = run({"backup", db.string(), "--dir", dir.string(), "--config", config.string()});
            EXPECT_NE(r.err.find("sometimes"), std::string::npos) << r.err;
        } else {
            EXPECT_NE(r.err.find(config.string()), std::string::npos) << bad << r.err;
        }
        EXPECT_EQ(r.exit_code, 2) << bad << r.err;
        EXPECT_EQ(run({"help"}, "DBSAFE_CONFIG='" + config.string() + "'").exit_code, 0);
    }
    r = run({"list", "--dir", dir.string(), "--config", (tmp / "none.toml").string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("none.toml"), std::string::npos) << r.err;
    r = run({"list", "--dir", dir.string(), "--config", ""});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("path is empty"), std::string::npos) << r.err;
    // A FIFO where the file should be is refused at once, never opened (it would block).
    ASSERT_EQ(::mkfifo((tmp / "fifo.toml").c_str(), 0600), 0);
    r = run({"list", "--dir", dir.string(), "--config", (tmp / "fifo.toml").string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("fifo.toml"), std::string::npos) << r.err;
}

TEST_F(Cli, DiffNamesTablesOnlyOneBackupHasAndRowCountsThatDiffer) {
    dbsafe::test::create_sample_db(db, 200);
    const auto first = backup_json()["id"].get<std::string>();
    const auto orders_before = dbsafe::test::query_int(db, "SELECT count(*) FROM orders");
    dbsafe::test::exec(db,
                       "DELETE FROM orders WHERE id % 4 = 0; DROP TABLE documents;"
                       "CREATE TABLE \"odd \"\"name\"(x); INSERT INTO \"odd \"\"name\" "
                       "VALUES (1), (2), (3)");
    const auto orders_after = dbsafe::test::query_int(db, "SELECT count(*) FROM orders");
    const auto second = backup_json({"--compress", "zstd"})["id"].get<std::string>();

    auto r = run({"diff", "--dir", dir.string(), first, "latest", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json d = json::parse(r.last_line());
    EXPECT_EQ(d["from"]["id"], first);
    EXPECT_EQ(d["to"]["id"], second);
    std::map<std::string, json> changed;
    for (const auto& t : d["tables"]) changed[t["name"]] = t;
    ASSERT_EQ(changed.size(), 3U) << d.dump();
    EXPECT_EQ(changed["orders"]["from"], orders_before);
    EXPECT_EQ(changed["orders"]["to"], orders_after);
    EXPECT_TRUE(changed["documents"]["to"].is_null());
    EXPECT_TRUE(changed["odd \"name"]["from"].is_null());
    EXPECT_EQ(changed["odd \"name"]["to"], 3);
    EXPECT_EQ(d["tables_unchanged"], 3);  // customers, ledger, counters

    r = run({"diff", "--dir", dir.string(), first, second});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("~ orders: " + std::to_string(orders_before) + " -> " +
                         std::to_string(orders_after) + " rows (" +
                         std::to_string(orders_after - orders_before) + ")"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("- documents: only in the first"), std::string::npos) << r.out;
    r = run({"diff", "--dir", dir.string(), first, first});
    EXPECT_NE(r.out.find("no table or row count differs"), std::string::npos) << r.out;

    // A damaged backup is named, not compared. The byte is flipped, not overwritten: the
    // sample's random content may already hold any given value there.
    {
        const auto file = dir / (first + ".db");
        const auto middle = static_cast<std::streamoff>(fs::file_size(file) / 2);
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(middle);
        const auto c = static_cast<char>(f.get());
        f.seekp(middle);
        f.put(static_cast<char>(c ^ 0x5a));
    }
    r = run({"diff", "--dir", dir.string(), first, second});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("checksum"), std::string::npos) << r.err;
    // The same for the compressed one, whose copy open() decompresses and checks.
    {
        const auto file = dir / (second + ".db.zst");
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(static_cast<std::streamoff>(fs::file_size(file) / 2));
        const int c = f.get();
        f.seekp(static_cast<std::streamoff>(fs::file_size(file) / 2));
        f.put(static_cast<char>(c ^ 0x5a));
    }
    r = run({"diff", "--dir", dir.string(), second, second});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.err.find(second), std::string::npos) << r.err;
    EXPECT_EQ(run({"diff", "--dir", dir.string(), first}).exit_code, 2);
}

TEST_F(Cli, VerifyExitsZeroWhenAllPassAndOneWhenAnyFails) {
    dbsafe::test::create_sample_db(db, 300);
    const auto good = backup_json()["id"].get<std::string>();
    const auto bad = backup_json()["id"].get<std::string>();
    auto r = run({"verify", "--dir", dir.string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    r = run({"verify", "--dir", dir.string(), good, "--check", "quick"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

    fs::resize_file(dir / (bad + ".db"), 8192);  // truncated by a failing disk
    r = run({"verify", "--dir", dir.string(), "--json"});
    EXPECT_EQ(r.exit_code, 1);
    const json doc = json::parse(r.last_line(), nullptr, false);
    ASSERT_TRUE(doc.is_object()) << r.out;
    const json& verdicts = doc["backups"];
    ASSERT_EQ(verdicts.size(), 2U);
    EXPECT_TRUE(doc["debris"].empty());
    for (const auto& v : verdicts) {
        EXPECT_EQ(v["ok"].get<bool>(), v["id"] == good) << v.dump();
    }
    r = run({"verify", "--dir", dir.string(), good});
    EXPECT_EQ(r.exit_code, 0);
    r = run({"verify", "--dir", dir.string(), bad});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.out.find(bad), std::string::npos) << r.out;
    // The truncated file no longer has the size its manifest records (issue 13.7).
    EXPECT_NE(r.out.find("size_bytes"), std::string::npos) << r.out;
}

TEST_F(Cli, VerifyTakesAStartOfAnIdOnlyOneBackupHasOrLatestAndFailsOneSeveralHave) {
    dbsafe::test::create_sample_db(db, 100);
    const auto older = backup_json()["id"].get<std::string>();
    const auto newer = backup_json()["id"].get<std::string>();
    std::size_t common = 0;
    while (older[common] == newer[common]) ++common;
    {  // the newer one is damaged: a byte changed in place, so it is still listed
        const auto file = dir / (newer + ".db");
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(static_cast<std::streamoff>(fs::file_size(file) / 2));
        const int c = f.get();
        f.seekp(static_cast<std::streamoff>(fs::file_size(file) / 2));
        f.put(static_cast<char>(c ^ 0x5a));
    }

    const auto verdicts = [&](const std::vector<std::string>& ids) {
        std::vector<std::string> args{"verify", "--dir", dir.string(), "--json"};
        args.insert(args.end(), ids.begin(), ids.end());
        const auto r = run(args);
        const json doc = json::parse(r.last_line(), nullptr, false);
        EXPECT_TRUE(doc.is_object()) << r.out << r.err;
        return std::pair{r.exit_code, doc["backups"]};
    };
    // The start of the good one: verified under its whole id.
    auto [code, v] = verdicts({older.substr(0, common + 1)});
    EXPECT_EQ(code, 0);
    ASSERT_EQ(v.size(), 1U);
    EXPECT_EQ(v[0]["id"], older);
    EXPECT_TRUE(v[0]["ok"].get<bool>());
    // latest: the newest, which is the damaged one, so it fails.
    std::tie(code, v) = verdicts({"latest"});
    EXPECT_EQ(code, 1);
    ASSERT_EQ(v.size(), 1U);
    EXPECT_EQ(v[0]["id"], newer);
    EXPECT_FALSE(v[0]["ok"].get<bool>());
    // A start both share fails with both named; the good one given in full still passes.
    std::tie(code, v) = verdicts({older.substr(0, common), older});
    EXPECT_EQ(code, 1);
    ASSERT_EQ(v.size(), 2U);
    EXPECT_FALSE(v[0]["ok"].get<bool>());
    EXPECT_NE(v[0]["error"].get<std::string>().find(newer), std::string::npos) << v[0].dump();
    EXPECT_EQ(v[1]["id"], older);
    EXPECT_TRUE(v[1]["ok"].get<bool>());
}

TEST_F(Cli, DbsafeDirInTheEnvironmentStandsInForDirAndADirFlagWinsOverIt) {
    dbsafe::test::create_sample_db(db, 100);
    const auto wanted = dbsafe::test::dump_rows(db);
    const std::string env = "DBSAFE_DIR='" + dir.string() + "'";
    auto r = run({"backup", db.string(), "--json"}, env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_only_complete_backups(1);
    r = run({"list", "--json"}, env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.last_line()).size(), 1U) << r.out;
    r = run({"verify", "--json"}, env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json::parse(r.last_line())["backups"].size(), 1U) << r.out;
    // verify --file does not read a directory: the variable does not make it a usage error.
    EXPECT_EQ(run({"verify", "--file", db.string()}, env).exit_code, 0);

    dbsafe::test::exec(db, "DELETE FROM orders");
    r = run({"restore", db.string(), "--latest"}, env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(dbsafe::test::dump_rows(db), wanted);

    // --dir wins: the backup goes there, and the variable's directory gets nothing new.
    const auto other = tmp / "other";
    r = run({"backup", db.string(), "--dir", other.string(), "--json"}, env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(fs::path(json::parse(r.last_line())["path"].get<std::string>()).parent_path(), other);
    const dbsafe::local_directory in_env{dir};
    EXPECT_EQ(in_env.list().value().backups.size(), 2U);  // the backup and restore's safety one
}

TEST_F(Cli, VerifyJsonSaysWhetherItReliedOnTheCheckAtCreation) {
    dbsafe::test::create_sample_db(db, 300);
    const auto trusted = backup_json()["id"].get<std::string>();
    auto r = run({"backup", db.string(), "--dir", dir.string(), "--verify", "none", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const auto unverified = json::parse(r.last_line())["id"].get<std::string>();
    const auto sqlite_check = [&](const std::vector<std::string>& extra, const std::string& id) {
        std::vector<std::string> args{"verify", "--dir", dir.string(), id, "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto out = run(args);
        EXPECT_EQ(out.exit_code, 0) << out.out << out.err;
        return json::parse(out.last_line())["backups"][0]["sqlite_check"].get<std::string>();
    };
    EXPECT_TRUE(sqlite_check({}, trusted).starts_with("relied on integrity_check at creation"))
        << sqlite_check({}, trusted);
    EXPECT_EQ(sqlite_check({"--full-check"}, trusted), "integrity_check");
    EXPECT_EQ(sqlite_check({}, unverified), "integrity_check");
    EXPECT_TRUE(sqlite_check({"--check", "quick"}, trusted).starts_with("relied on"));
}

TEST_F(Cli, VerifyFileChecksAnyFile) {
    dbsafe::test::create_sample_db(db, 100, "delete");
    auto r = run({"verify", "--file", db.string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    const auto id = backup_json()["id"].get<std::string>();
    const auto copy = dir / (id + ".db");
    r = run({"verify", "--file", copy.string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    // A byte flipped in page 1's unallocated gap, where SQLite does not look: only the checksum
    // in the manifest beside the file can tell, so exit 1 shows that manifest was used.
    {
        std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
        std::array<unsigned char, 108> head{};
        f.read(reinterpret_cast<char*>(head.data()), head.size());
        const unsigned cells = head[103] * 256U + head[104];
        ASSERT_LT(108 + 2 * cells + 1, head[105] * 256U + head[106]);
        f.seekp(108 + 2 * cells + 1);
        f.put('\x5a');
    }
    EXPECT_EQ(run({"verify", "--file", copy.string(), "--check", "quick"}).exit_code, 1);
    r = run({"verify", "--file", copy.string()});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    std::ofstream(tmp / "notes.txt") << std::string(4096, 'x');
    r = run({"verify", "--file", (tmp / "notes.txt").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.out.find((tmp / "notes.txt").string()), std::string::npos) << r.out;
}

TEST_F(Cli, UsageErrorsExitTwo) {
    dbsafe::test::create_sample_db(db, 10);
    const std::vector<std::vector<std::string>> usage_errors = {
        {},
        {"frobnicate"},
        {"backup"},
        {"backup", db.string()},
        {"backup", db.string(), "--dir", dir.string(), "--kind", "hourly"},
        {"backup", db.string(), "--dir", dir.string(), "--method", "cp"},
        {"backup", db.string(), "--dir", dir.string(), "--verify", "maybe"},
        {"list"},
        {"verify"},
        {"verify", "--dir", dir.string(), "--file", db.string()},
        {"verify", "--dir", dir.string(), "--check", "none"},
    };
    for (const auto& args : usage_errors) {
        const auto r = run(args);
        std::string joined;
        for (const auto& a : args) joined += a + " ";
        EXPECT_EQ(r.exit_code, 2) << joined << "\n" << r.err;
        EXPECT_FALSE(r.err.empty()) << joined;
    }
    EXPECT_FALSE(fs::exists(dir));
}

TEST_F(Cli, FailuresExitOneWithStderrNamingTheFile) {
    auto r = run({"backup", (tmp / "missing.db").string(), "--dir", dir.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find((tmp / "missing.db").string()), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");

    std::ofstream(db) << std::string(8192, 'x');
    r = run({"backup", db.string(), "--dir", dir.string(), "--json"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(db.string()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not a readable SQLite database"), std::string::npos) << r.err;
    // Issue 13: with --json a failure is one JSON document on stdout (cli_errors_test.cpp).
    EXPECT_EQ(nlohmann::json::parse(r.out)["error"]["code"], "not_a_database") << r.out;

    fs::remove(db);
    dbsafe::test::create_sample_db(db, 50);
    r = run({"backup", db.string(), "--dir", dir.string(), "--require-table", "invoices"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("invoices"), std::string::npos) << r.err;

    // A malformed id is a usage error (issue 13): exit 2, before anything is read.
    r = run({"verify", "--dir", dir.string(), "../app"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("invalid backup id"), std::string::npos) << r.err;
    expect_only_complete_backups(0);
}

TEST_F(Cli, LockedDatabaseFailsAfterTheBusyTimeout) {
    dbsafe::test::create_sample_db(db, 50, "delete");
    dbsafe::test::db_handle locker(db);
    dbsafe::test::exec(locker, "BEGIN EXCLUSIVE");
    const auto r = run({"backup", db.string(), "--dir", dir.string(), "--busy-timeout", "100"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(db.string()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("locked"), std::string::npos) << r.err;
    dbsafe::test::exec(locker, "ROLLBACK");
    expect_only_complete_backups(0);
}

// An I/O error mid-write: a file-size limit (SIGXFSZ ignored) makes writes past 256 KiB fail.
TEST_F(Cli, WriteErrorMidBackupExitsOneAndLeavesOnlyCompleteBackups) {
    dbsafe::test::create_sample_db(db, 2000, "delete");
    backup_json();
    const auto r =
        run({"backup", db.string(), "--dir", dir.string()}, "trap '' XFSZ; ulimit -f 512;");
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find(dir.string()), std::string::npos) << r.err;
    expect_only_complete_backups(1);
}

TEST_F(Cli, OutOfRangeOptionValuesAreUsageErrors) {
    dbsafe::test::create_sample_db(db, 10);
    EXPECT_EQ(
        run({"backup", db.string(), "--dir", dir.string(), "--space-factor", "1e9"}).exit_code, 2);
    EXPECT_EQ(run({"backup", db.string(), "--dir", dir.string(), "--busy-timeout", "-5"}).exit_code,
              2);
    EXPECT_FALSE(fs::exists(dir));
}

TEST_F(Cli, VersionAndHelpExitZero) {
    auto r = run({"--version"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("SQLite"), std::string::npos);
    r = run({"backup", "--help"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("--dir"), std::string::npos);
}

}  // namespace
