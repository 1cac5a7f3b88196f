// basic_vault::restore: the backup ends up in the live database row by row (WAL and rollback
// journal, through a path or the caller's connection, seen by other open connections), and
// every refusal or failure leaves the live database with its previous content.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/backup_checks.hpp"
#include "support/concurrent_writer.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
using dbsafe::test::db_handle;
using dbsafe::test::dump_rows;
using dbsafe::test::temp_dir;
namespace fs = std::filesystem;

vault make_vault(const temp_dir& dir) {
    return vault{.storage = local_directory{dir / "backups"},
                 .snapshot = {},
                 .verification = standard_checks{.level = check_level::quick, .required = {}},
                 .retention = {},
                 .options = {}};
}

// Changes every table of the sample database, so "old" and "new" content differ everywhere.
void change_content(const fs::path& db) {
    test::exec(db, R"sql(
        DELETE FROM orders WHERE id % 3 = 0;
        UPDATE customers SET balance = balance + 1, name = name || ' (changed)';
        INSERT INTO documents(body) VALUES (randomblob(5000));
        INSERT INTO ledger(account, delta) VALUES (1, 10), (1, -10);
        CREATE TABLE added_later(x);
        INSERT INTO added_later VALUES (42);
    )sql");
}

// Writes garbage over the b-tree header of page 3: damage SQLite's checks find, a checksum aside.
void damage_page_three(const fs::path& db, std::int64_t page_size) {
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(2 * page_size));
    const std::string junk(16, '\xee');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
}

std::string query_text(sqlite3* db, const char* sql) {
    auto r = detail::query_text(db, sql);
    return r ? r.value() : "error: " + r.error().message;
}

std::size_t count_kind(vault& v, backup_kind kind) {
    std::size_t n = 0;
    const auto listed = v.list().value();
    for (const auto& m : listed.backups) n += m.kind == kind ? 1 : 0;
    return n;
}

class RestoreModes : public ::testing::TestWithParam<std::string> {};

TEST_P(RestoreModes, EqualsBackupRowByRowAndOtherConnectionReadsRestoredRows) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 300, GetParam());
    auto v = make_vault(dir);
    const auto wanted = dump_rows(live);
    const auto taken = v.backup(live);
    ASSERT_TRUE(taken) << taken.error().message;

    change_content(live);
    db_handle other(live);  // an application connection that stays open throughout
    ASSERT_EQ(test::query_int(other, "SELECT count(*) FROM added_later"), 1);
    const auto changed = dump_rows(live);
    ASSERT_NE(changed, wanted);

    const auto done = v.restore(live, {.id = taken.value().id});
    ASSERT_TRUE(done) << done.error().message;

    EXPECT_EQ(dump_rows(live), wanted);
    EXPECT_EQ(test::query_int(other, "SELECT count(*) FROM orders"), 900);
    EXPECT_EQ(test::query_int(other,
                              "SELECT count(*) FROM sqlite_schema WHERE name = "
                              "'added_later'"),
              0);
    EXPECT_EQ(test::query_int(other,
                              "SELECT count(*) FROM customers WHERE name LIKE "
                              "'%(changed)'"),
              0);
    // The journal mode is the live database's, not the backup file's (which is DELETE).
    db_handle check(live);
    EXPECT_EQ(query_text(check, "PRAGMA journal_mode"), GetParam());
    EXPECT_EQ(query_text(check, "PRAGMA integrity_check"), "ok");

    // The safety backup holds exactly what was overwritten.
    const auto safety = v.storage.open(done.value().safety.id);
    ASSERT_TRUE(safety);
    EXPECT_EQ(safety.value().description.kind, backup_kind::safety);
    EXPECT_EQ(dump_rows(safety.value().path), changed);
}

INSTANTIATE_TEST_SUITE_P(Restore, RestoreModes, ::testing::Values("wal", "delete"));

TEST(Restore, IntoTheCallersConnectionWhichSeesTheRowsAtOnce) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 100);
    auto v = make_vault(dir);
    const auto wanted = dump_rows(live);
    const auto id = v.backup(live).value().id;
    change_content(live);

    db_handle app(live);
    const auto done = v.restore(app.db, {.id = id});
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(test::query_int(app,
                              "SELECT count(*) FROM sqlite_schema WHERE name = "
                              "'added_later'"),
              0);
    EXPECT_EQ(dump_rows(live), wanted);
}

// Restores a backup into the caller's connection, whose mmap_size is 65536, through `v` with
// `opts`: the live database equals the backup and the connection keeps its setting.
template <class Vault>
void restore_into_a_mapped_connection(Vault& v, const fs::path& live, restore_options opts) {
    test::create_sample_db(live, 100);
    const auto wanted = dump_rows(live);
    opts.id = v.backup(live).value().id;
    change_content(live);

    db_handle app(live);
    test::exec(app.db, "PRAGMA mmap_size=65536");
    const auto done = v.restore(app.db, opts);
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(dump_rows(live), wanted);
    EXPECT_EQ(test::query_int(app, "PRAGMA mmap_size"), 65536);
}

// The vault's verifier maps the check of the restored database (the `dbsafe` tool's setting);
// the caller's connection keeps its own mmap_size.
TEST(Restore, MemoryMappedCheckRestoresAndLeavesTheCallersMapSettingAsItWas) {
    temp_dir dir;
    auto v = make_vault(dir);
    v.verification.memory_mapped = true;
    restore_into_a_mapped_connection(v, dir / "live.db", {});
}

// A verifier without a connection level (the checksum alone) still gets restore's quick_check,
// mapped when restore_options::memory_mapped_check asks.
TEST(Restore, AVerifierWithoutAConnectionCheckStillGetsQuickCheckMappedOnRequest) {
    temp_dir dir;
    basic_vault<online_backup, checksum_matches, keep_all, local_directory> v{
        .storage = local_directory{dir / "backups"}};
    static_assert(!database_verifier<checksum_matches>);
    restore_options opts;
    opts.memory_mapped_check = true;
    restore_into_a_mapped_connection(v, dir / "live.db", opts);
}

TEST(Restore, RefusesAConnectionInsideATransaction) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 50);
    auto v = make_vault(dir);
    const auto id = v.backup(live).value().id;
    db_handle app(live);
    test::exec(app, "BEGIN; INSERT INTO counters VALUES ('x', 1)");
    const auto done = v.restore(app.db, {.id = id});
    ASSERT_FALSE(done);
    EXPECT_TRUE(done.error().is(errc::in_transaction)) << done.error().message;
    test::exec(app, "ROLLBACK");
}

TEST(Restore,
     ReportsTheBackupsChecksumThenTheSafetyBackupThenTheCopyInAndLeavesTheBackupFileUnchanged) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 300);
    auto v = make_vault(dir);
    const auto m = v.backup(live).value();
    change_content(live);
    std::vector<progress> seen;
    restore_options opts;
    opts.id = m.id;
    opts.pages_per_step = 4;
    opts.on_progress = [&](const progress& p) { seen.push_back(p); };
    const auto done = v.restore(live, opts);
    ASSERT_TRUE(done) << done.error().message;
    ASSERT_GE(seen.size(), 2u);
    EXPECT_EQ(seen.back().pages_done, seen.back().pages_total);
    EXPECT_EQ(seen.back().pages_total, static_cast<std::uint64_t>(m.page_count));
    // Three phases, in order: the backup's checksum (checked at creation, it is re-hashed: the
    // trust chain), the safety backup, then the copy in; each announced with 0 of 0 pages, each
    // reaching its total, pages never going back within a phase. No check after the copy: the
    // restored file was read back and holds the backup's image (same_image.hpp).
    std::vector<progress_phase> order;
    for (std::size_t i = 0; i < seen.size(); ++i) {
        if (order.empty() || order.back() != seen[i].phase) {
            order.push_back(seen[i].phase);
            EXPECT_EQ(seen[i].pages_total, 0U) << "a phase starts with its announcement";
        } else if (seen[i - 1].pages_total != 0) {
            EXPECT_GE(seen[i].pages_done, seen[i - 1].pages_done);
        }
        if (i + 1 == seen.size() || seen[i + 1].phase != seen[i].phase) {
            EXPECT_EQ(seen[i].pages_done, seen[i].pages_total) << to_string(seen[i].phase);
            EXPECT_GT(seen[i].pages_total, 0U) << to_string(seen[i].phase);
        }
    }
    EXPECT_EQ(order,
              (std::vector<progress_phase>{progress_phase::checksum, progress_phase::safety_backup,
                                           progress_phase::copy_in}));
    EXPECT_EQ(done.value().restored.id, m.id);
    EXPECT_GT(done.value().total_seconds, 0.0);
    EXPECT_EQ(hash_file(m.data_path).value().hex, m.checksum.hex);
    EXPECT_TRUE(v.verify(m.id)) << "restore must never change the backup it reads";
}

TEST(Restore, ANewFileReportsTheChecksumThenSqlitesCheckOfTheFileItWrote) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 3000);  // some 200 pages: the check reports on its way
    auto v = make_vault(dir);
    const auto m = v.backup(live).value();
    std::vector<progress> seen;
    const auto target = dir / "copy.db";
    const auto done = v.restore_to(
        target, {.id = m.id, .on_progress = [&](const progress& p) { seen.push_back(p); }});
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(test::dump_rows(target), test::dump_rows(live));
    std::vector<progress_phase> order;
    for (const auto& p : seen) {
        if (order.empty() || order.back() != p.phase) order.push_back(p.phase);
    }
    // The new file is checked before restore_to says it succeeded: its check is reported, in
    // pages read of the written file, and ends at its total.
    ASSERT_EQ(order,
              (std::vector<progress_phase>{progress_phase::checksum, progress_phase::check}));
    std::size_t partial = 0;
    for (const auto& p : seen) {
        if (p.phase == progress_phase::check && p.pages_total > 0) {
            EXPECT_LE(p.pages_done, p.pages_total);
            partial += p.pages_done < p.pages_total ? 1 : 0;
        }
    }
    EXPECT_GE(partial, 1U) << "the check of the new file was not measured";
    EXPECT_EQ(seen.back().pages_done, seen.back().pages_total);
    EXPECT_EQ(seen.back().pages_total,
              static_cast<std::uint64_t>(test::query_int(target, "PRAGMA page_count") -
                                         test::query_int(target, "PRAGMA freelist_count")));
}

TEST(Restore, UnknownIdIsNotFoundAndTouchesNothing) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 50);
    auto v = make_vault(dir);
    (void)v.backup(live).value();
    const auto done = v.restore(live, {.id = "20990101T000000.000Z-manual-000000"});
    ASSERT_FALSE(done);
    EXPECT_TRUE(done.error().is(errc::not_found)) << done.error().message;
    EXPECT_EQ(count_kind(v, backup_kind::safety), 0u);
}

TEST(Restore, RefusesCorruptBackupBeforeTheLiveFileIsTouched) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 300);
    auto v = make_vault(dir);
    const auto m = v.backup(live).value();
    change_content(live);
    const auto before = hash_file(live).value().hex;
    {  // one flipped byte in the middle of the data file
        std::fstream f(m.data_path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(m.size_bytes / 2));
        f.put('\x5a');
    }
    const auto done = v.restore(live, {.id = m.id});
    ASSERT_FALSE(done);
    EXPECT_TRUE(done.error().is(errc::checksum_mismatch)) << done.error().message;
    EXPECT_NE(done.error().message.find("not changed"), std::string::npos);
    EXPECT_EQ(hash_file(live).value().hex, before);
    EXPECT_EQ(count_kind(v, backup_kind::safety), 0u);
}

TEST(Restore, RefusesStructurallyDamagedBackupEvenWithoutChecksum) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 300, "delete");
    auto v = make_vault(dir);
    v.verification.checksum = false;  // only SQLite's own check stands between us and damage
    const auto m = v.backup(live).value();
    change_content(live);
    const auto before = dump_rows(live);
    damage_page_three(m.data_path, m.page_size);
    const auto done = v.restore(live, {.id = m.id});
    ASSERT_FALSE(done);
    EXPECT_TRUE(done.error().is(errc::verification_failed)) << done.error().message;
    EXPECT_EQ(dump_rows(live), before);
    EXPECT_EQ(count_kind(v, backup_kind::safety), 0u);
}

// Restoring is how a damaged database gets repaired, so damage in the LIVE database must not
// block it: the safety backup keeps the damaged bytes as they are (checksummed, not judged).
TEST_P(RestoreModes, RepairsADamagedLiveDatabaseAndKeepsTheDamageAsTheSafetyBackup) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 300, GetParam());
    auto v = make_vault(dir);
    const auto wanted = dump_rows(live);
    const auto m = v.backup(live).value();
    damage_page_three(live, m.page_size);
    ASSERT_FALSE(v.verify_file(live)) << "the damage was not detectable";

    const auto done = v.restore(live, {.id = m.id});
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(dump_rows(live), wanted);
    EXPECT_TRUE(v.verify_file(live));
    // The safety backup is the damaged database, byte for byte as its checksum says.
    const auto safety = v.storage.open(done.value().safety.id);
    ASSERT_TRUE(safety);
    EXPECT_TRUE(
        checksum_matches{}.verify(backup_file{safety.value().path, &safety.value().description}));
    EXPECT_FALSE(v.verify_file(safety.value().path));
}

// Issue 13 item 5 changed this test: a missing path (a typo) is refused because the backup is
// of another database (restore now creates a missing database that IS the backup's source,
// see restore_source_test.cpp), and a non-SQLite file needs --replace-damaged.
TEST(Restore, RefusesMissingOrNonSqliteLiveDatabase) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 50);
    auto v = make_vault(dir);
    const auto id = v.backup(live).value().id;

    const auto missing = v.restore(dir / "nope.db", {.id = id});
    ASSERT_FALSE(missing);
    EXPECT_TRUE(missing.error().is(errc::other_database)) << missing.error().message;
    EXPECT_FALSE(fs::exists(dir / "nope.db"));

    const auto text = dir / "notes.txt";
    std::ofstream(text) << std::string(5000, 'x');
    restore_options opts;
    opts.id = id;
    opts.allow_other_database = true;
    const auto not_db = v.restore(text, opts);
    ASSERT_FALSE(not_db);
    EXPECT_TRUE(not_db.error().is(errc::not_a_database)) << not_db.error().message;
    EXPECT_NE(not_db.error().message.find("restore_options::replace_damaged"), std::string::npos);
    EXPECT_EQ(fs::file_size(text), 5000u);
    EXPECT_EQ(count_kind(v, backup_kind::safety), 0u);
}

// Issue 13 item 3: the page size, auto_vacuum or journal mode of the live database changed
// since the backup (a migration ran `PRAGMA page_size=8192; VACUUM;`). The restore puts the
// backup's rows, page size and auto_vacuum back and keeps the live database's journal mode;
// before, a WAL database refused every other page size (and 0.1's rollback failed with it).
struct layout_change {
    const char* name;
    const char* sql;  // run on the live database after the backup (with its content changed)
};

constexpr layout_change layout_changes[] = {
    {"page size 8192 (left WAL, VACUUM, back to WAL if it was)",
     "PRAGMA journal_mode=DELETE; PRAGMA page_size=8192; VACUUM;"},
    {"page size 1024", "PRAGMA journal_mode=DELETE; PRAGMA page_size=1024; VACUUM;"},
    {"auto_vacuum=FULL", "PRAGMA auto_vacuum=FULL; VACUUM;"},
    {"journal mode switched", ""},
    {"page size 8192 and auto_vacuum=INCREMENTAL",
     "PRAGMA journal_mode=DELETE; PRAGMA page_size=8192; PRAGMA auto_vacuum=INCREMENTAL; "
     "VACUUM;"},
};

void restore_after_layout_change(const std::string& mode, const layout_change& change,
                                 const std::string& final_mode) {
    SCOPED_TRACE(mode + " database, " + change.name + ", then " + final_mode);
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 60, mode);
    auto v = make_vault(dir);
    const auto id = v.backup(live).value().id;
    const auto before = dump_rows(live);
    change_content(live);
    test::exec(live, change.sql);
    test::exec(live, "PRAGMA journal_mode=" + final_mode);
    ASSERT_NE(dump_rows(live), before);

    const auto done = v.restore(live, {.id = id});
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(dump_rows(live), before);
    db_handle h(live);
    EXPECT_EQ(test::query_int(h, "PRAGMA page_size"), 4096);
    EXPECT_EQ(test::query_int(h, "PRAGMA auto_vacuum"), 0);
    EXPECT_EQ(detail::query_text(h, "PRAGMA journal_mode").value(), final_mode);
    EXPECT_EQ(detail::query_text(h, "PRAGMA integrity_check").value(), "ok");
    // And the restored database takes writes (its pages and pointer maps are consistent).
    test::exec(h, "INSERT INTO documents(body) VALUES (randomblob(20000)); DELETE FROM orders");
    EXPECT_EQ(detail::query_text(h, "PRAGMA integrity_check").value(), "ok");
}

TEST(Restore, PutsBackThePageSizeAndAutoVacuumWhateverTheLiveDatabaseBecame) {
    for (const std::string mode : {"wal", "delete"}) {
        for (const auto& change : layout_changes) {
            restore_after_layout_change(mode, change, mode);
            if (std::string(change.sql).empty()) {
                restore_after_layout_change(mode, change, mode == "wal" ? "delete" : "wal");
            }
        }
    }
}

TEST(Restore, ABackupWithAnotherPageSizeGoesIntoAWalDatabaseAndItStaysWal) {
    temp_dir dir;
    const auto small_pages = dir / "small.db";
    test::exec(small_pages, "PRAGMA page_size=1024; CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    auto v = make_vault(dir);
    const auto id = v.backup(small_pages).value().id;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 50, "wal");
    const auto done = v.restore(live, {.id = id, .allow_other_database = true});
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(dump_rows(live), dump_rows(small_pages));
    EXPECT_EQ(test::query_int(live, "PRAGMA page_size"), 1024);
    db_handle h(live);
    EXPECT_EQ(detail::query_text(h, "PRAGMA journal_mode").value(), "wal");
}

TEST(Restore, RefusesWhenTheSafetyBackupDoesNotFit) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 100);
    auto v = make_vault(dir);
    const auto id = v.backup(live).value().id;
    change_content(live);
    const auto before = dump_rows(live);
    v.options.free_space = [](const fs::path&) -> result<std::uint64_t> { return 4096; };
    const auto done = v.restore(live, {.id = id});
    ASSERT_FALSE(done);
    EXPECT_TRUE(done.error().is(errc::insufficient_space)) << done.error().message;
    EXPECT_NE(done.error().message.find("safety backup"), std::string::npos);
    EXPECT_EQ(dump_rows(live), before);
}

TEST_P(RestoreModes, FailingPostRestoreHookEndsWithTheSafetyBackupContent) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 200, GetParam());
    auto v = make_vault(dir);
    const auto id = v.backup(live).value().id;
    change_content(live);
    const auto before = dump_rows(live);
    db_handle other(live);

    bool hook_saw_new_content = false;
    restore_options opts;
    opts.id = id;
    opts.after_restore = [&](sqlite3* db) -> result<void> {
        // The live database really was changed before the failure.
        hook_saw_new_content =
            test::query_int(db, "SELECT count(*) FROM sqlite_schema WHERE name='added_later'") == 0;
        return error(errc::verification_failed, "application smoke test failed");
    };
    const auto done = v.restore(live, opts);
    ASSERT_FALSE(done);
    EXPECT_TRUE(hook_saw_new_content);
    EXPECT_TRUE(done.error().is(errc::restore_failed)) << done.error().message;
    EXPECT_TRUE(done.error().caused_by(errc::verification_failed));  // the hook's own code
    EXPECT_NE(done.error().message.find("application smoke test failed"), std::string::npos);
    EXPECT_NE(done.error().message.find("recovered"), std::string::npos);
    EXPECT_EQ(dump_rows(live), before);
    EXPECT_EQ(test::query_int(other, "SELECT count(*) FROM added_later"), 1);
    ASSERT_EQ(count_kind(v, backup_kind::safety), 1u);
    const auto safety_id = v.list().value().backups.front().id;
    EXPECT_NE(done.error().message.find(safety_id), std::string::npos);
}

TEST(Restore, FailedRecoveryIsReportedWithBothFailures) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 100);
    auto v = make_vault(dir);
    const auto id = v.backup(live).value().id;
    change_content(live);
    restore_options opts;
    opts.id = id;
    opts.after_restore = [&](sqlite3*) -> result<void> {
        // Take the recovery point away: the safety backup's data file disappears.
        const auto listed = v.list().value();
        for (const auto& m : listed.backups) {
            if (m.kind == backup_kind::safety) fs::remove(m.data_path);
        }
        return error(errc::verification_failed, "hook says no");
    };
    const auto done = v.restore(live, opts);
    ASSERT_FALSE(done);
    EXPECT_TRUE(done.error().is(errc::restore_failed));
    const auto& msg = done.error().message;
    EXPECT_NE(msg.find("hook says no"), std::string::npos) << msg;
    EXPECT_NE(msg.find("RECOVERY ALSO FAILED"), std::string::npos) << msg;
    EXPECT_NE(msg.find("vault.restore"), std::string::npos) << msg;
    // Both failures, for programs: the recovery's, which names the safety backup's file, and
    // under it the hook's code.
    const error& e = done.error();
    ASSERT_TRUE(e.cause);
    EXPECT_TRUE(e.cause->is(errc::recovery_failed)) << e.cause->message;
    EXPECT_NE(e.cause->path.find("-safety-"), std::string::npos) << e.cause->path;
    ASSERT_TRUE(e.cause->cause);
    EXPECT_TRUE(e.cause->cause->is(errc::verification_failed));
    EXPECT_NE(e.cause->cause->message.find("hook says no"), std::string::npos);
    EXPECT_TRUE(e.caused_by(errc::recovery_failed));
    EXPECT_TRUE(e.caused_by(errc::verification_failed));
    // The restored content passed quick_check, so the database is at least consistent.
    EXPECT_EQ(test::query_int(live, "SELECT count(*) FROM orders"), 300);
}

TEST(Restore, MissingRequiredTableAfterTheCopyTriggersRecovery) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 100);
    auto v = make_vault(dir);
    const auto id = v.backup(live).value().id;
    change_content(live);
    const auto before = dump_rows(live);
    restore_options opts;
    opts.id = id;
    opts.required_tables = {"added_later"};  // the backup predates it
    const auto done = v.restore(live, opts);
    ASSERT_FALSE(done);
    EXPECT_TRUE(done.error().is(errc::restore_failed));
    EXPECT_NE(done.error().message.find("added_later"), std::string::npos);
    EXPECT_EQ(dump_rows(live), before);
}

// A caller tells "the backup lacks a table my code needs" from any other failed restore by the
// cause restore_failed keeps, not by parsing the message.
TEST(Restore, RestoreFailedKeepsTheCheckFailureAsItsCauseForTheCallerToBranchOn) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 100);
    auto v = make_vault(dir);
    const auto old_backup = v.backup(live).value().id;
    change_content(live);  // adds table added_later
    const auto with_table = v.backup(live).value().id;
    const auto before = dump_rows(live);

    std::vector<std::string> tried;
    result<restore_report> done = error(errc::not_found, "nothing tried yet");
    for (const auto& id : {old_backup, with_table}) {
        tried.push_back(id);
        done = v.restore(live, {.id = id, .required_tables = {"added_later"}});
        if (done || !done.error().is(errc::restore_failed)) break;
        ASSERT_TRUE(done.error().cause) << done.error().message;
        if (!done.error().cause->is(errc::missing_tables)) break;
        // The automatic recovery put the previous content back before the next attempt.
        EXPECT_EQ(dump_rows(live), before);
        EXPECT_TRUE(done.error().caused_by(errc::missing_tables));
        EXPECT_FALSE(done.error().caused_by(errc::recovery_failed));
        EXPECT_FALSE(done.error().caused_by(errc::verification_failed));
        // The cause is the check's own error, whole; the message still tells the whole story.
        EXPECT_NE(done.error().cause->message.find("added_later"), std::string::npos);
        EXPECT_NE(done.error().message.find(done.error().cause->message), std::string::npos);
        EXPECT_NE(done.error().message.find("recovered"), std::string::npos);
    }
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(tried, (std::vector<std::string>{old_backup, with_table}));
    EXPECT_EQ(dump_rows(live), before);  // the backup taken after the change holds the same rows
}

// vault_options::busy_timeout bounds the copy's wait for another connection's write lock.
TEST(Restore, TheVaultsBusyTimeoutBoundsTheCopysWaitForAWriter) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 100);
    auto v = make_vault(dir);
    v.options.busy_timeout = std::chrono::milliseconds(200);
    const auto id = v.backup(live).value().id;
    change_content(live);
    const auto before = dump_rows(live);
    db_handle writer(live);
    test::exec(writer, "BEGIN IMMEDIATE");
    const auto started = std::chrono::steady_clock::now();
    const auto done = v.restore(live, {.id = id});
    const auto waited = std::chrono::steady_clock::now() - started;
    test::exec(writer, "ROLLBACK");
    ASSERT_FALSE(done);
    EXPECT_TRUE(done.error().is(errc::busy_timeout)) << done.error().message;
    EXPECT_LT(waited, std::chrono::seconds(3)) << "waited past the vault's 200 ms busy timeout";
    EXPECT_EQ(dump_rows(live), before);
}

// The rows of every table test::write_transfer does not touch (it changes ledger, customers and
// counters): what a restore beside that writer must leave exactly as the backup holds them.
std::vector<std::string> rows_the_writer_leaves(const fs::path& db) {
    auto rows = dump_rows(db);
    std::erase_if(rows, [](const std::string& r) {
        return r.starts_with("ledger:") || r.starts_with("customers:") ||
               r.starts_with("counters:");
    });
    return rows;
}

// A writer committing back to back in rollback-journal mode holds PENDING or EXCLUSIVE nearly
// all the time and leaves other connections only the gaps between its commits. Restore needs
// SHARED, then RESERVED, then EXCLUSIVE on the live database; its own connection asks for them
// every 250 us (detail/polling_busy_wait.hpp), as a backup does, and so finds a gap well within
// a 1 s busy timeout. With SQLite's default busy handler (sleeps growing to 100 ms) this restore
// ran out of that timeout, and `dbsafe restore` of 512 MiB beside `dbsafe-load-writer` ran out of
// its 10 s (bench/notes.md). The writer never fails: it waits for the copy in its own handler.
TEST(Restore, BesideAWriterCommittingBackToBackFindsTheGapsBetweenCommits) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 2000, "delete");
    test::exec(live,
               "CREATE TABLE filler(id INTEGER PRIMARY KEY, body BLOB);"
               "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<1024)"
               " INSERT INTO filler(body) SELECT randomblob(4000) FROM n;");  // 4 MiB
    auto v = make_vault(dir);
    v.options.busy_timeout = std::chrono::seconds(1);
    const auto id = v.backup(live).value().id;
    const auto backed_up = rows_the_writer_leaves(live);
    test::exec(live, "DELETE FROM filler WHERE id % 2 = 0; DELETE FROM orders WHERE id % 3 = 0");
    ASSERT_NE(rows_the_writer_leaves(live), backed_up);

    test::writer_process writer(live, std::chrono::milliseconds(0));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the writer is committing
    for (int round = 0; round < 2; ++round) {
        SCOPED_TRACE("restore " + std::to_string(round));
        const auto done = v.restore(live, {.id = id});
        ASSERT_TRUE(done) << done.error().message;
    }
    EXPECT_TRUE(writer.kill()) << "the writer died of an SQLite error";
    test::reopen_read_write(live);  // the writer was killed mid-transaction: roll it back
    EXPECT_EQ(rows_the_writer_leaves(live), backed_up);
    EXPECT_EQ(test::ledger_invariant_violation(live), "");
    EXPECT_EQ(test::integrity(live), "ok");
}

// ---- The vault's own verifier on the restored database ---------------------------------------

// An application's rule, written as a connection check: the database the application reads must
// hold at least `min_orders` orders. Backups may hold fewer (an emptied database is still worth
// keeping); the database a restore leaves behind may not. It records every subject it sees.
struct keeps_orders {
    std::int64_t min_orders = 1;
    std::vector<check_subject>* seen = nullptr;

    [[nodiscard]] result<void> check(const checked_database& d) const {
        if (seen != nullptr) seen->push_back(d.subject);
        if (d.subject == check_subject::backup || d.subject == check_subject::fresh_snapshot) {
            return success();
        }
        DBSAFE_TRY(const auto n, detail::query_int(d.db, "SELECT count(*) FROM orders"));
        if (n >= min_orders) return success();
        return error(errc::verification_failed, d.name + " holds " + std::to_string(n) +
                                                    " orders; the application needs at least " +
                                                    std::to_string(min_orders));
    }
    [[nodiscard]] result<void> verify(const backup_file& f) const {
        return check_backup_file(*this, f);
    }
};
static_assert(verifier<keeps_orders> && database_verifier<keeps_orders>);

using rule_vault =
    basic_vault<online_backup, all_of<standard_checks, keeps_orders>, keep_all, local_directory>;

rule_vault make_rule_vault(const temp_dir& dir, std::vector<check_subject>* seen) {
    return rule_vault{
        .storage = local_directory{dir / "backups"},
        .snapshot = {},
        .verification = all_of(standard_checks{.level = check_level::quick, .required = {}},
                               keeps_orders{.min_orders = 1, .seen = seen}),
        .retention = {},
        .options = {}};
}

bool saw(const std::vector<check_subject>& seen, check_subject s) {
    return std::find(seen.begin(), seen.end(), s) != seen.end();
}

TEST_P(RestoreModes, AppliesTheVaultsOwnVerifierToTheLiveDatabase) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 200, GetParam());
    std::vector<check_subject> seen;
    auto v = make_rule_vault(dir, &seen);
    const auto full = v.backup(live);
    ASSERT_TRUE(full) << full.error().message;
    test::exec(live, "DELETE FROM orders");
    const auto empty = v.backup(live);  // a backup may hold no orders
    ASSERT_TRUE(empty) << empty.error().message;

    // A backup that meets the rule: restored, and the rule was checked on the live database.
    seen.clear();
    const auto restored = v.restore(live, {.id = full.value().id});
    ASSERT_TRUE(restored) << restored.error().message;
    EXPECT_TRUE(saw(seen, check_subject::backup));
    EXPECT_TRUE(saw(seen, check_subject::restored_live));
    const auto before = dump_rows(live);
    db_handle other(live);

    // One that breaks it: the copy commits, the rule fails on the live database, and the
    // automatic recovery puts the previous content back, row by row.
    const auto done = v.restore(live, {.id = empty.value().id});
    ASSERT_FALSE(done);
    EXPECT_TRUE(done.error().is(errc::restore_failed)) << done.error().message;
    EXPECT_NE(done.error().message.find("the application needs at least 1"), std::string::npos)
        << done.error().message;
    EXPECT_NE(done.error().message.find("recovered"), std::string::npos) << done.error().message;
    EXPECT_EQ(dump_rows(live), before);
    EXPECT_GT(test::query_int(other, "SELECT count(*) FROM orders"), 0);
}

// After the copy, the live file is read back and hashed against the backup's verified
// checksum (verify/same_image.hpp): a match proves the content byte for byte and stands in
// for quick_check; anything short of a proof falls back to quick_check.
TEST_P(RestoreModes, TheLiveFileReadBackIsProvenToHoldTheBackupsImage) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 300, GetParam());
    auto v = make_vault(dir);
    const auto wanted = dump_rows(live);
    const auto taken = v.backup(live);
    ASSERT_TRUE(taken) << taken.error().message;
    change_content(live);
    const auto done = v.restore(live, {.id = taken.value().id});
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_TRUE(done.value().image_proven);
    EXPECT_EQ(dump_rows(live), wanted);
    db_handle check(live);
    EXPECT_EQ(query_text(check, "PRAGMA integrity_check"), "ok");
}

TEST(RestoreImage, AReaderKeepingWalFramesFromTheCheckpointFallsBackToQuickCheck) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 300, "wal");
    auto v = make_vault(dir);
    const auto wanted = dump_rows(live);
    const auto taken = v.backup(live);
    ASSERT_TRUE(taken) << taken.error().message;
    change_content(live);
    db_handle reader(live);
    test::exec(reader, "BEGIN");
    ASSERT_GT(test::query_int(reader, "SELECT count(*) FROM orders"), 0);  // holds its snapshot
    const auto done = v.restore(live, {.id = taken.value().id});
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_FALSE(done.value().image_proven);
    test::exec(reader, "COMMIT");
    EXPECT_EQ(dump_rows(live), wanted);
}

// local_directory whose commit of a safety backup first runs `at_safety_commit`, which may
// fail it.
struct watched_directory : local_directory {
    using local_directory::local_directory;
    std::function<result<void>()> at_safety_commit;
    result<manifest> commit(const staged_backup& staged, manifest m) {
        if (m.kind == backup_kind::safety && at_safety_commit) {
            DBSAFE_TRYV(at_safety_commit());
        }
        return local_directory::commit(staged, std::move(m));
    }
};
using watched_vault =
    basic_vault<online_backup, standard_checks, default_retention, watched_directory>;

watched_vault make_watched_vault(const temp_dir& dir) {
    return watched_vault{.storage = watched_directory{dir / "backups"},
                         .snapshot = {},
                         .verification = {.level = check_level::quick, .required = {}},
                         .retention = {},
                         .options = {}};
}

// A safety backup that cannot be published (its commit fails: a full or broken backup disk)
// ends the restore before the copy: nothing changed in the live database, which keeps its
// journal mode, no safety backup and no staged file left, and the message says why.
class SafetyBackupFailure : public ::testing::TestWithParam<std::string> {};

TEST_P(SafetyBackupFailure, ASafetyBackupThatCannotBePublishedLeavesTheLiveDatabaseUnchanged) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 300, GetParam());
    auto v = make_watched_vault(dir);
    const auto taken = v.backup(live).value();
    change_content(live);
    const auto old_rows = dump_rows(live);
    v.storage.at_safety_commit = []() -> result<void> {
        return error(errc::io_error, "no space left on the backup disk");
    };
    const auto r = v.restore(live, {.id = taken.id});
    ASSERT_FALSE(r);
    for (const char* says :
         {"the safety backup could not be taken", "no space left on the backup disk",
          "the live database was not changed"}) {
        EXPECT_NE(r.error().message.find(says), std::string::npos) << r.error().message;
    }
    EXPECT_EQ(dump_rows(live), old_rows);
    {
        db_handle h(live);
        EXPECT_EQ(query_text(h.db, "PRAGMA journal_mode"), GetParam());
    }
    const auto listed = v.list().value();
    ASSERT_EQ(listed.backups.size(), 1U);  // the one restored; no safety backup
    EXPECT_TRUE(listed.leftovers.empty());
    std::vector<std::string> files;  // nothing staged is left either
    for (const auto& e : fs::directory_iterator(dir / "backups")) {
        files.push_back(e.path().filename().string());
    }
    std::sort(files.begin(), files.end());
    EXPECT_EQ(files, (std::vector<std::string>{taken.id + ".db", taken.id + ".json"}));
}

INSTANTIATE_TEST_SUITE_P(Restore, SafetyBackupFailure, ::testing::Values("wal", "delete"));

TEST(RestoreImage, OnlyTheHeaderFieldsACopyRewritesMayDiffer) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 300, "delete");
    auto v = make_vault(dir);
    const auto taken = v.backup(live);
    ASSERT_TRUE(taken) << taken.error().message;
    const auto backup = v.storage.open(taken.value().id);
    ASSERT_TRUE(backup);
    const auto& m = backup.value().description;
    const auto copy = dir / "copy.db";
    const auto holds = [&](std::uint64_t offset, const std::string& bytes) {
        fs::copy_file(backup.value().path, copy, fs::copy_options::overwrite_existing);
        {
            std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
            f.seekp(static_cast<std::streamoff>(offset));
            f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        }
        db_handle db(copy);
        return detail::file_holds_backup(db, backup.value().path, m);
    };
    EXPECT_TRUE(holds(0, "SQLite format 3"));                    // the image itself
    EXPECT_TRUE(holds(24, "\x7f\x01\x02\x03"));                  // the change counter a copy bumps
    EXPECT_TRUE(holds(40, "\x7f\x01\x02\x03"));                  // the schema cookie a copy bumps
    EXPECT_TRUE(holds(92, "\x7f\x01\x02\x03\x00\x2d\xc6\xc0"));  // version-valid-for, version
    EXPECT_FALSE(holds(60, "\x7f"));                             // user_version: content
    EXPECT_FALSE(holds(28, "\x7f"));                             // the page count: content
    // A byte in the last page, flipped: writing a fixed value would change nothing whenever the
    // sample's random content already held it there.
    const auto last_page_byte = [&] {
        std::ifstream f(backup.value().path, std::ios::binary);
        f.seekg(static_cast<std::streamoff>(m.size_bytes - 100));
        return static_cast<char>(f.get());
    }();
    EXPECT_FALSE(holds(m.size_bytes - 100, std::string(1, static_cast<char>(~last_page_byte))));
    EXPECT_FALSE(holds(m.size_bytes, std::string(4096, '\0')));  // one page longer
}

TEST(RestoreTo, AppliesTheVaultsOwnVerifierToTheNewFile) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 100);
    std::vector<check_subject> seen;
    auto v = make_rule_vault(dir, &seen);
    const auto full = v.backup(live).value().id;
    test::exec(live, "DELETE FROM orders");
    const auto empty = v.backup(live).value().id;

    const auto refused = v.restore_to(dir / "empty.db", {.id = empty});
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("the application needs at least 1"), std::string::npos)
        << refused.error().message;
    EXPECT_FALSE(fs::exists(dir / "empty.db"));
    EXPECT_TRUE(saw(seen, check_subject::restored_file));

    const auto written = v.restore_to(dir / "full.db", {.id = full});
    ASSERT_TRUE(written) << written.error().message;
    EXPECT_GT(test::query_int(dir / "full.db", "SELECT count(*) FROM orders"), 0);
}

// A rule as a lambda (check_with), composed with the standard checks in the vault: it judges
// every new backup at the file level as well.
TEST(CheckWith, ALambdaRuleInTheVaultJudgesEachNewBackup) {
    temp_dir dir;
    const auto live = dir / "live.db";
    test::create_sample_db(live, 100);
    const auto rule = [](sqlite3* db) -> result<void> {
        DBSAFE_TRY(const auto n, detail::query_int(db, "SELECT count(*) FROM orders"));
        if (n > 0) return success();
        return error(errc::verification_failed, "no orders");
    };
    basic_vault<online_backup,
                all_of<standard_checks, check_with<std::remove_const_t<decltype(rule)>>>, keep_all,
                local_directory>
        v{.storage = local_directory{dir / "backups"},
          .snapshot = {},
          .verification = all_of(standard_checks{}, check_with{rule}),
          .retention = {},
          .options = {}};
    ASSERT_TRUE(v.backup(live));
    test::exec(live, "DELETE FROM orders");
    const auto refused = v.backup(live);  // here the rule holds for backups too
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("no orders"), std::string::npos)
        << refused.error().message;
}

}  // namespace
