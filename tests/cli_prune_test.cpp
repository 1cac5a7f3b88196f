// `dbsafe prune` and `dbsafe health` as users run them: the real binary in a child process, on
// backups made by the library with a controlled clock, judged with --now.
#include <gtest/gtest.h>

#include <chrono>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
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
    const auto empty = with({});
    EXPECT_EQ(empty.exit_code, 1);
    EXPECT_NE(empty.out.find("no backup"), std::string::npos) << empty.out;

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

}  // namespace
