// `dbsafe prune` and `dbsafe health` as users run them: the real binary in a child process, on
// backups made by the library with a controlled clock, judged with --now.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using dbsafe::backup_kind;
using time_point = system_clock::time_point;

std::map<std::string, std::string> snapshot_dir(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        out[e.path().filename().string()] = dbsafe::test::slurp(e.path());
    }
    return out;
}

class CliPrune : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(fs::exists(DBSAFE_CLI_PATH)) << "build the dbsafe_cli target first";
        dbsafe::test::create_sample_db(db, 50);
        vault.storage = dbsafe::local_directory{dir};
        vault.options.clock = [this] { return clock; };
    }

    dbsafe::manifest backup_aged(hours age, backup_kind kind = backup_kind::manual) {
        clock = now - age;
        auto made = vault.backup(db, {.kind = kind});
        EXPECT_TRUE(made) << (made ? "" : made.error().message);
        return made.value();
    }

    dbsafe::test::child_result cli(std::vector<std::string> args) {
        args.insert(args.begin(), DBSAFE_CLI_PATH);
        return dbsafe::test::run(args, {}, tmp.path());
    }

    std::vector<std::string> prune_args(std::vector<std::string> extra) {
        std::vector<std::string> args = {"prune", "--dir", dir.string(), "--now", now_text};
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    }

    bool backup_exists(const dbsafe::manifest& m) {
        return fs::exists(m.data_path) && fs::exists(vault.storage.manifest_path(m.id));
    }

    dbsafe::test::temp_dir tmp;
    fs::path db = tmp / "live.db";
    fs::path dir = tmp / "backups";
    const time_point now = sys_days{2026y / June / 15} + hours{12};
    const std::string now_text = "2026-06-15T12:00:00Z";
    time_point clock = now;
    dbsafe::vault vault{};
};

TEST_F(CliPrune, BadFlagValuesAreUsageErrorsThatDeleteNothing) {
    backup_aged(days{40});
    backup_aged(days{1});
    const auto before = snapshot_dir(dir);
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--keep-within", "banana"}, "invalid duration 'banana'"},
        {{"--keep-within", "30"}, "has no unit"},
        {{"--max-total-size", "10GB"}, "ambiguous"},
        {{"--max-total-size", "lots"}, "invalid size 'lots'"},
        {{"--keep-last", "-1"}, "--keep-last"},
        {{"--keep-last", "0"}, "invalid count '0'"},
        {{"--keep-daily", "two"}, "invalid count 'two'"},
        {{"--keep-kind", "weekly"}, "invalid backup kind 'weekly'"},
        {{"--now", "yesterday"}, "invalid time 'yesterday'"},
        {{"--debris-grace", "5x"}, "invalid duration '5x'"},
        {{"--keep-forever"}, "--keep-forever"},
    };
    for (const auto& [flags, message] : cases) {
        SCOPED_TRACE(flags.front() + " " + flags.back());
        const auto r = cli(prune_args(flags));
        EXPECT_EQ(r.exit_code, 2) << r.err;
        EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
        EXPECT_EQ(snapshot_dir(dir), before);
    }
}

TEST_F(CliPrune, DefaultPolicyPrintsOneJsonArrayAndDeletes) {
    const auto premig = backup_aged(days{90}, backup_kind::pre_migration);
    const auto old = backup_aged(days{40});
    const auto safety = backup_aged(days{31}, backup_kind::safety);
    const auto fresh = backup_aged(days{1});

    const auto r = cli(prune_args({"--json"}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_TRUE(j.is_array());
    ASSERT_EQ(j.size(), 4U);
    const std::vector<std::string> order = {fresh.id, safety.id, old.id, premig.id};
    const std::vector<std::string> actions = {"keep", "delete", "delete", "keep"};
    for (std::size_t i = 0; i < j.size(); ++i) {
        SCOPED_TRACE(i);
        std::set<std::string> keys;
        for (const auto& [k, v] : j[i].items()) keys.insert(k);
        EXPECT_EQ(keys, (std::set<std::string>{"id", "kind", "created_at", "action", "reasons"}));
        EXPECT_EQ(j[i]["id"], order[i]) << "newest first";
        EXPECT_EQ(j[i]["action"], actions[i]);
        EXPECT_TRUE(j[i]["reasons"].is_array() && !j[i]["reasons"].empty());
    }
    EXPECT_EQ(j[0]["created_at"], "2026-06-14T12:00:00.000Z");
    EXPECT_EQ(j[0]["reasons"][0], "kept: within 30 days");
    EXPECT_EQ(j[1]["kind"], "safety");
    EXPECT_EQ(j[1]["reasons"][0], "deleted: older than 30 days");
    EXPECT_EQ(j[3]["reasons"][0], "kept: kind pre_migration");

    EXPECT_TRUE(backup_exists(fresh));
    EXPECT_TRUE(backup_exists(premig));
    EXPECT_FALSE(fs::exists(old.data_path));
    EXPECT_FALSE(fs::exists(safety.data_path));
    EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 4);
}

TEST_F(CliPrune, DryRunChangesNothing) {
    backup_aged(days{40});
    backup_aged(days{35});
    backup_aged(days{1});
    const auto before = snapshot_dir(dir);
    const auto human = cli(prune_args({"--dry-run"}));
    EXPECT_EQ(human.exit_code, 0) << human.err;
    EXPECT_NE(human.out.find("would delete 2 backups"), std::string::npos) << human.out;
    const auto json = cli(prune_args({"--dry-run", "--json"}));
    EXPECT_EQ(json.exit_code, 0) << json.err;
    EXPECT_EQ(nlohmann::json::parse(json.out).size(), 3U);
    EXPECT_EQ(snapshot_dir(dir), before);
}

TEST_F(CliPrune, KeepFlagsReplaceTheDefaultPolicy) {
    const auto premig = backup_aged(days{4}, backup_kind::pre_migration);
    const auto third = backup_aged(days{3});
    const auto second = backup_aged(days{2});
    const auto first = backup_aged(days{1});
    // Without the default, nothing keeps the pre_migration backup.
    const auto r = cli(prune_args({"--keep-last", "2"}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(backup_exists(first));
    EXPECT_TRUE(backup_exists(second));
    EXPECT_FALSE(backup_exists(third));
    EXPECT_FALSE(backup_exists(premig));
}

TEST_F(CliPrune, KeepKindAndCalendarFlagsCombine) {
    const auto premig = backup_aged(days{60}, backup_kind::pre_migration);
    const auto may = backup_aged(days{45});     // 2026-05-01
    const auto early = backup_aged(hours{30});  // 2026-06-14 06:00
    const auto late = backup_aged(hours{20});   // 2026-06-14 16:00
    const auto r = cli(prune_args({"--keep-kind", "pre_migration", "--keep-daily", "2", "--json"}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(backup_exists(premig));
    EXPECT_TRUE(backup_exists(may));  // the second day with backups
    EXPECT_TRUE(backup_exists(late));
    EXPECT_FALSE(backup_exists(early));  // not the newest of its day
}

TEST_F(CliPrune, MaxTotalSizeTrimsTheDefaultOldestFirst) {
    const auto oldest = backup_aged(days{3});
    const auto middle = backup_aged(days{2});
    const auto newest = backup_aged(days{1});
    const std::string cap = std::to_string(middle.size_bytes + newest.size_bytes);
    const auto r = cli(prune_args({"--max-total-size", cap}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(backup_exists(oldest));
    EXPECT_TRUE(backup_exists(middle));
    EXPECT_TRUE(backup_exists(newest));
    EXPECT_NE(r.out.find("over the"), std::string::npos) << r.out;
}

TEST_F(CliPrune, SweepsDebrisAndSaysSo) {
    const auto kept = backup_aged(days{1});
    const auto orphan = dir / "20200101T000000.000Z-manual-00000a.db";
    std::ofstream(orphan) << "orphan";
    fs::last_write_time(orphan, fs::file_time_type::clock::now() - hours{48});
    // No --now: debris ages are judged by the real clock (a --now in the past makes files look
    // younger, never older).
    const auto r = cli({"prune", "--dir", dir.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(fs::exists(orphan));
    EXPECT_NE(r.out.find("removed debris " + orphan.string()), std::string::npos) << r.out;
    EXPECT_TRUE(backup_exists(kept));
}

using CliHealth = CliPrune;

TEST_F(CliHealth, ExitCodeAndFindingsFollowTheState) {
    std::vector<std::string> base = {"health", "--dir", dir.string()};
    auto with = [&](std::vector<std::string> extra) {
        auto args = base;
        args.insert(args.end(), extra.begin(), extra.end());
        return cli(args);
    };
    fs::create_directories(dir);  // a missing --dir is an error of its own (see below)
    const auto empty = with({});
    EXPECT_EQ(empty.exit_code, 1);
    EXPECT_NE(empty.out.find("no backup"), std::string::npos) << empty.out;
    // The library's finding says what; the tool adds the command that does it.
    EXPECT_NE(empty.out.find("hint: take one with `dbsafe backup DB --dir " + dir.string() + "`"),
              std::string::npos)
        << empty.out;

    clock = system_clock::now();
    vault.options.clock = {};
    const auto made = vault.backup(db).value();
    const auto healthy = with({"--max-age", "26h", "--json"});
    EXPECT_EQ(healthy.exit_code, 0) << healthy.out;
    const auto j = nlohmann::json::parse(healthy.out);
    EXPECT_EQ(j["healthy"], true);
    EXPECT_EQ(j["backups"], 1);
    EXPECT_EQ(j["newest"]["id"], made.id);
    EXPECT_TRUE(j["findings"].empty());

    const auto too_large = with({"--max-total-size", "1KiB", "--json"});
    EXPECT_EQ(too_large.exit_code, 1);
    const auto f = nlohmann::json::parse(too_large.out)["findings"];
    ASSERT_EQ(f.size(), 1U);
    EXPECT_EQ(f[0]["check"], "too_large");
    EXPECT_EQ(f[0]["hint"],
              "`dbsafe prune --dir " + dir.string() + "` (e.g. with --max-total-size)");

    const auto bad = with({"--max-age", "banana"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("invalid duration 'banana'"), std::string::npos) << bad.err;
}

TEST_F(CliHealth, StaleBackupIsUnhealthyWithItsAge) {
    clock = system_clock::now() - days{3};
    ASSERT_TRUE(vault.backup(db));
    const auto r = cli({"health", "--dir", dir.string(), "--max-age", "26h"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.out.find("UNHEALTHY"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("more than the 26 hours allowed"), std::string::npos) << r.out;
}

// Issue 13.1, as users hit it: `dbsafe backup app.db --dir .` keeps the live database in the
// backup directory; prune with no grace period leaves it, its WAL files and every other file
// dbsafe did not create byte for byte, and still sweeps real debris.
TEST_F(CliPrune, NeverTouchesALiveDatabaseKeptInTheBackupDirectory) {
    const fs::path here = tmp / "here";
    fs::create_directories(here);
    const fs::path app = here / "app.db";
    dbsafe::test::create_sample_db(app, 50);
    dbsafe::test::db_handle open_connection(app);  // app.db-wal and app.db-shm stay present
    dbsafe::test::exec(open_connection.db, "INSERT INTO counters VALUES ('open', 1)");
    for (const char* name : {"notes.txt", "other.db", "x.json", "x.db.tmp", "app.json"}) {
        std::ofstream(here / name) << "not dbsafe's: " << name;
        fs::last_write_time(here / name, fs::file_time_type::clock::now() - days{400});
    }
    const auto made = cli({"backup", app.string(), "--dir", here.string(), "--json"});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    const auto debris = here / "20200101T000000.000Z-manual-00000a.db.tmp";
    std::ofstream(debris) << "half";
    fs::last_write_time(debris, fs::file_time_type::clock::now() - hours{48});
    auto before = snapshot_dir(here);
    before.erase(debris.filename().string());
    ASSERT_TRUE(before.contains("app.db-wal"));

    const auto r =
        cli({"prune", "--dir", here.string(), "--debris-grace", "0h", "--keep-last", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(fs::exists(debris));
    const auto after = snapshot_dir(here);
    for (const auto& [name, bytes] : before) {
        EXPECT_TRUE(after.contains(name) && after.at(name) == bytes)
            << name << " was changed or removed";
    }
    EXPECT_EQ(after.size(), before.size());
    for (const auto& cmd : {"list", "verify", "health"}) {
        const auto seen = cli({cmd, "--dir", here.string()});
        EXPECT_EQ(seen.out.find("app.db "), std::string::npos) << cmd << ": " << seen.out;
        EXPECT_EQ(seen.err.find("notes.txt"), std::string::npos) << cmd << ": " << seen.err;
        EXPECT_EQ(seen.err.find("other.db"), std::string::npos) << cmd << ": " << seen.err;
        EXPECT_EQ(seen.out.find("other.db"), std::string::npos) << cmd << ": " << seen.out;
    }
}

// Issue 13.8: zero-length windows are usage errors like --keep-last 0; a --now more than a day
// ahead needs --allow-future-now; and no flag combination deletes the newest backup unless
// --allow-delete-newest says so.
TEST_F(CliPrune, RetentionNeverDeletesEverything) {
    const auto premig = backup_aged(days{40}, backup_kind::pre_migration);
    const auto older = backup_aged(days{2});
    const auto newest = backup_aged(days{1});
    const auto before = snapshot_dir(dir);
    for (const auto& flags : std::vector<std::vector<std::string>>{{"--keep-within", "0d"},
                                                                   {"--keep-within", "0h"},
                                                                   {"--keep-hourly", "0"},
                                                                   {"--keep-daily", "0"},
                                                                   {"--keep-last", "0"}}) {
        const auto r = cli(prune_args(flags));
        EXPECT_EQ(r.exit_code, 2) << flags[0] << " " << flags[1] << ": " << r.err;
    }
    const auto future = cli({"prune", "--dir", dir.string(), "--now", "2099-01-01"});
    EXPECT_EQ(future.exit_code, 2) << future.err;
    EXPECT_NE(future.err.find("--allow-future-now"), std::string::npos) << future.err;
    EXPECT_EQ(snapshot_dir(dir), before) << "a usage error deleted something";

    const auto kind_only = cli(prune_args({"--keep-kind", "safety"}));
    ASSERT_EQ(kind_only.exit_code, 0) << kind_only.err;
    EXPECT_TRUE(backup_exists(newest));
    EXPECT_FALSE(backup_exists(older));
    EXPECT_FALSE(backup_exists(premig));
    EXPECT_NE(kind_only.out.find("the newest backup of"), std::string::npos) << kind_only.out;

    const auto far =
        cli({"prune", "--dir", dir.string(), "--now", "2099-01-01", "--allow-future-now"});
    ASSERT_EQ(far.exit_code, 0) << far.err;
    EXPECT_TRUE(backup_exists(newest));
    const auto forced = cli({"prune", "--dir", dir.string(), "--now", "2099-01-01",
                             "--allow-future-now", "--keep-within", "1d", "--allow-delete-newest"});
    ASSERT_EQ(forced.exit_code, 0) << forced.err;
    EXPECT_FALSE(backup_exists(newest));
}

// Issue 13.13(b): a --dir that does not exist is an error naming it, not "no backups".
TEST_F(CliPrune, MissingDirectoryIsAnErrorNamingIt) {
    const std::string missing = (tmp / "does-not-exist").string();
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"list", "--dir", missing},
             {"verify", "--dir", missing},
             {"prune", "--dir", missing},
             {"health", "--dir", missing},
             {"restore", db.string(), "--dir", missing, "--latest"}}) {
        const auto r = cli(args);
        EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << r.out << r.err;
        EXPECT_NE(r.err.find(missing + " does not exist"), std::string::npos) << args[0] << r.err;
        EXPECT_EQ(r.out.find("no backups"), std::string::npos) << args[0] << r.out;
    }
    EXPECT_FALSE(fs::exists(missing));
}

// Issue 13.13(a): after a crashed backup, verify reports the temp file as debris, not as a
// failed backup; health counts it as a finding.
TEST_F(CliPrune, VerifyReportsDebrisAsDebrisAndFailsOnlyBackups) {
    const auto kept = backup_aged(days{1});
    const auto crashed = dir / "20260101T000000.000Z-manual-00000b.db.tmp";
    std::ofstream(crashed) << "half a snapshot";
    fs::last_write_time(crashed, fs::file_time_type::clock::now() - hours{48});
    const auto r = cli({"verify", "--dir", dir.string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out.find("FAILED"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("debris"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(crashed.string()), std::string::npos) << r.err;
    const auto j = cli({"verify", "--dir", dir.string(), "--json"});
    EXPECT_EQ(j.exit_code, 0) << j.err;
    const auto doc = nlohmann::json::parse(j.out);
    ASSERT_EQ(doc["backups"].size(), 1U);
    EXPECT_EQ(doc["backups"][0]["id"], kept.id);
    ASSERT_EQ(doc["debris"].size(), 1U);
    EXPECT_EQ(doc["debris"][0]["path"], crashed.string());
    const auto health = cli({"health", "--dir", dir.string(), "--json"});
    EXPECT_EQ(health.exit_code, 1);
    EXPECT_EQ(nlohmann::json::parse(health.out)["findings"][0]["check"], "debris");
}

// Rewrites one field of a manifest as a tamperer (or a flipped bit) would.
void tamper(const fs::path& manifest_file, const std::string& field, const nlohmann::json& value) {
    auto j = nlohmann::json::parse(dbsafe::test::slurp(manifest_file));
    j[field] = value;
    std::ofstream(manifest_file, std::ios::trunc) << j.dump(2);
}

// Issue 13.7: a flipped bit in size_bytes fails verify naming the field and makes
// --max-total-size delete nothing; created_at 2026 -> 2036 fails verify and `restore --latest`
// restores the genuinely newest valid backup.
TEST_F(CliPrune, TamperedManifestFieldsFailVerifyAndDecideNothing) {
    const auto oldest = backup_aged(days{3});
    const auto middle = backup_aged(days{2});
    const auto newest = backup_aged(days{1});
    tamper(vault.storage.manifest_path(middle.id), "size_bytes",
           middle.size_bytes ^ (std::uint64_t{1} << 30));
    const auto v = cli({"verify", "--dir", dir.string(), middle.id});
    EXPECT_EQ(v.exit_code, 1);
    EXPECT_NE(v.out.find("size_bytes"), std::string::npos) << v.out;
    const auto all = cli({"verify", "--dir", dir.string()});
    EXPECT_EQ(all.exit_code, 1);
    EXPECT_NE(all.out.find("FAILED  " + middle.id), std::string::npos) << all.out;
    const auto before = snapshot_dir(dir);
    const std::string cap =
        std::to_string(oldest.size_bytes + middle.size_bytes + newest.size_bytes);
    const auto pruned = cli(prune_args({"--max-total-size", cap}));
    EXPECT_EQ(pruned.exit_code, 0) << pruned.err;
    EXPECT_EQ(snapshot_dir(dir), before) << pruned.out;

    // The oldest claims to be from ten years later.
    auto created = dbsafe::detail::format_iso8601(oldest.created_at);
    created.replace(0, 4, std::to_string(std::stoi(created.substr(0, 4)) + 10));
    tamper(vault.storage.manifest_path(oldest.id), "created_at", created);
    const auto t = cli({"verify", "--dir", dir.string(), oldest.id});
    EXPECT_EQ(t.exit_code, 1);
    EXPECT_NE(t.out.find("created_at"), std::string::npos) << t.out;
    // Into the database the backups are of: `--latest` considers only its backups.
    const auto restored =
        cli({"restore", db.string(), "--dir", dir.string(), "--latest", "--json"});
    ASSERT_EQ(restored.exit_code, 0) << restored.err;
    EXPECT_NE(restored.out.find(newest.id), std::string::npos) << restored.out;
    EXPECT_EQ(restored.out.find(oldest.id), std::string::npos) << restored.out;
}

// Runs the CLI with an alarm: a command that blocks (on a FIFO, say) is killed after `seconds`
// and the test fails instead of hanging the suite.
dbsafe::test::child_result cli_with_timeout(const fs::path& scratch, std::vector<std::string> args,
                                            unsigned seconds = 20) {
    args.insert(args.begin(), DBSAFE_CLI_PATH);
    const auto out = scratch / "timed.out";
    const auto err = scratch / "timed.err";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::alarm(seconds);  // survives exec: SIGALRM ends a hung child
        const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(o, 1);
        ::dup2(e, 2);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return dbsafe::test::wait_child(pid, out, err);
}

// Issue 13.10: FIFOs named like a manifest, a data file and a temp file hung list, verify,
// prune, health and restore --latest. Nothing is opened blocking: each command finishes, the
// FIFOs are reported as debris, and the real backup is still listed and restorable.
TEST_F(CliPrune, FifosInTheBackupDirectoryNeverHangAnything) {
    const auto good = backup_aged(days{1});
    const std::string ghost = "20260101T000000.000Z-manual-00000c";
    const std::string data_only = "20260102T000000.000Z-manual-00000d";
    for (const auto& name : {ghost + ".json", data_only + ".db", ghost + ".db.tmp"}) {
        ASSERT_EQ(::mkfifo((dir / name).c_str(), 0600), 0) << name;
    }
    // A FIFO as the data file of a manifest that is otherwise valid.
    const std::string piped = "20260103T000000.000Z-manual-00000e";
    {
        auto j = nlohmann::json::parse(dbsafe::test::slurp(vault.storage.manifest_path(good.id)));
        j["id"] = piped;
        j["file"] = piped + ".db";
        j["created_at"] = "2026-01-03T00:00:00.000Z";
        j.erase("manifest_checksum");
        std::ofstream(dir / (piped + ".json")) << j.dump(2);
        ASSERT_EQ(::mkfifo((dir / (piped + ".db")).c_str(), 0600), 0);
    }
    const fs::path live = db;  // `restore --latest` considers only the backups of this database
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"list", "--dir", dir.string()},
             {"verify", "--dir", dir.string()},
             {"verify", "--dir", dir.string(), piped},
             {"health", "--dir", dir.string()},
             {"prune", "--dir", dir.string(), "--dry-run"},
             {"restore", live.string(), "--dir", dir.string(), "--latest"}}) {
        const auto r = cli_with_timeout(tmp.path(), args);
        EXPECT_EQ(r.signal, 0) << args[0] << " hung on a FIFO (killed by signal " << r.signal
                               << ")";
        EXPECT_NE(r.exit_code, -1) << args[0];
    }
    const auto listed = cli_with_timeout(tmp.path(), {"list", "--dir", dir.string(), "--json"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    std::set<std::string> ids;  // the good backup, and the safety backup restore took
    for (const auto& b : nlohmann::json::parse(listed.out)) ids.insert(b["id"].get<std::string>());
    EXPECT_TRUE(ids.contains(good.id));
    EXPECT_FALSE(ids.contains(piped));
    EXPECT_FALSE(ids.contains(ghost));
    EXPECT_EQ(ids.size(), 2U);
    for (const auto& name : {ghost + ".json", data_only + ".db", ghost + ".db.tmp"}) {
        EXPECT_NE(listed.err.find(name), std::string::npos)
            << name << " not reported: " << listed.err;
    }
    EXPECT_NE(listed.err.find(piped), std::string::npos) << listed.err;  // a damaged backup
    // prune sweeps the planted FIFOs (never opening them) and leaves the damaged backup.
    const auto swept =
        cli_with_timeout(tmp.path(), {"prune", "--dir", dir.string(), "--debris-grace", "0h"});
    EXPECT_EQ(swept.exit_code, 0) << swept.err;
    EXPECT_FALSE(fs::exists(fs::symlink_status(dir / (ghost + ".json"))));
    EXPECT_TRUE(fs::exists(fs::symlink_status(dir / (piped + ".db"))));
    EXPECT_TRUE(backup_exists(good));
}

}  // namespace
