// prune on real backup directories: what is deleted (manifest and data), what a dry run leaves
// (everything), what a crash between manifest and data removal leaves (a state list, verify and
// the next prune handle), which debris is swept, and that a backup in progress is never touched.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using dbsafe::backup_kind;
using time_point = system_clock::time_point;

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void set_mtime(const fs::path& p, time_point t) {
    const auto ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
    const timespec ts{static_cast<time_t>(ns / 1'000'000'000),
                      static_cast<long>(ns % 1'000'000'000)};
    const timespec times[2] = {ts, ts};
    ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << p;
}

void touch(const fs::path& p, time_point mtime, const std::string& content = "partial") {
    std::ofstream(p, std::ios::binary) << content;
    set_mtime(p, mtime);
}

// Every file in `dir` with its full content: equal snapshots mean nothing changed.
std::map<std::string, std::string> snapshot_dir(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        out[e.path().filename().string()] = slurp(e.path());
    }
    return out;
}

std::set<std::string> files_in(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
    return out;
}

class PruneTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dbsafe::test::create_sample_db(db, 200);
        vault.storage = dbsafe::local_directory{dir};
        vault.options.clock = [this] { return clock; };
    }

    // A backup as it would have been taken `age` ago: created_at from the injected clock, and
    // file times to match (debris ages are judged by mtime).
    dbsafe::manifest backup_aged(hours age, backup_kind kind = backup_kind::manual) {
        clock = now - age;
        auto made = vault.backup(db, {.kind = kind});
        clock = now;
        EXPECT_TRUE(made) << (made ? "" : made.error().message);
        const auto m = made.value();
        set_mtime(m.data_path, now - age);
        set_mtime(vault.storage.manifest_path(m.id), now - age);
        return m;
    }

    dbsafe::prune_report prune(dbsafe::prune_options opts = {}) {
        auto r = vault.prune(opts);
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

const dbsafe::pruned_backup& entry(const dbsafe::prune_report& r, const std::string& id) {
    for (const auto& b : r.backups) {
        if (b.backup.id == id) return b;
    }
    throw std::runtime_error("no entry for " + id);
}

TEST_F(PruneTest, DeletesManifestAndDataOfWhatThePolicyDeletes) {
    const auto old = backup_aged(days{40});
    const auto premig = backup_aged(days{35}, backup_kind::pre_migration);
    const auto recent = backup_aged(days{10});
    const auto fresh = backup_aged(hours{1});

    const auto report = prune();
    ASSERT_TRUE(report.complete());
    EXPECT_EQ(report.deletions(), 1U);
    EXPECT_TRUE(entry(report, old.id).removed);
    EXPECT_EQ(entry(report, old.id).decision.reasons.front(), "deleted: older than 30 days");
    EXPECT_EQ(report.bytes_freed, old.size_bytes);
    EXPECT_FALSE(fs::exists(old.data_path));
    EXPECT_FALSE(fs::exists(vault.storage.manifest_path(old.id)));

    const auto listed = vault.list().value();
    EXPECT_TRUE(listed.leftovers.empty());
    ASSERT_EQ(listed.backups.size(), 3U);
    for (const auto& m : {premig, recent, fresh}) {
        const auto checked = vault.verify(m.id);
        EXPECT_TRUE(checked) << m.id << ": " << (checked ? "" : checked.error().message);
        EXPECT_EQ(dbsafe::test::dump_rows(m.data_path), dbsafe::test::dump_rows(db));
    }
    // Nothing more to do: a second prune deletes nothing.
    EXPECT_EQ(prune().deletions(), 0U);
    EXPECT_EQ(vault.list().value().backups.size(), 3U);
}

TEST_F(PruneTest, DryRunLeavesEveryFile) {
    backup_aged(days{40});
    backup_aged(days{31});
    backup_aged(hours{2});
    touch(dir / "20200101T000000.000Z-manual-abcdef.db.tmp", now - days{3});
    const auto before = snapshot_dir(dir);

    const auto report = prune({.dry_run = true});
    EXPECT_TRUE(report.dry_run);
    EXPECT_EQ(report.deletions(), 2U);
    EXPECT_GT(report.bytes_freed, 0U);
    for (const auto& b : report.backups) EXPECT_FALSE(b.removed) << b.backup.id;
    ASSERT_EQ(report.debris.size(), 1U);
    EXPECT_EQ(report.debris[0].action, dbsafe::debris_action::would_remove);

    EXPECT_EQ(snapshot_dir(dir), before);
}

TEST_F(PruneTest, CrashBetweenManifestAndDataRemovalLeavesDebrisTheNextPruneSweeps) {
    const auto doomed = backup_aged(days{45});
    const auto kept = backup_aged(hours{3});
    // storage.remove() unlinks the manifest, then the data: a kill -9 between the two leaves
    // exactly this.
    fs::remove(vault.storage.manifest_path(doomed.id));

    // list: the survivor is a backup, the orphaned data is reported as debris, not as a backup.
    const auto listed = vault.list().value();
    ASSERT_EQ(listed.backups.size(), 1U);
    EXPECT_EQ(listed.backups[0].id, kept.id);
    ASSERT_EQ(listed.leftovers.size(), 1U);
    EXPECT_EQ(listed.leftovers[0].path, doomed.data_path);

    // verify: the orphan is no backup any more; the survivor still verifies.
    const auto orphan = vault.verify(doomed.id);
    ASSERT_FALSE(orphan);
    EXPECT_TRUE(orphan.error().is(dbsafe::errc::not_found)) << orphan.error().message;
    EXPECT_TRUE(vault.verify(kept.id));

    // health calls it out, prune sweeps it, and then all is well.
    EXPECT_TRUE(vault.health().value().has(dbsafe::health_check::debris));
    const auto report = prune();
    ASSERT_EQ(report.debris.size(), 1U);
    EXPECT_EQ(report.debris[0].action, dbsafe::debris_action::removed);
    EXPECT_EQ(report.deletions(), 0U);
    EXPECT_EQ(files_in(dir), (std::set<std::string>{kept.id + ".db", kept.id + ".json"}));
    EXPECT_TRUE(vault.list().value().leftovers.empty());
    EXPECT_TRUE(vault.health().value().healthy());
}

TEST_F(PruneTest, SweepsOldDebrisButLeavesRecentTempFiles) {
    const auto kept = backup_aged(hours{1});
    const auto recent_tmp = dir / "20991231T000000.000Z-manual-000001.db.tmp";
    const auto old_tmp = dir / "20200101T000000.000Z-manual-000002.db.tmp";
    const auto old_json_tmp = dir / "20200101T000000.000Z-manual-000003.json.tmp";
    const auto orphan_data = dir / "20200101T000000.000Z-manual-000004.db";
    touch(recent_tmp, now - minutes{5});
    touch(old_tmp, now - hours{25});
    touch(old_json_tmp, now - days{2});
    touch(orphan_data, now - days{2});

    const auto report = prune();
    ASSERT_TRUE(report.complete());
    std::map<std::string, dbsafe::debris_action> actions;
    for (const auto& d : report.debris) actions[d.item.path.filename().string()] = d.action;
    EXPECT_EQ(actions[recent_tmp.filename().string()], dbsafe::debris_action::left_recent);
    EXPECT_EQ(actions[old_tmp.filename().string()], dbsafe::debris_action::removed);
    EXPECT_EQ(actions[old_json_tmp.filename().string()], dbsafe::debris_action::removed);
    EXPECT_EQ(actions[orphan_data.filename().string()], dbsafe::debris_action::removed);
    EXPECT_EQ(files_in(dir), (std::set<std::string>{kept.id + ".db", kept.id + ".json",
                                                    recent_tmp.filename().string()}));

    // A shorter grace period sweeps the recent one too.
    const auto again = prune({.debris_grace = minutes{1}});
    EXPECT_EQ(files_in(dir), (std::set<std::string>{kept.id + ".db", kept.id + ".json"}));
    EXPECT_EQ(again.debris.at(0).action, dbsafe::debris_action::removed);
}

TEST_F(PruneTest, SimulatedFutureNowDoesNotMakeFreshDebrisLookOld) {
    backup_aged(hours{1});
    const auto running = dir / "20991231T000000.000Z-manual-000001.db.tmp";
    touch(running, system_clock::now());
    const auto report = prune({.now = now + years{4}});
    EXPECT_TRUE(fs::exists(running));
    ASSERT_EQ(report.debris.size(), 1U);
    EXPECT_EQ(report.debris[0].action, dbsafe::debris_action::left_recent);
}

TEST_F(PruneTest, LeavesManifestsItCannotReadAlone) {
    // A backup written by a future dbsafe (format_version 2): not ours to judge or delete.
    const auto future = backup_aged(days{100});
    backup_aged(hours{1});
    const auto json_path = vault.storage.manifest_path(future.id);
    auto text = slurp(json_path);
    const auto at = text.find("\"format_version\": 1");
    ASSERT_NE(at, std::string::npos) << text;
    text.replace(at, 19, "\"format_version\": 2");
    std::ofstream(json_path, std::ios::trunc | std::ios::binary) << text;
    set_mtime(json_path, now - days{100});

    const auto report = prune();
    EXPECT_TRUE(fs::exists(json_path));
    EXPECT_TRUE(fs::exists(future.data_path));
    ASSERT_EQ(report.debris.size(), 1U);
    EXPECT_EQ(report.debris[0].action, dbsafe::debris_action::left_foreign);
    EXPECT_NE(report.debris[0].note.find("remove it by hand"), std::string::npos);
}

TEST_F(PruneTest, BackupInProgressInAnotherProcessIsNotSwept) {
    backup_aged(days{40});  // something for prune to delete meanwhile
    const auto fresh = backup_aged(hours{1});
    int started[2];
    int resume[2];
    ASSERT_EQ(::pipe(started), 0);
    ASSERT_EQ(::pipe(resume), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // The child takes a real backup, pausing mid-copy until the parent has pruned.
        bool paused = false;
        dbsafe::basic_vault<dbsafe::online_backup, dbsafe::standard_checks, dbsafe::keep_all,
                            dbsafe::local_directory>
            writer{.storage = dbsafe::local_directory{dir},
                   .snapshot = dbsafe::online_backup{.pages_per_step = 1},
                   .verification = {},
                   .retention = {},
                   .options = {}};
        auto made = writer.backup(db, {.on_progress = [&](const dbsafe::progress& p) {
                                      if (paused || p.pages_done == p.pages_total) return;
                                      paused = true;
                                      char c = 'x';
                                      (void)!::write(started[1], &c, 1);
                                      (void)!::read(resume[0], &c, 1);
                                  }});
        ::_exit(made && paused ? 0 : 1);
    }
    char c = 0;
    ASSERT_EQ(::read(started[0], &c, 1), 1);
    const auto listed = vault.list().value();
    ASSERT_EQ(listed.leftovers.size(), 1U) << "the child's staging file";
    EXPECT_TRUE(listed.leftovers[0].path.string().ends_with(".db.tmp"));

    const auto report = prune();
    EXPECT_EQ(report.deletions(), 1U);
    ASSERT_EQ(report.debris.size(), 1U);
    EXPECT_EQ(report.debris[0].action, dbsafe::debris_action::left_recent);
    EXPECT_TRUE(fs::exists(listed.leftovers[0].path));

    ASSERT_EQ(::write(resume[1], &c, 1), 1);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child backup failed";
    const auto after = vault.list().value();
    ASSERT_EQ(after.backups.size(), 2U) << "the child's backup and the fresh one";
    EXPECT_TRUE(after.leftovers.empty());
    for (const auto& m : after.backups) {
        EXPECT_TRUE(vault.verify(m.id)) << m.id;
        EXPECT_EQ(dbsafe::test::dump_rows(m.data_path), dbsafe::test::dump_rows(db));
    }
    EXPECT_TRUE(after.backups[0].id == fresh.id || after.backups[1].id == fresh.id);
    for (int fd : {started[0], started[1], resume[0], resume[1]}) ::close(fd);
}

TEST_F(PruneTest, PrunesAfterEachBackupWhenEnabled) {
    const auto old = backup_aged(days{40});
    std::vector<std::size_t> deletions;
    vault.options.prune_after_backup = {
        .enabled = true,
        .options = {},
        .on_done = [&](const dbsafe::result<dbsafe::prune_report>& r) {
            ASSERT_TRUE(r);
            deletions.push_back(r.value().deletions());
        }};
    const auto fresh = backup_aged(hours{0});
    EXPECT_EQ(deletions, std::vector<std::size_t>{1});
    EXPECT_FALSE(fs::exists(old.data_path));
    EXPECT_FALSE(fs::exists(vault.storage.manifest_path(old.id)));
    EXPECT_TRUE(vault.verify(fresh.id));
}

TEST_F(PruneTest, PruneAfterBackupNeverDeletesTheBackupJustTaken) {
    // A policy that keeps only pre_migration backups would delete a manual one at once.
    dbsafe::basic_vault<dbsafe::online_backup, dbsafe::standard_checks, dbsafe::keep_kinds,
                        dbsafe::local_directory>
        strict{.storage = dbsafe::local_directory{dir},
               .snapshot = {},
               .verification = {},
               .retention = dbsafe::keep_kinds{backup_kind::pre_migration},
               .options = {}};
    std::vector<dbsafe::prune_report> reports;
    strict.options.prune_after_backup.enabled = true;
    strict.options.prune_after_backup.on_done = [&](const auto& r) {
        reports.push_back(r.value());
    };
    const auto first = strict.backup(db).value();
    const auto second = strict.backup(db).value();
    ASSERT_EQ(reports.size(), 2U);
    // The second prune deleted the first manual backup, but not the one it ran after.
    EXPECT_FALSE(fs::exists(first.data_path));
    EXPECT_TRUE(fs::exists(second.data_path));
    EXPECT_EQ(entry(reports[1], second.id).decision.reasons.front(),
              "kept: protected (the backup just taken, or in use)");
}

TEST_F(PruneTest, EmptyOrMissingDirectoryIsNothingToDo) {
    const auto report = prune();
    EXPECT_TRUE(report.backups.empty());
    EXPECT_TRUE(report.debris.empty());
    EXPECT_FALSE(fs::exists(dir)) << "prune must not create the directory";
}

// Issue 13.1: a live database kept in the backup directory, its WAL files and unrelated files
// are not dbsafe's names, so prune never sees them, whatever the grace period; real debris (a
// generated id plus a dbsafe suffix) is still swept.
TEST_F(PruneTest, NeverTouchesALiveDatabaseKeptInTheBackupDirectory) {
    const fs::path live = dir / "app.db";
    fs::create_directories(dir);
    dbsafe::test::create_sample_db(live, 100);      // WAL mode
    dbsafe::test::db_handle open_connection(live);  // keeps app.db-wal and app.db-shm present
    dbsafe::test::exec(open_connection.db, "INSERT INTO counters VALUES ('open', 1)");
    for (const char* name : {"notes.txt", "other.db", "x.json", "x.db.tmp", "other.db-wal",
                             "20261125T114458.123Z-manual-3fa9c1.txt", "backup.json.tmp"}) {
        touch(dir / name, now - days{400}, std::string("not dbsafe's: ") + name);
    }
    const auto backup = vault.backup(live);
    ASSERT_TRUE(backup) << backup.error().message;
    auto before = snapshot_dir(dir);
    ASSERT_TRUE(before.contains("app.db-wal"));
    ASSERT_TRUE(before.contains("app.db-shm"));
    before.erase(backup.value().id + ".db");
    before.erase(backup.value().id + ".json");
    const auto debris = dir / "20200101T000000.000Z-manual-000002.db.tmp";
    touch(debris, now - days{2});

    const auto listed = vault.list();
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed.value().leftovers.size(), 1U);
    EXPECT_EQ(listed.value().leftovers[0].path, debris);
    EXPECT_TRUE(listed.value().damaged.empty());
    const auto report = prune({.debris_grace = seconds{0}});
    ASSERT_TRUE(report.complete());
    ASSERT_EQ(report.debris.size(), 1U);
    EXPECT_EQ(report.debris[0].action, dbsafe::debris_action::removed);
    EXPECT_FALSE(fs::exists(debris));
    auto after = snapshot_dir(dir);
    after.erase(backup.value().id + ".db");
    after.erase(backup.value().id + ".json");
    for (const auto& [name, bytes] : before) {
        EXPECT_TRUE(after.contains(name) && after[name] == bytes)
            << name << ", which dbsafe did not create, was changed or removed";
    }
    EXPECT_EQ(after.size(), before.size());
    EXPECT_EQ(dbsafe::test::query_int(open_connection.db, "SELECT count(*) FROM customers"), 100);
}

// Issue 13.8: no policy empties a directory. A policy that deletes everything (only safety
// backups, or a --now decades ahead) still leaves the newest backup of each database.
TEST_F(PruneTest, KeepsTheNewestBackupOfEachDatabaseWhateverThePolicy) {
    const fs::path other_db = tmp / "other.db";
    dbsafe::test::create_sample_db(other_db, 20);
    const auto old_app = backup_aged(days{3}, backup_kind::pre_migration);
    const auto new_app = backup_aged(days{2});
    clock = now - days{1};
    const auto other = vault.backup(other_db);
    clock = now;
    ASSERT_TRUE(other);
    const auto report = dbsafe::prune(vault.storage, dbsafe::keep_kinds{backup_kind::safety},
                                      now + years{50}, {.debris_grace = hours{24}});
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_TRUE(fs::exists(new_app.data_path));
    EXPECT_TRUE(fs::exists(other.value().data_path));
    EXPECT_FALSE(fs::exists(old_app.data_path));
    EXPECT_NE(entry(report.value(), new_app.id).decision.reasons.at(0).find("newest"),
              std::string::npos);

    // Only the explicit flag lets the policy delete them.
    const auto all = dbsafe::prune(vault.storage, dbsafe::keep_within{seconds{0}}, now + years{50},
                                   {.allow_delete_newest = true});
    ASSERT_TRUE(all);
    EXPECT_EQ(all.value().deletions(), 2U);
    EXPECT_TRUE(vault.list().value().backups.empty());
}

// The newest non-safety backup (what `restore --latest` picks) survives too.
TEST_F(PruneTest, KeepsTheNewestRestorableBackupWhenASafetyBackupIsNewer) {
    const auto manual = backup_aged(days{2});
    const auto safety = backup_aged(days{1}, backup_kind::safety);
    const auto report = dbsafe::prune(vault.storage, dbsafe::keep_within{hours{1}}, now);
    ASSERT_TRUE(report);
    EXPECT_TRUE(fs::exists(manual.data_path));
    EXPECT_TRUE(fs::exists(safety.data_path));
}

// Rewrites one field of a backup's manifest, keeping (or dropping) its manifest_checksum.
void tamper(const fs::path& manifest_file, const std::string& field, const nlohmann::json& value,
            bool drop_checksum = false) {
    auto j = nlohmann::json::parse(slurp(manifest_file));
    j[field] = value;
    if (drop_checksum) j.erase("manifest_checksum");
    std::ofstream(manifest_file, std::ios::trunc | std::ios::binary) << j.dump(2);
}

// Issue 13.7: one flipped bit in size_bytes made --max-total-size delete older backups. A
// manifest whose size disagrees with its file decides nothing and is never deleted; with or
// without the manifest's own checksum (a 0.1 manifest has none, its size is still compared).
TEST_F(PruneTest, TamperedSizeBytesDrivesNoDeletion) {
    for (const bool drop_checksum : {false, true}) {
        SCOPED_TRACE(drop_checksum ? "without manifest_checksum" : "with manifest_checksum");
        fs::remove_all(dir);
        const auto oldest = backup_aged(days{3});
        const auto middle = backup_aged(days{2});
        const auto newest = backup_aged(days{1});
        tamper(vault.storage.manifest_path(middle.id), "size_bytes",
               middle.size_bytes ^ (std::uint64_t{1} << 40), drop_checksum);
        const auto before = snapshot_dir(dir);
        const std::uint64_t cap = oldest.size_bytes + middle.size_bytes + newest.size_bytes;
        dbsafe::retention_rules policy;
        policy.add(dbsafe::keep_within{days{30}}).add(dbsafe::max_total_size{cap});
        const auto report = dbsafe::prune(vault.storage, policy, now);
        ASSERT_TRUE(report) << report.error().message;
        EXPECT_EQ(report.value().deletions(), 0U);
        EXPECT_EQ(snapshot_dir(dir), before);
        const auto listed = vault.list();
        ASSERT_EQ(listed.value().damaged.size(), 1U);
        EXPECT_NE(listed.value().damaged[0].reason.find("size_bytes"), std::string::npos)
            << listed.value().damaged[0].reason;
        const auto verified = vault.verify(middle.id);
        ASSERT_FALSE(verified);
        EXPECT_NE(verified.error().message.find("size_bytes"), std::string::npos);
    }
}

// Issue 13.7: created_at 2026 -> 2036 made an old backup the "newest". It is checked against the
// time in the id, so it is excluded from selection; the genuinely newest valid backup is first.
TEST_F(PruneTest, TamperedCreatedAtIsNeverTheNewest) {
    const auto old_backup = backup_aged(days{3});
    const auto newest = backup_aged(days{1});
    auto text = dbsafe::detail::format_iso8601(old_backup.created_at);
    text.replace(0, 4, std::to_string(std::stoi(text.substr(0, 4)) + 10));
    tamper(vault.storage.manifest_path(old_backup.id), "created_at", text);
    const auto listed = vault.list();
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed.value().backups.size(), 1U);
    EXPECT_EQ(listed.value().backups[0].id, newest.id);
    ASSERT_EQ(listed.value().damaged.size(), 1U);
    EXPECT_NE(listed.value().damaged[0].reason.find("created_at"), std::string::npos);
    EXPECT_NE(listed.value().damaged[0].reason.find("manifest_checksum"), std::string::npos);
    const auto health = vault.health({.max_age = hours{30}, .verify_newest = true});
    ASSERT_TRUE(health);
    EXPECT_EQ(health.value().newest->id, newest.id);
    EXPECT_TRUE(health.value().has(dbsafe::health_check::damaged_backup));
    // Never deleted by retention, whatever the policy.
    const auto report = dbsafe::prune(vault.storage, dbsafe::keep_last{1}, now + years{20},
                                      {.allow_delete_newest = true});
    ASSERT_TRUE(report);
    EXPECT_TRUE(fs::exists(old_backup.data_path));
    EXPECT_TRUE(fs::exists(vault.storage.manifest_path(old_backup.id)));
}

}  // namespace

// A migration interrupted by a crash leaves <pre-migration id>.migration: recover() restores
// that backup, so no policy may delete it first, and the record itself is never debris.
TEST_F(PruneTest, KeepsTheBackupAnInterruptedMigrationNeedsAndNeverSweepsItsRecord) {
    const auto pre = backup_aged(days{90}, backup_kind::manual);
    backup_aged(days{1});
    const auto record = dir / (pre.id + dbsafe::migration_record_suffix);
    touch(record, now - days{90}, "{}");
    const auto half_written = dir / (pre.id + ".migration.tmp");
    touch(half_written, now - days{90}, "{");
    const auto report =
        dbsafe::prune(vault.storage, dbsafe::keep_last{1}, now, {.debris_grace = hours{24}});
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_TRUE(fs::exists(pre.data_path)) << "the backup a migration record names was deleted";
    EXPECT_NE(entry(report.value(), pre.id).decision.reasons.at(0).find("migration record"),
              std::string::npos);
    EXPECT_TRUE(fs::exists(record)) << "prune removed a migration record";
    EXPECT_FALSE(fs::exists(half_written)) << "an old, unfinished record write is debris";

    fs::remove(record);  // recovered: the backup is an ordinary old backup again
    const auto again =
        dbsafe::prune(vault.storage, dbsafe::keep_last{1}, now, {.debris_grace = hours{24}});
    ASSERT_TRUE(again);
    EXPECT_FALSE(fs::exists(pre.data_path));
}

// --- The garbage-collection hook (storage/garbage_collection.hpp): a storage whose backups
// share data is collected after prune's removals; the core knows only the concept.

namespace {

// local_directory plus a collection that records what it saw and answers `answer`.
struct collecting_directory : dbsafe::local_directory {
    using local_directory::local_directory;
    struct seen {
        dbsafe::gc_options options;
        std::vector<std::string> listed;  // the backups still listed when it ran
    };
    std::shared_ptr<std::vector<seen>> calls = std::make_shared<std::vector<seen>>();
    dbsafe::result<dbsafe::gc_report> answer = dbsafe::gc_report{.bytes_removed = 5000};

    dbsafe::result<dbsafe::gc_report> collect_garbage(const dbsafe::gc_options& o) {
        seen s{o, {}};
        const auto listed = list().value();  // named: a temporary would die first
        for (const auto& m : listed.backups) s.listed.push_back(m.id);
        calls->push_back(std::move(s));
        if (answer) {
            auto r = answer.value();
            r.dry_run = o.dry_run;
            return r;
        }
        return answer;
    }
};
static_assert(dbsafe::collects_garbage<collecting_directory>);
static_assert(!dbsafe::collects_garbage<dbsafe::local_directory>);

TEST_F(PruneTest, CollectsTheStoragesGarbageAfterItsRemovalsAndJoinsItsReport) {
    const auto old = backup_aged(days{2});
    const auto fresh = backup_aged(hours{1});
    collecting_directory storage{dir};
    const auto r = dbsafe::prune(storage, dbsafe::keep_last{1}, now);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(storage.calls->size(), 1U);
    const auto& call = storage.calls->front();
    EXPECT_FALSE(call.options.dry_run);
    EXPECT_TRUE(call.options.assume_removed.empty());  // a real run removed them already
    EXPECT_EQ(call.listed, std::vector<std::string>{fresh.id}) << "collected before removing";
    ASSERT_TRUE(r.value().garbage);
    EXPECT_EQ(r.value().garbage->bytes_removed, 5000U);
    EXPECT_EQ(r.value().bytes_freed, old.size_bytes + 5000U);
    EXPECT_TRUE(r.value().complete());
}

TEST_F(PruneTest, DryRunAsksForADryCollectionCountingTheBackupsItWouldRemove) {
    const auto old = backup_aged(days{2});
    const auto fresh = backup_aged(hours{1});
    collecting_directory storage{dir};
    const auto before = snapshot_dir(dir);
    const auto r = dbsafe::prune(storage, dbsafe::keep_last{1}, now, {.dry_run = true});
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(storage.calls->size(), 1U);
    const auto& call = storage.calls->front();
    EXPECT_TRUE(call.options.dry_run);
    EXPECT_EQ(call.options.assume_removed, std::vector<std::string>{old.id});
    EXPECT_EQ(call.listed.size(), 2U);
    ASSERT_TRUE(r.value().garbage);
    EXPECT_TRUE(r.value().garbage->dry_run);
    EXPECT_EQ(r.value().bytes_freed, old.size_bytes + 5000U);
    EXPECT_EQ(snapshot_dir(dir), before);
    (void)fresh;
}

TEST_F(PruneTest, AFailedCollectionIsReportedAndTheRemovalsStand) {
    const auto old = backup_aged(days{2});
    backup_aged(hours{1});
    collecting_directory storage{dir};
    storage.answer = dbsafe::error(dbsafe::errc::busy_timeout, "repository locked by a backup");
    const auto r = dbsafe::prune(storage, dbsafe::keep_last{1}, now);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(entry(r.value(), old.id).removed);
    EXPECT_FALSE(r.value().garbage);
    ASSERT_TRUE(r.value().garbage_failure);
    EXPECT_EQ(r.value().garbage_failure->message, "repository locked by a backup");
    EXPECT_FALSE(r.value().complete());
    EXPECT_EQ(r.value().bytes_freed, old.size_bytes);
}

TEST_F(PruneTest, AStorageWithoutCollectionReportsNone) {
    backup_aged(days{2});
    backup_aged(hours{1});
    const auto r = prune({.allow_delete_newest = false});
    EXPECT_FALSE(r.garbage);
    EXPECT_FALSE(r.garbage_failure);
}

}  // namespace
