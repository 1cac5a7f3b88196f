// The CLI over the page repository, run as a user runs it: `init`, `backup --format`, the page
// counts of `backup`/`list --json`, `backup --no-change-cache`, `stats`, `verify --read-data`,
// and a restore's safety backup in a location set up for pages. Exit codes, JSON parsed, real
// files.
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
using nlohmann::json;
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
    cli_fixture() { dbsafe::test::create_sample_db(live, 1000); }

    json backup(const std::string& flags = {}) {
        const auto r = dbsafe_cli(dir, "backup " + q(live) + dir_arg + " --json" + flags);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return json::parse(r.out);
    }
    std::size_t manifests() const {
        std::size_t n = 0;
        if (!fs::exists(backups)) return 0;
        for (const auto& e : fs::directory_iterator(backups)) n += e.path().extension() == ".json";
        return n;
    }
};

TEST(CliPages, InitMakesEveryBackupAPageSnapshotThatCountsItsPages) {
    cli_fixture f;
    const auto init = dbsafe_cli(f.dir, "init" + f.dir_arg + " --format pages --json");
    ASSERT_EQ(init.exit_code, 0) << init.err;
    EXPECT_EQ(json::parse(init.out)["format"], "pages");

    const json first = f.backup();
    EXPECT_TRUE(first["file"].get<std::string>().ends_with(".pages")) << first;
    EXPECT_EQ(first["pages"]["pages_total"], first["page_count"]);
    EXPECT_EQ(first["pages"]["pages_new"], first["page_count"]);  // an empty repository
    EXPECT_GT(first["pages"]["bytes_added"].get<std::uint64_t>(), 0U);

    dbsafe::test::exec(f.live, "UPDATE orders SET note = 'changed' WHERE id = 7");
    const auto wanted = dump_rows(f.live);
    const json second = f.backup();
    const auto total = second["pages"]["pages_total"].get<std::uint64_t>();
    const auto fresh = second["pages"]["pages_new"].get<std::uint64_t>();
    EXPECT_GE(fresh, 1U);
    EXPECT_LT(fresh, total);  // only what changed was stored
    EXPECT_LT(second["pages"]["bytes_added"].get<std::uint64_t>(),
              first["pages"]["bytes_added"].get<std::uint64_t>());

    // The text output says the same.
    const auto text = dbsafe_cli(f.dir, "backup " + q(f.live) + f.dir_arg);
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("added to the repository"), std::string::npos) << text.out;

    const auto listed = dbsafe_cli(f.dir, "list" + f.dir_arg + " --json");
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    const json l = json::parse(listed.out);
    ASSERT_EQ(l.size(), 3U);
    for (const auto& m : l) {
        EXPECT_EQ(m["pages"]["pages_total"], m["page_count"]) << m;
        EXPECT_TRUE(m["pages"].contains("pages_new"));
        EXPECT_TRUE(m["pages"].contains("bytes_added"));
    }

    // It restores to exactly the database it was taken of.
    const auto to = f.dir / "restored.db";
    const auto restored = dbsafe_cli(
        f.dir, "restore --to " + q(to) + f.dir_arg + " --id " + second["id"].get<std::string>());
    ASSERT_EQ(restored.exit_code, 0) << restored.err;
    EXPECT_EQ(dump_rows(to), wanted);
}

TEST(CliPages, CompressWithFormatPagesIsAUsageErrorThatWritesNothing) {
    cli_fixture f;
    const auto r = dbsafe_cli(
        f.dir, "backup " + q(f.live) + f.dir_arg + " --format pages --compress zstd --json");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--compress and --format pages"), std::string::npos) << r.err;
    EXPECT_EQ(json::parse(r.out)["error"]["code"], "usage");
    EXPECT_EQ(f.manifests(), 0U);
}

// The change cache (pages/change_cache.hpp): a backup of an unchanged database takes every
// page's address from it; --no-change-cache hashes every page and still backs up exactly.
TEST(CliPages, BackupReportsPagesFromTheChangeCacheAndNoChangeCacheHashesEveryPage) {
    cli_fixture f;
    const json first = f.backup(" --format pages");
    ASSERT_TRUE(first["pages"].contains("pages_from_cache")) << first;
    EXPECT_EQ(first["pages"]["pages_from_cache"], 0);  // nothing to compare with yet
    const json unchanged = f.backup(" --format pages");
    ASSERT_TRUE(unchanged["pages"].contains("pages_from_cache")) << unchanged;
    EXPECT_EQ(unchanged["pages"]["pages_from_cache"], unchanged["page_count"]) << unchanged;

    const auto text = dbsafe_cli(f.dir, "backup " + q(f.live) + f.dir_arg + " --format pages");
    ASSERT_EQ(text.exit_code, 0) << text.err;
    const std::string page_count = unchanged["page_count"].dump();
    EXPECT_NE(text.out.find("  pages: " + page_count + " total, 0 new, "), std::string::npos)
        << text.out;
    EXPECT_NE(text.out.find(" added to the repository, " + page_count + " from the change cache\n"),
              std::string::npos)
        << text.out;

    dbsafe::test::exec(f.live, "UPDATE orders SET note = 'hashed' WHERE id = 11");
    const auto wanted = dump_rows(f.live);
    const json hashed = f.backup(" --format pages --no-change-cache");
    ASSERT_TRUE(hashed["pages"].contains("pages_from_cache")) << hashed;
    EXPECT_EQ(hashed["pages"]["pages_from_cache"], 0) << hashed;
    EXPECT_GE(hashed["pages"]["pages_new"].get<std::uint64_t>(), 1U);
    const auto to = f.dir / "restored.db";
    const auto restored = dbsafe_cli(
        f.dir, "restore --to " + q(to) + f.dir_arg + " --id " + hashed["id"].get<std::string>());
    ASSERT_EQ(restored.exit_code, 0) << restored.err;
    EXPECT_EQ(dump_rows(to), wanted);
}

// A backup stored as a file hashes no pages: --no-change-cache there would do nothing, so it
// is a usage error, like --compress with --format pages, and nothing is written.
TEST(CliPages, NoChangeCacheOnABackupStoredAsAFileIsAUsageErrorThatWritesNothing) {
    cli_fixture f;
    for (const std::string flags : {" --format files", " --compress zstd", ""}) {
        const auto r = dbsafe_cli(
            f.dir, "backup " + q(f.live) + f.dir_arg + flags + " --no-change-cache --json");
        EXPECT_EQ(r.exit_code, 2) << flags;
        EXPECT_EQ(r.err.rfind("dbsafe: --no-change-cache is for page backups only", 0), 0U)
            << flags << ": " << r.err;
        EXPECT_NE(r.err.find("--format pages"), std::string::npos) << r.err;
        EXPECT_EQ(json::parse(r.out)["error"]["code"], "usage") << flags;
    }
    EXPECT_EQ(f.manifests(), 0U);
}

TEST(CliPages, FormatFlagChoosesPerBackupOverTheLocationsDefault) {
    cli_fixture f;
    // No config: files, as before.
    EXPECT_TRUE(f.backup()["file"].get<std::string>().ends_with(".db"));
    EXPECT_TRUE(f.backup(" --format pages")["file"].get<std::string>().ends_with(".pages"));
    // A location set up for pages: --format files and --compress still write files.
    ASSERT_EQ(dbsafe_cli(f.dir, "init" + f.dir_arg + " --format pages").exit_code, 0);
    EXPECT_TRUE(f.backup()["file"].get<std::string>().ends_with(".pages"));
    EXPECT_TRUE(f.backup(" --format files")["file"].get<std::string>().ends_with(".db"));
    EXPECT_TRUE(f.backup(" --compress zstd")["file"].get<std::string>().ends_with(".db.zst"));
    // Every format in one directory lists and verifies.
    const auto verified = dbsafe_cli(f.dir, "verify" + f.dir_arg + " --json");
    ASSERT_EQ(verified.exit_code, 0) << verified.out << verified.err;
    const json v = json::parse(verified.out);
    EXPECT_EQ(v["backups"].size(), 5U);
    EXPECT_EQ(v["repository"]["depth"], "structure");
    EXPECT_EQ(v["repository"]["ok"], true);
}

TEST(CliPages, InitKeepsTheFirstChoiceAndRefusesAnother) {
    cli_fixture f;
    ASSERT_EQ(dbsafe_cli(f.dir, "init" + f.dir_arg + " --format files").exit_code, 0);
    EXPECT_EQ(dbsafe_cli(f.dir, "init" + f.dir_arg + " --format files").exit_code, 0);
    const auto other = dbsafe_cli(f.dir, "init" + f.dir_arg + " --format pages");
    EXPECT_EQ(other.exit_code, 1);
    EXPECT_NE(other.err.find("already set up for files"), std::string::npos) << other.err;
    EXPECT_TRUE(f.backup()["file"].get<std::string>().ends_with(".db"));
    EXPECT_EQ(dbsafe_cli(f.dir, "init" + f.dir_arg + " --format tarball").exit_code, 2);
    EXPECT_EQ(dbsafe_cli(f.dir, "init" + f.dir_arg).exit_code, 2);  // --format is required
}

TEST(CliPages, StatsReportsSizeUniquePagesAndDeduplication) {
    cli_fixture f;
    const json a = f.backup(" --format pages");
    dbsafe::test::exec(f.live, "UPDATE orders SET note = 'x' WHERE id = 3");
    const json b = f.backup(" --format pages");
    const json c = f.backup(" --format files");
    const auto r = dbsafe_cli(f.dir, "stats" + f.dir_arg + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json s = json::parse(r.out);
    EXPECT_EQ(s["snapshots"], 2);
    EXPECT_EQ(s["default_format"], "files");
    EXPECT_GE(s["unique_pages"].get<std::uint64_t>(), a["page_count"].get<std::uint64_t>());
    EXPECT_GT(s["stored_bytes"].get<std::uint64_t>(), 0U);
    EXPECT_EQ(s["logical_bytes"].get<std::uint64_t>(),
              a["size_bytes"].get<std::uint64_t>() + b["size_bytes"].get<std::uint64_t>());
    EXPECT_EQ(s["plain_equivalent_bytes"].get<std::uint64_t>(),
              s["logical_bytes"].get<std::uint64_t>() + c["size_bytes"].get<std::uint64_t>());
    EXPECT_GT(s["dedup_ratio"].get<double>(), 1.0);  // two snapshots share most pages

    const auto text = dbsafe_cli(f.dir, "stats" + f.dir_arg);
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_NE(text.out.find("unique pages"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("deduplication"), std::string::npos) << text.out;
    EXPECT_EQ(dbsafe_cli(f.dir, "stats --dir " + q(f.dir / "missing")).exit_code, 1);
}

TEST(CliPages, RestoresSafetyBackupInAPagesLocationIsAPageSnapshot) {
    cli_fixture f;
    ASSERT_EQ(dbsafe_cli(f.dir, "init" + f.dir_arg + " --format pages").exit_code, 0);
    const json taken = f.backup();
    const auto wanted = dump_rows(f.live);
    dbsafe::test::exec(f.live, "DELETE FROM orders");
    const auto r = dbsafe_cli(f.dir, "restore " + q(f.live) + f.dir_arg + " --id " +
                                         taken["id"].get<std::string>() + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_TRUE(j["safety_backup"]["file"].get<std::string>().ends_with(".pages")) << j;
    EXPECT_EQ(dump_rows(f.live), wanted);
}

TEST(CliPages, VerifyReadDataNamesTheSnapshotsADamagedPackTakesDown) {
    cli_fixture f;
    const json a = f.backup(" --format pages");
    const auto clean = dbsafe_cli(f.dir, "verify" + f.dir_arg + " --read-data --json");
    ASSERT_EQ(clean.exit_code, 0) << clean.out << clean.err;
    const json ok = json::parse(clean.out);
    EXPECT_EQ(ok["repository"]["depth"], "read_data");
    EXPECT_GE(ok["repository"]["pages_read"].get<std::uint64_t>(),
              a["page_count"].get<std::uint64_t>());

    // One bit of the first frame of the (only) pack flipped.
    fs::path pack;
    for (const auto& e : fs::directory_iterator(f.backups / "pages" / "packs")) pack = e.path();
    ASSERT_FALSE(pack.empty());
    {
        std::fstream io(pack, std::ios::in | std::ios::out | std::ios::binary);
        io.seekg(64);
        char byte = 0;
        io.read(&byte, 1);
        byte = static_cast<char>(byte ^ 0x10);
        io.seekp(64);
        io.write(&byte, 1);
    }
    const auto bad = dbsafe_cli(f.dir, "verify" + f.dir_arg + " --read-data --json");
    EXPECT_EQ(bad.exit_code, 1) << bad.out;
    const json j = json::parse(bad.out);
    ASSERT_FALSE(j["repository"]["problems"].empty()) << j;
    bool named = false;
    for (const auto& p : j["repository"]["problems"]) {
        for (const auto& id : p["snapshots"]) named = named || id == a["id"];
    }
    EXPECT_TRUE(named) << j;
    EXPECT_EQ(dbsafe_cli(f.dir, "verify --file " + q(f.live) + " --read-data").exit_code, 2);
}

}  // namespace
