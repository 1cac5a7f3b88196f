// Issue 13, items 5, 6, 9, 11 and 13 (library): a backup is restored only into the database
// it was taken from; restore repairs a truncated, header-damaged, empty or missing database and
// writes new files (`restore_to`); paths are paths (a "file:" name is a file, a URL is not a
// directory, a symlinked parent directory works, a symlinked last component does not); and
// restore's and backup's messages say what really happened.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
using dbsafe::test::db_handle;
using dbsafe::test::dump_rows;
using dbsafe::test::temp_dir;
namespace fs = std::filesystem;

vault make_vault(const fs::path& backups) {
    return vault{.storage = local_directory{backups},
                 .snapshot = {},
                 .verification = standard_checks{.level = check_level::full, .required = {}},
                 .retention = {},
                 .options = {}};
}

std::string bytes_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

// Runs the test body in `dir` as the working directory (relative paths), restoring it after.
struct in_directory {
    fs::path before = fs::current_path();
    explicit in_directory(const fs::path& dir) { fs::current_path(dir); }
    ~in_directory() { fs::current_path(before); }
};

// ---- 5. Backups know their database -------------------------------------------------------

TEST(SourceIdentity, RestoreRefusesABackupOfAnotherDatabaseAndNamesBothAndTheOverride) {
    temp_dir dir;
    const auto notes = dir / "notes.db";
    const auto app = dir / "app.db";
    test::create_sample_db(notes, 30);
    test::create_sample_db(app, 60);
    test::exec(app, "CREATE TABLE only_in_app(x); INSERT INTO only_in_app VALUES (1)");
    auto v = make_vault(dir / "bk");
    const auto of_notes = v.backup(notes);
    ASSERT_TRUE(of_notes) << of_notes.error().message;
    const auto app_rows = dump_rows(app);

    const auto refused = v.restore(app, {.id = of_notes.value().id});
    ASSERT_FALSE(refused);
    EXPECT_TRUE(refused.error().is(errc::other_database)) << refused.error().message;
    const auto& msg = refused.error().message;
    EXPECT_NE(msg.find(fs::weakly_canonical(notes).string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(fs::weakly_canonical(app).string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("restore_options::allow_other_database"), std::string::npos) << msg;
    EXPECT_EQ(dump_rows(app), app_rows);
    EXPECT_EQ(v.list().value().backups.size(), 1u);  // not even a safety backup was taken

    restore_options opts;
    opts.id = of_notes.value().id;
    opts.allow_other_database = true;
    const auto forced = v.restore(app, opts);
    ASSERT_TRUE(forced) << forced.error().message;
    EXPECT_EQ(dump_rows(app), dump_rows(notes));
}

TEST(SourceIdentity, ManifestRecordsTheCanonicalPathAndFileIdentityThroughSymlinkedParents) {
    temp_dir dir;
    fs::create_directory(dir / "vol");
    fs::create_directory_symlink(dir / "vol", dir / "srv");
    test::create_sample_db(dir / "vol" / "app.db", 20);
    auto v = make_vault(dir / "srv" / "bk");
    const auto via_link = v.backup(dir / "srv" / "app.db");
    ASSERT_TRUE(via_link) << via_link.error().message;
    const manifest& m = via_link.value();
    EXPECT_EQ(m.source_path, fs::canonical(dir / "vol" / "app.db").string());
    struct stat st {};
    ASSERT_EQ(::stat((dir / "vol" / "app.db").c_str(), &st), 0);
    ASSERT_TRUE(m.source_device && m.source_inode);
    EXPECT_EQ(*m.source_device, static_cast<std::uint64_t>(st.st_dev));
    EXPECT_EQ(*m.source_inode, static_cast<std::uint64_t>(st.st_ino));
    const auto reread = v.storage.load_manifest(m.id);
    ASSERT_TRUE(reread) << reread.error().message;
    EXPECT_EQ(reread.value().source_inode, m.source_inode);
    EXPECT_TRUE(is_backup_of(m, dir / "vol" / "app.db"));
    EXPECT_TRUE(is_backup_of(m, dir / "vol" / "." / "app.db"));
    EXPECT_FALSE(is_backup_of(m, dir / "vol" / "other.db"));
}

TEST(SourceIdentity, AMovedDatabaseNeedsTheOverrideAndTheRefusalSaysItLooksMoved) {
    temp_dir dir;
    test::create_sample_db(dir / "app.db", 20);
    auto v = make_vault(dir / "bk");
    const auto id = v.backup(dir / "app.db").value().id;
    fs::rename(dir / "app.db", dir / "renamed.db");
    const auto refused = v.restore(dir / "renamed.db", {.id = id});
    ASSERT_FALSE(refused);
    EXPECT_TRUE(refused.error().is(errc::other_database));
    EXPECT_NE(refused.error().message.find("probably moved or renamed"), std::string::npos)
        << refused.error().message;
    const auto forced = v.restore(dir / "renamed.db", {.id = id, .allow_other_database = true});
    EXPECT_TRUE(forced) << forced.error().message;
}

TEST(SourceIdentity, OldManifestsMatchByCanonicalAbsolutePathOrRelativeFileNameOnly) {
    temp_dir dir;
    manifest legacy;
    legacy.source_path = "notes.db";  // dbsafe 0.1: as given, relative to a lost directory
    EXPECT_TRUE(is_backup_of(legacy, dir / "notes.db"));
    EXPECT_FALSE(is_backup_of(legacy, dir / "app.db"));
    legacy.source_path = (dir / "x" / ".." / "notes.db").string();  // absolute, not canonical
    EXPECT_TRUE(is_backup_of(legacy, dir / "notes.db"));
    EXPECT_FALSE(is_backup_of(legacy, dir / "y" / "notes.db"));
    legacy.source_path = ":memory:";
    EXPECT_FALSE(is_backup_of(legacy, dir / ":memory:"));
    legacy.source_path.clear();
    EXPECT_FALSE(is_backup_of(legacy, dir / "notes.db"));
}

TEST(SourceIdentity, PruneAndHealthFilteredToOneDatabaseSeeOnlyItsBackups) {
    temp_dir dir;
    const auto a = dir / "a.db";
    const auto b = dir / "b.db";
    test::create_sample_db(a, 10);
    test::create_sample_db(b, 10);
    auto v = make_vault(dir / "bk");
    for (int i = 0; i < 2; ++i) {
        ASSERT_TRUE(v.backup(a));
        ASSERT_TRUE(v.backup(b));
    }
    const auto pruned =
        dbsafe::prune(v.storage, keep_last{1}, v.now(), prune_options{.database = a});
    ASSERT_TRUE(pruned) << pruned.error().message;
    std::size_t of_a = 0;
    std::size_t of_b = 0;
    const auto listed = v.list().value();
    for (const auto& m : listed.backups) {
        of_a += is_backup_of(m, a) ? 1 : 0;
        of_b += is_backup_of(m, b) ? 1 : 0;
    }
    EXPECT_EQ(of_a, 1u);
    EXPECT_EQ(of_b, 2u);  // another database's backups are not this prune's to judge

    const auto health = v.health(health_options{.database = dir / "c.db"});
    ASSERT_TRUE(health) << health.error().message;
    ASSERT_FALSE(health.value().findings.empty());
    EXPECT_EQ(health.value().findings.front().check, health_check::no_backup);
    const auto healthy = v.health(health_options{.database = b});
    ASSERT_TRUE(healthy);
    EXPECT_EQ(healthy.value().backup_count, 2u);
}

// ---- 6. Restore repairs the worst damage ---------------------------------------------------

enum class damage { truncated, header, empty, missing };

std::string name_of(damage d) {
    switch (d) {
        case damage::truncated:
            return "truncated";
        case damage::header:
            return "header";
        case damage::empty:
            return "empty";
        case damage::missing:
            return "missing";
    }
    return "?";
}

void inflict(damage d, const fs::path& db) {
    switch (d) {
        case damage::truncated:
            fs::resize_file(db, fs::file_size(db) / 2);
            break;
        case damage::header: {  // "SQLite format 3\0" and the page size: page 1 is garbage
            std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
            const std::string junk(18, '\x5a');
            f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
            break;
        }
        case damage::empty:
            fs::resize_file(db, 0);
            break;
        case damage::missing:
            fs::remove(db);
            break;
    }
}

class RestoreDamage : public ::testing::TestWithParam<std::tuple<std::string, damage>> {};

TEST_P(RestoreDamage, RestoresTheBackupRowByRowAndKeepsWhatWasThere) {
    const auto& [mode, kind] = GetParam();
    temp_dir dir;
    const auto live = dir / "app.db";
    test::create_sample_db(live, 200, mode);
    auto v = make_vault(dir / "bk");
    const auto taken = v.backup(live);
    ASSERT_TRUE(taken) << taken.error().message;
    const auto wanted = dump_rows(live);
    inflict(kind, live);
    const bool exists = fs::exists(live);
    const std::string damaged = exists ? bytes_of(live) : std::string();

    restore_options opts;
    opts.id = taken.value().id;
    if (kind == damage::truncated || kind == damage::header) {
        // SQLite cannot open it: replacing the file must be asked for, and the refusal says how.
        const auto refused = v.restore(live, opts);
        ASSERT_FALSE(refused);
        EXPECT_TRUE(refused.error().is(errc::not_a_database)) << refused.error().message;
        EXPECT_NE(refused.error().message.find("restore_options::replace_damaged"),
                  std::string::npos);
        EXPECT_NE(refused.error().message.find("vault.restore_to()"), std::string::npos);
        EXPECT_EQ(bytes_of(live), damaged);
        opts.replace_damaged = true;
    }
    const auto done = v.restore(live, opts);
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(dump_rows(live), wanted);
    EXPECT_EQ(test::query_int(live,
                              "SELECT count(*) FROM pragma_integrity_check WHERE "
                              "integrity_check != 'ok'"),
              0);
    if (kind == damage::truncated) {  // its header still said WAL: the file is WAL again
        db_handle h(live);
        EXPECT_EQ(
            test::query_int(h, "SELECT journal_mode = '" + mode + "' FROM pragma_journal_mode"), 1);
    }
    if (kind == damage::missing) {
        EXPECT_TRUE(done.value().safety.id.empty());
    } else {
        // The safety backup holds exactly the bytes that were there (checksummed).
        const auto safety = v.storage.open(done.value().safety.id);
        ASSERT_TRUE(safety) << safety.error().message;
        EXPECT_EQ(safety.value().description.kind, backup_kind::safety);
        EXPECT_TRUE(checksum_matches{}.verify(
            backup_file{safety.value().path, &safety.value().description}));
        if (kind != damage::empty) {
            EXPECT_EQ(bytes_of(safety.value().path), damaged);
            // The byte copy is no SQLite image: verify checks its checksum only, and health
            // verifies the newest backup that is one.
            EXPECT_TRUE(v.verify(safety.value().description.id));
            const auto health = v.health();
            ASSERT_TRUE(health);
            EXPECT_FALSE(health.value().has(health_check::verification_failed))
                << health.value().findings.front().message;
        } else {
            EXPECT_EQ(dump_rows(safety.value().path).size(), 0u);
        }
    }
    for (const auto& n : names_in(dir.path())) EXPECT_EQ(n.find(".tmp"), std::string::npos) << n;
}

INSTANTIATE_TEST_SUITE_P(Restore, RestoreDamage,
                         ::testing::Combine(::testing::Values("wal", "delete"),
                                            ::testing::Values(damage::truncated, damage::header,
                                                              damage::empty, damage::missing)),
                         [](const auto& info) {
                             return std::get<0>(info.param) + "_" +
                                    name_of(std::get<1>(info.param));
                         });

TEST(RestoreDamage, MissingDatabaseWithAWalBesideItIsRefused) {
    temp_dir dir;
    const auto live = dir / "app.db";
    test::create_sample_db(live, 20);
    auto v = make_vault(dir / "bk");
    const auto id = v.backup(live).value().id;
    fs::remove(live);
    std::ofstream(dir / "app.db-wal") << std::string(4096, 'w');
    const auto refused = v.restore(live, {.id = id});
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("app.db-wal"), std::string::npos)
        << refused.error().message;
    EXPECT_FALSE(fs::exists(live));
}

TEST(RestoreTo, WritesTheBackupToANewFileAndRefusesAnExistingOne) {
    temp_dir dir;
    const auto live = dir / "app.db";
    test::create_sample_db(live, 100);
    auto v = make_vault(dir / "bk");
    const auto id = v.backup(live).value().id;
    const auto wanted = dump_rows(live);
    test::exec(live, "DELETE FROM orders");
    const auto live_bytes = bytes_of(live);

    const auto written = v.restore_to(dir / "copy.db", {.id = id});
    ASSERT_TRUE(written) << written.error().message;
    EXPECT_EQ(dump_rows(dir / "copy.db"), wanted);
    EXPECT_TRUE(written.value().safety.id.empty());
    EXPECT_EQ(bytes_of(live), live_bytes);  // the live database was not touched

    const auto again = v.restore_to(dir / "copy.db", {.id = id});
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, std::errc::file_exists) << again.error().message;
    EXPECT_NE(again.error().message.find("vault.restore()"), std::string::npos);

    const auto no_dir = v.restore_to(dir / "nowhere" / "copy.db", {.id = id});
    ASSERT_FALSE(no_dir);
    EXPECT_TRUE(no_dir.error().is(errc::not_found)) << no_dir.error().message;
    EXPECT_FALSE(fs::exists(dir / "nowhere"));
}

// ---- 13. Messages that are true ------------------------------------------------------------

TEST(RestoreMessages, LockTimeoutBeforeTheCopyCommitsSaysUntouchedNotRecoveryFailed) {
    for (const std::string mode : {"delete", "wal"}) {
        SCOPED_TRACE(mode);
        temp_dir dir;
        const auto live = dir / "app.db";
        test::create_sample_db(live, 50, mode);
        auto v = make_vault(dir / "bk");
        v.options.busy_timeout = std::chrono::milliseconds(200);
        const auto id = v.backup(live).value().id;
        test::exec(live, "DELETE FROM orders");
        const auto before = dump_rows(live);
        db_handle writer(live);
        test::exec(writer, "BEGIN IMMEDIATE");  // another connection's write lock, held
        const auto done = v.restore(live, {.id = id});
        test::exec(writer, "ROLLBACK");
        ASSERT_FALSE(done);
        const auto& msg = done.error().message;
        EXPECT_TRUE(done.error().is(errc::busy_timeout)) << msg;
        EXPECT_EQ(msg.find("RECOVERY"), std::string::npos) << msg;
        EXPECT_NE(msg.find("was not changed"), std::string::npos) << msg;
        EXPECT_NE(msg.find("vault_options::busy_timeout"), std::string::npos) << msg;
        EXPECT_EQ(dump_rows(live), before);
    }
}

TEST(BackupMessages, DamagedSourceSaysTheSourceIsDamagedNotTakeANewBackup) {
    temp_dir dir;
    const auto live = dir / "app.db";
    test::create_sample_db(live, 300, "delete");
    const auto page_size = test::query_int(live, "PRAGMA page_size");
    {  // garbage over the b-tree header of page 3
        std::fstream f(live, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(2 * page_size));
        const std::string junk(16, '\xee');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    auto v = make_vault(dir / "bk");
    const auto taken = v.backup(live);
    ASSERT_FALSE(taken);
    const auto& msg = taken.error().message;
    EXPECT_TRUE(taken.error().is(errc::verification_failed)) << msg;
    EXPECT_NE(msg.find("SOURCE database is damaged"), std::string::npos) << msg;
    EXPECT_NE(msg.find("a restore keeps the damaged file"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("take a new backup"), std::string::npos) << msg;
}

// ---- 9. `file:` names are files; URLs are not directories ---------------------------------

TEST(Paths, FileColonNamesAreBackedUpAndRestoredAsThemselves) {
    temp_dir dir;
    in_directory here(dir.path());
    // Decoys a URI reading would open instead.
    test::create_sample_db(dir / "x.db", 5);
    test::create_sample_db(dir / "m.db", 5);
    for (const std::string name : {"file:x.db", "file:m.db?mode=memory"}) {
        SCOPED_TRACE(name);
        test::create_sample_db(dir / name, 40);  // absolute: a path for the fixture too
        test::exec(dir / name, "CREATE TABLE mine(x); INSERT INTO mine VALUES ('" + name + "')");
        const auto decoys = dump_rows(dir / "x.db");
        const auto wanted = dump_rows(dir / name);
        auto v = make_vault("bk");
        const auto taken = v.backup(name);  // relative, as a user types it
        ASSERT_TRUE(taken) << taken.error().message;
        EXPECT_EQ(taken.value().source_path, (fs::canonical(dir.path()) / name).string());
        EXPECT_EQ(dump_rows(taken.value().data_path), wanted);
        test::exec(dir / name, "DELETE FROM orders");
        const auto done = v.restore(name, {.id = taken.value().id});
        ASSERT_TRUE(done) << done.error().message;
        EXPECT_EQ(dump_rows(dir / name), wanted);
        EXPECT_EQ(dump_rows(dir / "x.db"), decoys);
    }
}

TEST(Paths, UrlAsBackupDirectoryIsUnsupportedAndCreatesNothing) {
    temp_dir dir;
    in_directory here(dir.path());
    test::create_sample_db(dir / "app.db", 5);
    const auto before = names_in(dir.path());
    for (const std::string url : {"s3://bucket/x", "sftp://host/backups", "gs+x.y://b"}) {
        auto v = make_vault(url);
        const auto taken = v.backup("app.db");
        ASSERT_FALSE(taken) << url;
        EXPECT_TRUE(taken.error().is(errc::unsupported)) << taken.error().message;
        const auto listed = v.list();
        ASSERT_FALSE(listed) << url;
        EXPECT_TRUE(listed.error().is(errc::unsupported));
    }
    EXPECT_EQ(names_in(dir.path()), before);
}

// ---- 11. Symlinked parents work; a symlinked last component does not -----------------------

TEST(Paths, DatabaseAndBackupDirectoryReachedThroughSymlinkedParentsWork) {
    for (const std::string mode : {"wal", "delete"}) {
        SCOPED_TRACE(mode);
        temp_dir dir;
        fs::create_directory(dir / "vol");
        fs::create_directory_symlink(dir / "vol", dir / "srv");
        const auto live = dir / "srv" / "app.db";
        test::create_sample_db(dir / "vol" / "app.db", 50, mode);
        auto v = make_vault(dir / "srv" / "bk");
        const auto wanted = dump_rows(live);
        const auto taken = v.backup(live);
        ASSERT_TRUE(taken) << taken.error().message;
        test::exec(live, "DELETE FROM customers WHERE id > 10");
        const auto done = v.restore(live, {.id = taken.value().id});
        ASSERT_TRUE(done) << done.error().message;
        EXPECT_EQ(dump_rows(live), wanted);
        EXPECT_TRUE(fs::exists(dir / "vol" / "bk" / (taken.value().id + ".json")));
    }
}

TEST(Paths, SymlinkAsTheLastComponentIsStillRefused) {
    temp_dir dir;
    test::create_sample_db(dir / "real.db", 20);
    fs::create_symlink(dir / "real.db", dir / "link.db");
    auto v = make_vault(dir / "bk");
    const auto through_link = v.backup(dir / "link.db");
    ASSERT_FALSE(through_link);
    EXPECT_TRUE(through_link.error().is(errc::symlink_refused)) << through_link.error().message;

    const auto id = v.backup(dir / "real.db").value().id;
    const auto before = bytes_of(dir / "real.db");
    restore_options opts;
    opts.id = id;
    opts.allow_other_database = true;
    opts.replace_damaged = true;
    const auto into_link = v.restore(dir / "link.db", opts);
    ASSERT_FALSE(into_link);
    EXPECT_TRUE(into_link.error().is(errc::symlink_refused)) << into_link.error().message;
    EXPECT_TRUE(fs::is_symlink(dir / "link.db"));
    EXPECT_EQ(bytes_of(dir / "real.db"), before);

    const auto to_link = v.restore_to(dir / "link.db", opts);
    ASSERT_FALSE(to_link);
    EXPECT_TRUE(fs::is_symlink(dir / "link.db"));
    EXPECT_EQ(bytes_of(dir / "real.db"), before);
}

}  // namespace

namespace {

TEST(BackupMessages, ReadOnlyWalSourceSaysWhatToDo) {
    // As root, permissions stop nobody: the backup runs in a child that drops to `nobody`, for
    // whom the root-owned 0755 directory and 0644 database are read-only.
    temp_dir tmp;
    const auto ro = tmp / "ro";
    const auto bk = tmp / "bk";
    fs::create_directory(ro);
    fs::create_directory(bk);
    test::create_sample_db(ro / "app.db", 20, "wal");  // closed: no -wal, no -shm
    const auto rx = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                    fs::perms::others_read | fs::perms::others_exec;
    fs::permissions(tmp.path(), rx);
    fs::permissions(bk, fs::perms::all);
    fs::permissions(ro / "app.db",
                    fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                            fs::perms::group_exec | fs::perms::others_read |
                            fs::perms::others_exec);
    const auto report = tmp / "child.report";
    std::ofstream(report) << "";
    fs::permissions(report, fs::perms::all & ~(fs::perms::owner_exec | fs::perms::group_exec |
                                               fs::perms::others_exec));
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(2);
        auto v = make_vault(bk);
        auto made = v.backup(ro / "app.db");
        std::ofstream(report, std::ios::in | std::ios::out)
            << (made ? std::string("published") : made.error().message);
        ::_exit(made ? 1 : 0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    fs::permissions(ro, fs::perms::owner_all);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_NE(WEXITSTATUS(status), 2) << "cannot drop privileges to test permissions";
    const std::string message = bytes_of(report);
    EXPECT_EQ(WEXITSTATUS(status), 0) << message;
    EXPECT_NE(message.find("WAL mode"), std::string::npos) << message;
    EXPECT_NE(message.find("app.db-shm"), std::string::npos) << message;
    EXPECT_NE(message.find("immutable=1"), std::string::npos) << message;
    EXPECT_NE(message.find("Run dbsafe as a user who can write to"), std::string::npos) << message;
}

}  // namespace

namespace {

// What a killed restore by file leaves beside the database is removed by the next one, but a
// temporary file another restore holds locked, and any name that is not dbsafe's, stay.
TEST(RestoreTemps, StaleOnesAreRemovedLockedOnesAndOtherNamesStay) {
    temp_dir tmp;
    const auto db = tmp / "live.db";
    const std::string id = "20261201T020637.698Z-manual-362d4a";
    const auto stale = tmp / ("live.db.dbsafe-" + id + "-0123456789abcdef.tmp");
    const auto stale_side = tmp / ("live.db.dbsafe-" + id + "-0123456789abcdef.tmp-journal");
    const auto in_use = tmp / ("live.db.dbsafe-" + id + "-fedcba9876543210.tmp");
    const auto foreign = {tmp / "live.db.dbsafe-notes.tmp", tmp / "other.db.dbsafe-x.tmp",
                          tmp / ("other.db.dbsafe-" + id + "-0123456789abcdef.tmp")};
    for (const auto& p : {stale, stale_side, in_use}) std::ofstream(p) << "partial";
    for (const auto& p : foreign) std::ofstream(p) << "not dbsafe's";
    const int fd = ::open(in_use.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);  // as a restore in another process holds it

    detail::remove_stale_restore_temps(db);
    EXPECT_FALSE(fs::exists(stale));
    EXPECT_FALSE(fs::exists(stale_side));
    EXPECT_TRUE(fs::exists(in_use)) << "a temporary file in use by a restore was removed";
    for (const auto& p : foreign) EXPECT_TRUE(fs::exists(p)) << p;

    ::close(fd);  // that restore was killed
    detail::remove_stale_restore_temps(db);
    EXPECT_FALSE(fs::exists(in_use));
    for (const auto& p : foreign) EXPECT_TRUE(fs::exists(p)) << p;
}

// A rebuilt or decompressed backup is a private temporary copy (readable_backup::movable):
// restore by file renames it into place instead of writing the database once more, and falls
// back to copying it when it sits on another file system (here /dev/shm, a tmpfs).
TEST(RestoreTemps, APrivateCopyIsMovedIntoPlaceOrCopiedFromAnotherFileSystem) {
    temp_dir tmp;
    const auto original = tmp / "original.db";
    test::create_sample_db(original, 500);
    const auto expected_rows = dump_rows(original);
    const auto sum = hash_file(original);
    ASSERT_TRUE(sum) << sum.error().message;
    const detail::new_file_checks checks{[](sqlite3*) { return result<void>(success()); }, false};
    const std::string id = "20261202T000000.000Z-manual-0000aa";

    const auto image = tmp / "image.unpacked.tmp";
    fs::copy_file(original, image);
    struct stat before {};
    ASSERT_EQ(::stat(image.c_str(), &before), 0);
    const auto target = tmp / "restored.db";
    const auto moved =
        detail::write_database_file(image, sum.value(), target, id, false, checks, true);
    ASSERT_TRUE(moved) << moved.error().message;
    struct stat after {};
    ASSERT_EQ(::stat(target.c_str(), &after), 0);
    EXPECT_EQ(after.st_ino, before.st_ino) << "the private copy was copied, not moved";
    EXPECT_FALSE(fs::exists(image));
    EXPECT_EQ(dump_rows(target), expected_rows);

    // Not movable (a plain backup's own file): copied, the original stays.
    const auto kept = tmp / "kept.db";
    fs::copy_file(original, kept);
    const auto copied_target = tmp / "copied.db";
    ASSERT_TRUE(detail::write_database_file(kept, sum.value(), copied_target, id, false, checks));
    EXPECT_TRUE(fs::exists(kept));
    EXPECT_EQ(dump_rows(copied_target), expected_rows);

    if (!fs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm for the other file system";
    temp_dir shm("/dev/shm");
    const auto far = shm / "image.unpacked.tmp";
    fs::copy_file(original, far);
    const auto far_target = tmp / "from-far.db";
    const auto crossed =
        detail::write_database_file(far, sum.value(), far_target, id, false, checks, true);
    ASSERT_TRUE(crossed) << crossed.error().message;
    EXPECT_TRUE(fs::exists(far)) << "copied across file systems, so the copy's owner removes it";
    EXPECT_EQ(dump_rows(far_target), expected_rows);
    for (const auto& e : fs::directory_iterator(tmp.path())) {
        EXPECT_EQ(e.path().string().find(".dbsafe-"), std::string::npos) << e.path();
    }
}

}  // namespace
