// health on real backup directories: each way of being unhealthy produces its finding with a
// message a person can act on, all findings are reported together, and a healthy directory has
// none.
#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using dbsafe::health_check;
using time_point = system_clock::time_point;

void set_mtime(const fs::path& p, time_point t) {
    const auto ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
    const timespec ts{static_cast<time_t>(ns / 1'000'000'000),
                      static_cast<long>(ns % 1'000'000'000)};
    const timespec times[2] = {ts, ts};
    ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << p;
}

std::string message_of(const dbsafe::health_report& r, health_check c) {
    for (const auto& f : r.findings) {
        if (f.check == c) return f.message;
    }
    return "";
}

class HealthTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dbsafe::test::create_sample_db(db, 100);
        vault.storage = dbsafe::local_directory{dir};
        vault.options.clock = [this] { return clock; };
    }

    dbsafe::manifest backup_aged(hours age) {
        clock = now - age;
        auto made = vault.backup(db);
        clock = now;
        EXPECT_TRUE(made) << (made ? "" : made.error().message);
        return made.value();
    }

    dbsafe::health_report health(dbsafe::health_options opts = {}) {
        auto r = vault.health(opts);
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        return r.value();
    }

    dbsafe::test::temp_dir tmp;
    fs::path db = tmp / "live.db";
    fs::path dir = tmp / "backups";
    const time_point now = floor<seconds>(system_clock::now());
    time_point clock = now;
    dbsafe::vault vault{};
};

TEST_F(HealthTest, FreshVerifiedBackupIsHealthy) {
    const auto m = backup_aged(hours{2});
    const auto r = health({.max_age = hours{26}, .max_total_size = 1ULL << 30U});
    EXPECT_TRUE(r.healthy()) << (r.findings.empty() ? "" : r.findings[0].message);
    EXPECT_EQ(r.backup_count, 1U);
    EXPECT_EQ(r.total_bytes, m.size_bytes);
    ASSERT_TRUE(r.newest);
    EXPECT_EQ(r.newest->id, m.id);
}

TEST_F(HealthTest, NoBackupIsUnhealthy) {
    const auto missing = health();  // the directory does not even exist yet
    ASSERT_EQ(missing.findings.size(), 1U);
    EXPECT_EQ(missing.findings[0].check, health_check::no_backup);
    EXPECT_NE(missing.findings[0].message.find("take one"), std::string::npos);
    fs::create_directory(dir);
    EXPECT_TRUE(health().has(health_check::no_backup));
}

TEST_F(HealthTest, NewestOlderThanMaxAgeIsUnhealthy) {
    backup_aged(days{9});
    const auto newest = backup_aged(hours{27});
    const auto r = health({.max_age = hours{26}});
    ASSERT_EQ(r.findings.size(), 1U);
    const auto msg = message_of(r, health_check::too_old);
    EXPECT_NE(msg.find(newest.id), std::string::npos) << msg;
    EXPECT_NE(msg.find("27 hours ago"), std::string::npos) << msg;
    EXPECT_NE(msg.find("26 hours allowed"), std::string::npos) << msg;
    EXPECT_TRUE(health({.max_age = hours{28}}).healthy());
}

TEST_F(HealthTest, TotalSizeOverTheLimitIsUnhealthy) {
    const auto a = backup_aged(hours{2});
    const auto b = backup_aged(hours{1});
    const auto r = health({.max_total_size = a.size_bytes + b.size_bytes - 1});
    ASSERT_EQ(r.findings.size(), 1U);
    EXPECT_NE(message_of(r, health_check::too_large).find("prune them"), std::string::npos);
    EXPECT_TRUE(health({.max_total_size = a.size_bytes + b.size_bytes}).healthy());
}

TEST_F(HealthTest, NewestFailingVerificationIsUnhealthy) {
    backup_aged(hours{5});
    const auto newest = backup_aged(hours{1});
    {  // flip bytes in the middle of the newest backup's data
        std::fstream f(newest.data_path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(newest.size_bytes / 2));
        f.write("CORRUPTED!", 10);
    }
    const auto r = health();
    ASSERT_EQ(r.findings.size(), 1U);
    const auto msg = message_of(r, health_check::verification_failed);
    EXPECT_NE(msg.find(newest.id), std::string::npos) << msg;
    EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
    EXPECT_TRUE(health({.verify_newest = false}).healthy());
}

TEST_F(HealthTest, OldDebrisIsUnhealthyRecentTempFileIsNot) {
    backup_aged(hours{1});
    const auto running = dir / "20991231T000000.000Z-manual-000001.db.tmp";
    std::ofstream(running) << "in progress";
    EXPECT_TRUE(health().healthy()) << "a backup in progress is not debris yet";

    const auto abandoned = dir / "20200101T000000.000Z-manual-000002.db";
    std::ofstream(abandoned) << "orphan";
    set_mtime(abandoned, now - days{3});
    const auto r = health();
    ASSERT_EQ(r.findings.size(), 1U);
    const auto msg = message_of(r, health_check::debris);
    EXPECT_NE(msg.find(abandoned.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("a prune removes it"), std::string::npos) << msg;
}

TEST_F(HealthTest, ReportsEveryFindingAtOnce) {
    const auto only = backup_aged(days{3});
    std::fstream(only.data_path, std::ios::in | std::ios::out | std::ios::binary)
        .write("garbage!", 8);
    const auto orphan = dir / "20200101T000000.000Z-manual-000002.db.tmp";
    std::ofstream(orphan) << "orphan";
    set_mtime(orphan, now - days{3});
    const auto r = health({.max_age = hours{26}, .max_total_size = 1});
    EXPECT_FALSE(r.healthy());
    for (const auto c : {health_check::too_old, health_check::too_large,
                         health_check::verification_failed, health_check::debris}) {
        EXPECT_TRUE(r.has(c)) << dbsafe::to_string(c);
    }
    EXPECT_EQ(r.findings.size(), 4U);
}

// --- The repository hook (storage/repository_check.hpp): a storage whose backups share data
// has it checked, and each problem is a finding naming the backups it affects.

// local_directory plus a structure check answering `answer`.
struct checked_directory : dbsafe::local_directory {
    using local_directory::local_directory;
    dbsafe::result<dbsafe::check_report> answer = dbsafe::check_report{};
    std::shared_ptr<std::vector<dbsafe::check_depth>> calls =
        std::make_shared<std::vector<dbsafe::check_depth>>();
    [[nodiscard]] dbsafe::result<dbsafe::check_report> check(dbsafe::check_depth d) const {
        calls->push_back(d);
        return answer;
    }
};
static_assert(dbsafe::checks_repository<checked_directory>);
static_assert(!dbsafe::checks_repository<dbsafe::local_directory>);

TEST_F(HealthTest, RepositoryProblemsAreFindingsNamingTheBackupsTheyAffect) {
    const auto m = backup_aged(hours{1});
    checked_directory storage{dir};
    dbsafe::check_report damaged;
    damaged.problems.push_back({"D/pages/packs/ab12.pack", "the pack is missing", {m.id, "x2"}});
    damaged.problems.push_back({"D/pages/lists/cd34.list", "its checksum does not match", {}});
    storage.answer = damaged;
    const auto r = dbsafe::check_health(storage, dbsafe::standard_checks{}, now);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(*storage.calls, std::vector<dbsafe::check_depth>{dbsafe::check_depth::structure});
    EXPECT_FALSE(r.value().healthy());
    std::vector<std::string> messages;
    for (const auto& f : r.value().findings) {
        if (f.check == health_check::repository_damaged) messages.push_back(f.message);
    }
    ASSERT_EQ(messages.size(), 2U);
    EXPECT_EQ(messages[0],
              "D/pages/packs/ab12.pack: the pack is missing; backups that cannot be "
              "restored: " +
                  m.id + ", x2");
    EXPECT_EQ(messages[1],
              "D/pages/lists/cd34.list: its checksum does not match; no backup "
              "needs it");
}

TEST_F(HealthTest, ARepositoryThatCannotBeCheckedIsAFindingAndTheCheckCanBeSkipped) {
    backup_aged(hours{1});
    checked_directory storage{dir};
    storage.answer = dbsafe::error(dbsafe::errc::busy_timeout, "locked by a prune");
    auto r = dbsafe::check_health(storage, dbsafe::standard_checks{}, now);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r.value().has(health_check::repository_damaged));
    EXPECT_NE(message_of(r.value(), health_check::repository_damaged).find("locked by a prune"),
              std::string::npos);
    r = dbsafe::check_health(storage, dbsafe::standard_checks{}, now, {.check_repository = false});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r.value().healthy());
    EXPECT_EQ(storage.calls->size(), 1U);
    // A healthy repository adds nothing.
    storage.answer = dbsafe::check_report{};
    r = dbsafe::check_health(storage, dbsafe::standard_checks{}, now);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r.value().healthy());
}

}  // namespace
