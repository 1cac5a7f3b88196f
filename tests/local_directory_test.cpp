// manifest.hpp and storage/local_directory.hpp: the manifest round-trips and refuses anything
// that would let it name a path outside its directory; the commit protocol publishes data and
// manifest with private modes, never writes through a planted symlink, and list() tells whole
// backups from the debris an interrupted one leaves.
#include "dbsafe/storage/local_directory.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "dbsafe/manifest.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Ids as the vault generates them (list() looks at nothing else); b1's time and kind are
// sample_manifest's.
const std::string b1 = "20261125T114458.123Z-pre_migration-3fa9c1";
const std::string b2 = "20261125T124458.123Z-manual-00000b";
const std::string good = "20261125T104458.123Z-manual-00000c";
const std::string b_old = "20261125T084458.123Z-manual-00000d";
const std::string b_mid = "20261125T094458.123Z-manual-00000e";
const std::string b_new = "20261125T104458.123Z-manual-00000f";

manifest sample_manifest(const std::string& id) {
    manifest m;
    m.id = id;
    m.kind = backup_kind::pre_migration;
    m.created_at =
        std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + 11h + 44min + 58s + 123ms;
    m.source_path = "/srv/app/app.db";
    m.file = id + ".db";
    m.size_bytes = 123456;
    m.checksum.hex = "00112233445566778899aabbccddeeff";
    m.page_size = 4096;
    m.page_count = 30;
    m.sqlite_version = "3.40.1";
    m.schema_version = 7;
    m.schema_policy = "migration_table:knex_migrations";
    m.migrations = {"001_init", "002_users"};
    m.user_version = 7;
    m.method = "backup-api";
    m.dbsafe_version = "0.1.0";
    m.seconds = 0.25;
    m.compression = compression_info{"zstd", 3, 61000};
    return m;
}

std::string read_text(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_text(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::trunc);
    out << text;
}

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
}

TEST(Manifest, RoundTripsEveryField) {
    const manifest m = sample_manifest("20261125T114458.123Z-pre_migration-3fa9c1");
    const auto parsed = parse_manifest(to_json(m).dump(2), "test.json");
    ASSERT_TRUE(parsed) << parsed.error().message;
    const manifest& p = parsed.value();
    EXPECT_EQ(p.format_version, manifest_format_version);
    EXPECT_EQ(p.id, m.id);
    EXPECT_EQ(p.kind, m.kind);
    EXPECT_EQ(p.created_at, m.created_at);
    EXPECT_EQ(p.source_path, m.source_path);
    EXPECT_EQ(p.file, m.file);
    EXPECT_EQ(p.size_bytes, m.size_bytes);
    EXPECT_EQ(p.checksum, m.checksum);
    EXPECT_EQ(p.page_size, m.page_size);
    EXPECT_EQ(p.page_count, m.page_count);
    EXPECT_EQ(p.sqlite_version, m.sqlite_version);
    EXPECT_EQ(p.schema_version, m.schema_version);
    EXPECT_EQ(p.schema_policy, m.schema_policy);
    EXPECT_EQ(p.migrations, m.migrations);
    EXPECT_EQ(p.user_version, m.user_version);
    EXPECT_EQ(p.method, m.method);
    EXPECT_EQ(p.dbsafe_version, m.dbsafe_version);
    EXPECT_DOUBLE_EQ(p.seconds, m.seconds);
    ASSERT_TRUE(p.compression);
    EXPECT_EQ(p.compression->algorithm, "zstd");
    EXPECT_EQ(p.compression->level, 3);
    EXPECT_EQ(p.compression->compressed_size, 61000U);
    EXPECT_EQ(to_json(m)["created_at"], "2026-11-25T11:44:58.123Z");
}

void expect_rejected(nlohmann::json j, const std::string& why) {
    const auto r = parse_manifest(j.dump(), "/backups/x.json");
    ASSERT_FALSE(r) << why << " was accepted";
    EXPECT_TRUE(r.error().is(errc::invalid_manifest)) << why;
    EXPECT_NE(r.error().message.find("/backups/x.json"), std::string::npos) << r.error().message;
}

TEST(Manifest, RejectsIdsAndFilesThatLeaveTheDirectory) {
    const auto good = to_json(sample_manifest(b1));
    auto j = good;
    j["id"] = "../x";
    j["file"] = "../x.db";
    expect_rejected(j, "id ../x");
    j = good;
    j["id"] = "/etc/passwd";
    expect_rejected(j, "absolute id");
    j = good;
    j["file"] = "/etc/passwd";
    expect_rejected(j, "absolute file");
    j = good;
    j["file"] = "../b1.db";
    expect_rejected(j, "file ../b1.db");
    j = good;
    j["file"] = (b1 + ".db/../../x");
    expect_rejected(j, "file with .. after the id");
    j = good;
    j["file"] = "other.db";
    expect_rejected(j, "file of another id");
}

TEST(Manifest, RejectsDamagedOrForeignManifests) {
    const auto good = to_json(sample_manifest(b1));
    auto j = good;
    j["format_version"] = 99;
    expect_rejected(j, "future format");
    j = good;
    j["kind"] = "hourly";
    expect_rejected(j, "unknown kind");
    j = good;
    j["created_at"] = "2026-11-25T12:00:00+01:00";
    expect_rejected(j, "non-UTC time");
    j = good;
    j.erase("checksum");
    expect_rejected(j, "missing checksum");
    j = good;
    j["size_bytes"] = "big";
    expect_rejected(j, "mistyped size");
    EXPECT_FALSE(parse_manifest("{\"id\": ", "t"));
    EXPECT_FALSE(parse_manifest("[1,2]", "t"));
    EXPECT_FALSE(parse_manifest(std::string(max_manifest_bytes + 1, ' '), "t"));
}

// Found by fuzz_manifest: nlohmann converts a float to an integer with a plain cast, which is
// undefined behaviour out of range; a negative size would wrap to 2^64 - 1.
TEST(Manifest, RejectsNumericFieldsThatAreNotIntegersInRange) {
    const auto good = to_json(sample_manifest(b1));
    for (const char* key : {"size_bytes", "format_version", "page_size", "user_version"}) {
        auto j = good;
        j[key] = 4e152;
        expect_rejected(j, std::string(key) + " = 4e152");
        j[key] = 1.5;
        expect_rejected(j, std::string(key) + " = 1.5");
    }
    auto j = good;
    j["size_bytes"] = -1;
    expect_rejected(j, "negative size_bytes");
    j = good;
    j["format_version"] = std::int64_t{1} << 40;  // would truncate to format 0 as an int
    expect_rejected(j, "format_version out of int range");
    j = good;
    j["compression"] = {{"algorithm", "zstd"}, {"level", 3}, {"compressed_size", -5}};
    expect_rejected(j, "negative compressed_size");
    j = good;
    j["compression"] = "zstd";
    expect_rejected(j, "compression not an object");
    j = good;
    j["page_size"] = std::uint64_t{1} << 63;  // above int64 max
    expect_rejected(j, "page_size above int64");
}

class LocalDirectory : public ::testing::Test {
  protected:
    dbsafe::test::temp_dir tmp;
    fs::path dir = tmp / "backups";
    local_directory storage{dir};

    // Stages `id`, writes bytes into the staged file, commits; returns the manifest.
    // created_at and kind are the id's, size_bytes the bytes': what list() checks.
    manifest publish(const std::string& id, const std::string& bytes = "data") {
        auto staged = storage.stage(id);
        EXPECT_TRUE(staged) << staged.error().message;
        write_text(staged.value().path, bytes);
        manifest m = sample_manifest(id);
        m.compression.reset();
        m.created_at = parse_generated_id(id).value().created_at;
        m.kind = parse_generated_id(id).value().kind;
        m.size_bytes = bytes.size();
        auto published = storage.commit(staged.value(), m);
        EXPECT_TRUE(published) << published.error().message;
        return published.value();
    }
};

TEST_F(LocalDirectory, StageCreatesMissingDirectories0700AndAnEmpty0600TempFile) {
    local_directory nested{tmp / "a" / "b" / "c"};
    const auto staged = nested.stage(b1);
    ASSERT_TRUE(staged) << staged.error().message;
    EXPECT_EQ(staged.value().path, tmp / "a" / "b" / "c" / (b1 + ".db.tmp"));
    EXPECT_EQ(fs::file_size(staged.value().path), 0U);
    EXPECT_EQ(mode_of(staged.value().path), 0600U);
    EXPECT_EQ(mode_of(tmp / "a"), 0700U);
    EXPECT_EQ(mode_of(tmp / "a" / "b" / "c"), 0700U);
}

TEST_F(LocalDirectory, CommitPublishesDataAndManifest0600AndListShowsIt) {
    const manifest m = publish(b1, "payload");
    EXPECT_EQ(m.file, (b1 + ".db"));
    EXPECT_EQ(m.data_path, dir / (b1 + ".db"));
    EXPECT_EQ(read_text(dir / (b1 + ".db")), "payload");
    EXPECT_EQ(mode_of(dir / (b1 + ".db")), 0600U);
    EXPECT_EQ(mode_of(dir / (b1 + ".json")), 0600U);
    EXPECT_FALSE(fs::exists(dir / (b1 + ".db.tmp")));
    EXPECT_FALSE(fs::exists(dir / (b1 + ".json.tmp")));
    const auto listed = storage.list();
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed.value().backups.size(), 1U);
    EXPECT_EQ(listed.value().backups[0].id, b1);
    EXPECT_EQ(listed.value().backups[0].data_path, dir / (b1 + ".db"));
    EXPECT_TRUE(listed.value().leftovers.empty());
    const auto opened = storage.open(b1);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(opened.value().path, dir / (b1 + ".db"));
}

TEST_F(LocalDirectory, ListIsNewestFirst) {
    publish(b_old, "1");
    publish(b_new, "2");
    publish(b_mid, "3");
    const auto listed = storage.list();
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed.value().backups.size(), 3U);
    EXPECT_EQ(listed.value().backups[0].id, b_new);
    EXPECT_EQ(listed.value().backups[1].id, b_mid);
    EXPECT_EQ(listed.value().backups[2].id, b_old);
}

TEST_F(LocalDirectory, ListOfAMissingDirectoryIsEmpty) {
    const auto listed = storage.list();
    ASSERT_TRUE(listed);
    EXPECT_TRUE(listed.value().backups.empty());
    EXPECT_FALSE(fs::exists(dir));
}

// Debris is only what a dbsafe crash window leaves, under a name dbsafe creates; a manifest
// that does not parse or has lost its data is a damaged backup (never swept), not debris.
TEST_F(LocalDirectory, DebrisIsReportedNeverListedAsABackup) {
    publish(good);
    const std::string crashed = "20261125T010000.000Z-manual-000001";
    const std::string orphan = "20261125T020000.000Z-manual-000002";
    const std::string late = "20261125T030000.000Z-safety-000003";
    const std::string garbage = "20261125T040000.000Z-manual-000004";
    const std::string lost_id = "20261125T050000.000Z-manual-000005";
    write_text(dir / (crashed + ".db.tmp"), "half");    // died while copying
    write_text(dir / (orphan + ".db"), "whole data");   // died before the manifest
    write_text(dir / (late + ".json.tmp"), "{");        // died while writing the manifest
    write_text(dir / (garbage + ".json"), "not json");  // damaged manifest
    auto lost = sample_manifest(lost_id);               // manifest whose data is gone
    lost.compression.reset();
    lost.created_at = parse_generated_id(lost_id).value().created_at;
    lost.kind = backup_kind::manual;
    write_text(dir / (lost_id + ".json"), manifest_text(lost));
    const auto listed = storage.list();
    ASSERT_TRUE(listed) << listed.error().message;
    ASSERT_EQ(listed.value().backups.size(), 1U);
    EXPECT_EQ(listed.value().backups[0].id, good);
    std::set<std::string> names;
    for (const auto& d : listed.value().leftovers) {
        names.insert(d.path.filename().string());
        EXPECT_FALSE(d.reason.empty());
    }
    EXPECT_EQ(names,
              (std::set<std::string>{crashed + ".db.tmp", orphan + ".db", late + ".json.tmp"}));
    std::set<std::string> damaged;
    for (const auto& d : listed.value().damaged) damaged.insert(d.path.filename().string());
    EXPECT_EQ(damaged, (std::set<std::string>{garbage + ".json", lost_id + ".json"}));
    for (const auto& d : listed.value().leftovers) {
        EXPECT_TRUE(storage.remove_debris(d)) << d.path;
    }
    for (const auto& d : listed.value().damaged) {
        EXPECT_FALSE(storage.remove_debris(d)) << "a damaged backup's manifest was removed";
    }
    EXPECT_TRUE(storage.list().value().leftovers.empty());
    EXPECT_EQ(storage.list().value().damaged.size(), 2U);
    EXPECT_TRUE(fs::exists(dir / (good + ".db")));
}

TEST_F(LocalDirectory, RemoveDebrisRefusesPathsOutsideTheDirectory) {
    write_text(tmp / "victim", "keep me");
    const auto r = storage.remove_debris(debris{tmp / "victim", "x"});
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(errc::invalid_argument));
    EXPECT_EQ(read_text(tmp / "victim"), "keep me");
}

TEST_F(LocalDirectory, InvalidIdsNeverBecomePaths) {
    write_text(tmp / "x.json", "{}");
    write_text(tmp / "x.db", "victim");
    for (const char* id : {"../x", "/tmp/x", "a/b", "", ".."}) {
        const auto staged = storage.stage(id);
        ASSERT_FALSE(staged) << id;
        EXPECT_TRUE(staged.error().is(errc::invalid_id)) << id;
        const auto opened = storage.open(id);
        ASSERT_FALSE(opened);
        EXPECT_TRUE(opened.error().is(errc::invalid_id)) << id;
        const auto removed = storage.remove(id);
        ASSERT_FALSE(removed);
        EXPECT_TRUE(removed.error().is(errc::invalid_id)) << id;
    }
    EXPECT_EQ(read_text(tmp / "x.db"), "victim");
    EXPECT_FALSE(fs::exists(dir)) << "an invalid id created the backup directory";
}

TEST_F(LocalDirectory, StageOfAnExistingIdIsFileExistsSoTheVaultRetries) {
    publish(b1);
    const auto again = storage.stage(b1);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, std::errc::file_exists) << again.error().message;
    EXPECT_NE(again.error().message.find(dir.string()), std::string::npos);
}

TEST_F(LocalDirectory, SymlinkPlantedAtTheStagingNameIsNeverFollowed) {
    fs::create_directories(dir);
    write_text(tmp / "victim", "precious");
    fs::create_symlink(tmp / "victim", dir / (b1 + ".db.tmp"));
    const auto staged = storage.stage(b1);
    ASSERT_FALSE(staged);
    EXPECT_TRUE(staged.error().is(errc::symlink_refused)) << staged.error().message;
    EXPECT_NE(staged.error().message.find((b1 + ".db.tmp")), std::string::npos);
    EXPECT_EQ(read_text(tmp / "victim"), "precious");
    EXPECT_TRUE(fs::is_symlink(dir / (b1 + ".db.tmp")));
}

TEST_F(LocalDirectory, SymlinkPlantedAtTheFinalDataNameIsNeverReplacedOrFollowed) {
    write_text(tmp / "victim", "precious");
    auto staged = storage.stage(b1);
    ASSERT_TRUE(staged);
    write_text(staged.value().path, "new data");
    fs::create_symlink(tmp / "victim", dir / (b1 + ".db"));  // planted between stage and commit
    auto m = sample_manifest(b1);
    m.compression.reset();
    const auto r = storage.commit(staged.value(), m);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find((b1 + ".db")), std::string::npos) << r.error().message;
    EXPECT_EQ(read_text(tmp / "victim"), "precious");
    EXPECT_TRUE(fs::is_symlink(dir / (b1 + ".db")));
    EXPECT_FALSE(fs::exists(dir / (b1 + ".json"))) << "a manifest was published for foreign data";
    storage.discard(staged.value());
    EXPECT_FALSE(fs::exists(dir / (b1 + ".db.tmp")));
    EXPECT_TRUE(storage.list().value().backups.empty());
}

TEST_F(LocalDirectory, SymlinkPlantedAtTheManifestNameLeavesNoBackupAndNoData) {
    for (const std::string& planted : {(b1 + ".json.tmp"), (b1 + ".json")}) {
        SCOPED_TRACE(planted);
        fs::remove_all(dir);
        write_text(tmp / "victim", "precious");
        auto staged = storage.stage(b1);
        ASSERT_TRUE(staged);
        write_text(staged.value().path, "new data");
        fs::create_symlink(tmp / "victim", dir / planted);
        auto m = sample_manifest(b1);
        m.compression.reset();
        const auto r = storage.commit(staged.value(), m);
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message.find(planted), std::string::npos) << r.error().message;
        EXPECT_EQ(read_text(tmp / "victim"), "precious");
        EXPECT_FALSE(fs::exists(dir / (b1 + ".db"))) << "data left behind without a manifest";
        storage.discard(staged.value());
        EXPECT_TRUE(storage.list().value().backups.empty());
    }
}

TEST_F(LocalDirectory, DiscardRemovesTheStagedFileAndSqliteSideFiles) {
    auto staged = storage.stage(b1);
    ASSERT_TRUE(staged);
    for (const char* suffix : {"-journal", "-wal", "-shm"}) {
        write_text(staged.value().path.string() + suffix, "x");
    }
    storage.discard(staged.value());
    EXPECT_TRUE(fs::is_empty(dir));
}

TEST_F(LocalDirectory, RemoveDeletesManifestAndData) {
    publish(b1);
    publish(b2);
    ASSERT_TRUE(storage.remove(b1));
    EXPECT_FALSE(fs::exists(dir / (b1 + ".db")));
    EXPECT_FALSE(fs::exists(dir / (b1 + ".json")));
    const auto listed = storage.list();
    ASSERT_EQ(listed.value().backups.size(), 1U);
    EXPECT_TRUE(listed.value().leftovers.empty());
    const auto again = storage.remove(b1);
    ASSERT_FALSE(again);
    EXPECT_TRUE(again.error().is(errc::not_found));
}

TEST_F(LocalDirectory, ManifestRenamedToAnotherIdIsRejected) {
    publish(b1);
    fs::rename(dir / (b1 + ".json"), dir / (b2 + ".json"));
    const auto opened = storage.open(b2);
    ASSERT_FALSE(opened);
    EXPECT_TRUE(opened.error().is(errc::invalid_manifest)) << opened.error().message;
}

TEST_F(LocalDirectory, OpenOfAnUnknownIdSaysHowToFindIds) {
    const auto opened = storage.open(b2);
    ASSERT_FALSE(opened);
    EXPECT_TRUE(opened.error().is(errc::not_found));
    EXPECT_NE(opened.error().message.find("vault.list()"), std::string::npos);
}

// Issue 13.10: a FIFO under a manifest, data or temp name is never opened (opening one for
// reading blocks until a writer comes): list() returns at once and calls it debris; a manifest
// whose data file is a FIFO is a damaged backup. An alarm turns a regression into a failure.
TEST_F(LocalDirectory, FifosAreDebrisAndNeverOpened) {
    publish(good);
    const std::string ghost = "20261125T010000.000Z-manual-000001";
    ASSERT_EQ(::mkfifo((dir / (ghost + ".json")).c_str(), 0600), 0);
    ASSERT_EQ(::mkfifo((dir / (ghost + ".db.tmp")).c_str(), 0600), 0);
    auto piped = sample_manifest(b2);
    piped.compression.reset();
    piped.created_at = parse_generated_id(b2).value().created_at;
    piped.kind = backup_kind::manual;
    piped.file = b2 + ".db";
    write_text(dir / (b2 + ".json"), manifest_text(piped));
    ASSERT_EQ(::mkfifo((dir / (b2 + ".db")).c_str(), 0600), 0);
    ::alarm(20);
    const auto listed = storage.list();
    const auto opened = storage.open(b2);
    ::alarm(0);
    ASSERT_TRUE(listed) << listed.error().message;
    ASSERT_EQ(listed.value().backups.size(), 1U);
    std::set<std::string> names;
    for (const auto& d : listed.value().leftovers) names.insert(d.path.filename().string());
    EXPECT_EQ(names, (std::set<std::string>{ghost + ".json", ghost + ".db.tmp"}));
    ASSERT_EQ(listed.value().damaged.size(), 1U);
    EXPECT_NE(listed.value().damaged[0].reason.find("not a regular file"), std::string::npos);
    ASSERT_FALSE(opened);
    for (const auto& d : listed.value().leftovers) EXPECT_TRUE(storage.remove_debris(d));
    EXPECT_FALSE(fs::exists(fs::symlink_status(dir / (ghost + ".json"))));
    const auto read = detail::open_for_read(dir / (b2 + ".db"));
    ASSERT_FALSE(read);
    EXPECT_NE(read.error().message.find("not a regular file"), std::string::npos);
}

}  // namespace
