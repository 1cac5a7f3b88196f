// vault.hpp: the whole backup pipeline on real files. The published backup equals the source
// row by row whatever the source (WAL, rollback journal, a caller's connection, an in-memory
// database) and stays consistent while another process writes. Every bad input fails with its
// errc and a message naming the file, and afterwards the backup directory holds only complete
// backups: no temp file, no data without a manifest.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "dbsafe/dbsafe.hpp"
#include "support/concurrent_writer.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
namespace fs = std::filesystem;
using dbsafe::test::db_handle;
using namespace std::chrono_literals;

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
}

// The directory holds exactly `count` complete backups and nothing else.
void expect_only_complete_backups(const fs::path& dir, std::size_t count) {
    const local_directory storage{dir};
    const auto listed = storage.list();
    ASSERT_TRUE(listed) << listed.error().message;
    EXPECT_EQ(listed.value().backups.size(), count);
    for (const auto& d : listed.value().leftovers) {
        ADD_FAILURE() << "leftover " << d.path << ": " << d.reason;
    }
    std::set<std::string> expected;
    for (const auto& m : listed.value().backups) {
        expected.insert(m.id + ".db");
        expected.insert(m.id + ".json");
    }
    std::set<std::string> present;
    std::error_code ec;
    if (fs::exists(dir, ec)) {
        for (const auto& e : fs::directory_iterator(dir)) {
            present.insert(e.path().filename().string());
        }
    }
    EXPECT_EQ(present, expected);
}

void expect_names(const error& e, const fs::path& p) {
    EXPECT_NE(e.message.find(p.string()), std::string::npos) << e.message;
}

class VaultBackup : public ::testing::Test {
  protected:
    dbsafe::test::temp_dir tmp;
    fs::path source = tmp / "live.db";
    fs::path dir = tmp / "backups";
    vault v{.storage = local_directory{dir}};
};

class VaultBackupModes : public VaultBackup, public ::testing::WithParamInterface<std::string> {};
INSTANTIATE_TEST_SUITE_P(JournalModes, VaultBackupModes, ::testing::Values("wal", "delete"));

TEST_P(VaultBackupModes, PublishedBackupEqualsCommittedSourceRowByRowWithAnOpenWriter) {
    dbsafe::test::create_sample_db(source, 1000, GetParam());
    dbsafe::test::exec(source, "PRAGMA user_version = 42");
    const auto committed = dbsafe::test::dump_rows(source);
    db_handle writer(source);
    dbsafe::test::exec(writer, "BEGIN IMMEDIATE; INSERT INTO customers(name) VALUES ('ghost')");
    const auto at = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + 12h;
    v.options.clock = [&] { return at; };

    const auto made = v.backup(source, {.kind = backup_kind::pre_migration});
    ASSERT_TRUE(made) << made.error().message;
    const manifest& m = made.value();
    EXPECT_EQ(dbsafe::test::dump_rows(m.data_path), committed);
    EXPECT_EQ(m.data_path, dir / (m.id + ".db"));
    EXPECT_EQ(m.file, m.id + ".db");
    EXPECT_EQ(m.kind, backup_kind::pre_migration);
    EXPECT_EQ(m.created_at, at);
    EXPECT_EQ(m.id.rfind("20261125T120000.000Z-pre_migration-", 0), 0U) << m.id;
    EXPECT_EQ(m.source_path, source.string());
    EXPECT_EQ(m.size_bytes, fs::file_size(m.data_path));
    EXPECT_EQ(m.checksum, hash_file(m.data_path).value());
    EXPECT_EQ(m.page_size, 4096);
    EXPECT_EQ(static_cast<std::uint64_t>(m.page_count * m.page_size), m.size_bytes);
    EXPECT_EQ(m.user_version, 42);
    EXPECT_EQ(m.schema_version, 42);
    EXPECT_EQ(m.sqlite_version, sqlite3_libversion());
    EXPECT_EQ(m.method, "backup-api");
    EXPECT_EQ(m.dbsafe_version, version_string);
    EXPECT_GT(m.seconds, 0.0);
    // What list() reads back from disk is what backup() returned.
    const auto listed = v.list();
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed.value().backups.size(), 1U);
    EXPECT_EQ(to_json(listed.value().backups[0]), to_json(m));
    expect_only_complete_backups(dir, 1);
    dbsafe::test::exec(writer, "ROLLBACK");
}

TEST_P(VaultBackupModes, VacuumVaultPublishesAnEqualCompactCopy) {
    dbsafe::test::create_sample_db(source, 1000, GetParam());
    basic_vault<vacuum_into, standard_checks, keep_all, local_directory> vv{
        .storage = local_directory{dir}};
    const auto made = vv.backup(source);
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(made.value().method, "vacuum-into");
    EXPECT_EQ(dbsafe::test::dump_rows(made.value().data_path), dbsafe::test::dump_rows(source));
    expect_only_complete_backups(dir, 1);
}

TEST_F(VaultBackup, FromACallersOpenConnectionWithAnOpenTransaction) {
    dbsafe::test::create_sample_db(source, 500);
    const auto committed = dbsafe::test::dump_rows(source);
    db_handle callers(source);
    dbsafe::test::exec(callers,
                       "BEGIN; DELETE FROM orders; INSERT INTO customers(name) "
                       "VALUES ('uncommitted')");
    const auto made = v.backup(callers.db);
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(dbsafe::test::dump_rows(made.value().data_path), committed);
    EXPECT_EQ(made.value().source_path, source.string());
    EXPECT_EQ(sqlite3_get_autocommit(callers), 0) << "the caller's transaction was ended";
    dbsafe::test::exec(callers, "ROLLBACK");
}

// A caller mid-write in rollback mode holds the lock dbsafe's own connection needs, so the vault
// falls back to the caller's connection; SQLite cannot copy from a connection that is writing.
TEST_F(VaultBackup, CallersConnectionInsideAnExclusiveWriteIsRefusedClearly) {
    dbsafe::test::create_sample_db(source, 200, "delete");
    db_handle callers(source);
    dbsafe::test::exec(callers, "BEGIN EXCLUSIVE; INSERT INTO customers(name) VALUES ('x')");
    v.options.busy_timeout = 50ms;
    const auto made = v.backup(callers.db);
    ASSERT_FALSE(made);
    EXPECT_TRUE(made.error().is(errc::in_transaction)) << made.error().message;
    expect_names(made.error(), source);
    EXPECT_EQ(sqlite3_get_autocommit(callers), 0);
    dbsafe::test::exec(callers, "ROLLBACK");
    expect_only_complete_backups(dir, 0);
}

TEST_F(VaultBackup, FromAnInMemoryDatabase) {
    dbsafe::test::create_sample_db(source, 300, "delete");
    db_handle memory(":memory:");
    {
        db_handle file(source, SQLITE_OPEN_READONLY);
        sqlite3_backup* b = sqlite3_backup_init(memory, "main", file, "main");
        ASSERT_NE(b, nullptr);
        ASSERT_EQ(sqlite3_backup_step(b, -1), SQLITE_DONE);
        sqlite3_backup_finish(b);
    }
    const auto made = v.backup(memory.db);
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(made.value().source_path, ":memory:");
    EXPECT_EQ(dbsafe::test::dump_rows(made.value().data_path), dbsafe::test::dump_rows(source));
    expect_only_complete_backups(dir, 1);
}

// Another process commits between every two copy steps (the progress callback waits for it).
TEST_F(VaultBackup, ConsistentWhileAnotherProcessWritesContinuously) {
    dbsafe::test::create_sample_db(source, 1500, "wal");
    dbsafe::test::writer_process writer(source);
    db_handle observer(source);
    auto seen = dbsafe::test::wait_for_commit_after(observer, 0);
    v.snapshot.pages_per_step = 8;
    const auto made = v.backup(source, {.on_progress = [&](const progress&) {
                                   seen = dbsafe::test::wait_for_commit_after(observer, seen);
                               }});
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(dbsafe::test::ledger_invariant_violation(made.value().data_path), "");
    EXPECT_LT(dbsafe::test::query_int(made.value().data_path, "SELECT value FROM counters"),
              dbsafe::test::committed_writes(observer));
    basic_vault<vacuum_into, standard_checks, keep_all, local_directory> vv{
        .storage = local_directory{dir}};
    const auto vacuumed = vv.backup(source);
    ASSERT_TRUE(vacuumed) << vacuumed.error().message;
    EXPECT_EQ(dbsafe::test::ledger_invariant_violation(vacuumed.value().data_path), "");
    EXPECT_TRUE(writer.kill()) << "the writer process died on its own";
    expect_only_complete_backups(dir, 2);
}

TEST_F(VaultBackup, FilesAre0600AndACreatedDirectoryIs0700) {
    dbsafe::test::create_sample_db(source, 50);
    v.storage = local_directory{tmp / "new" / "nested" / "backups"};
    const auto made = v.backup(source);
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(mode_of(made.value().data_path), 0600U);
    EXPECT_EQ(mode_of(v.storage.manifest_path(made.value().id)), 0600U);
    EXPECT_EQ(mode_of(tmp / "new"), 0700U);
    EXPECT_EQ(mode_of(tmp / "new" / "nested" / "backups"), 0700U);
}

TEST_F(VaultBackup, IdsAreUniqueAndListedNewestFirst) {
    dbsafe::test::create_sample_db(source, 50);
    std::chrono::system_clock::time_point t =
        std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + 12h;
    v.options.clock = [&] { return t; };
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) ids.push_back(v.backup(source).value().id);  // same instant
    for (int i = 0; i < 3; ++i) {
        t += 1500ms;
        ids.push_back(v.backup(source).value().id);
    }
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
    EXPECT_TRUE(std::is_sorted(ids.begin() + 3, ids.end()));
    const auto listed = v.list().value().backups;
    ASSERT_EQ(listed.size(), 6U);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(listed[i].id, ids[5 - i]);
    expect_only_complete_backups(dir, 6);
}

TEST_F(VaultBackup,
       ProgressIsMonotonicWithinEachPhaseAndTheSnapshotAndTheStoreEndAtTheBackupsSize) {
    dbsafe::test::create_sample_db(source, 1000);
    v.snapshot.pages_per_step = 10;
    std::vector<progress> seen;
    const auto made =
        v.backup(source, {.on_progress = [&](const progress& p) { seen.push_back(p); }});
    ASSERT_TRUE(made) << made.error().message;
    ASSERT_GE(seen.size(), 3U);
    for (std::size_t i = 1; i < seen.size(); ++i) {
        if (seen[i].phase == seen[i - 1].phase) {
            EXPECT_GE(seen[i].pages_done, seen[i - 1].pages_done);
        }
    }
    // The snapshot, then SQLite's check of it, each ending at its total.
    std::vector<progress> snapshot;
    for (const auto& p : seen) {
        if (p.phase == progress_phase::snapshot) snapshot.push_back(p);
    }
    ASSERT_FALSE(snapshot.empty());
    EXPECT_EQ(snapshot.back().pages_done, snapshot.back().pages_total);
    EXPECT_EQ(snapshot.back().bytes_total(), made.value().size_bytes);
    // Then the store: announced, and its total once the backup is published.
    ASSERT_GE(seen.size(), 2U);
    EXPECT_EQ(seen[seen.size() - 2].phase, progress_phase::store);
    EXPECT_EQ(seen[seen.size() - 2].pages_total, 0U);
    EXPECT_EQ(seen.back().phase, progress_phase::store);
    EXPECT_EQ(seen.back().bytes_total(), made.value().size_bytes);
    EXPECT_EQ(seen.back().pages_done, seen.back().pages_total);
}

TEST_F(VaultBackup, CancellationLeavesNothingBehind) {
    dbsafe::test::create_sample_db(source, 1000);
    ASSERT_TRUE(v.backup(source));
    v.snapshot.pages_per_step = 10;
    std::stop_source stop;
    const auto made = v.backup(
        source,
        {.on_progress = [&](const progress&) { stop.request_stop(); }, .stop = stop.get_token()});
    ASSERT_FALSE(made);
    EXPECT_TRUE(made.error().is(errc::cancelled)) << made.error().message;
    expect_only_complete_backups(dir, 1);
}

TEST_F(VaultBackup, BackupThatFailsVerificationIsNotPublished) {
    dbsafe::test::create_sample_db(source, 100);
    v.verification.required = {"customers", "invoices"};
    const auto made = v.backup(source);
    ASSERT_FALSE(made);
    EXPECT_TRUE(made.error().is(errc::missing_tables)) << made.error().message;
    EXPECT_NE(made.error().message.find("not published"), std::string::npos);
    EXPECT_NE(made.error().message.find("invoices"), std::string::npos);
    expect_only_complete_backups(dir, 0);
}

TEST_F(VaultBackup, MissingDatabaseIsNotFoundAndCreatesNothing) {
    const auto made = v.backup(tmp / "nope.db");
    ASSERT_FALSE(made);
    EXPECT_TRUE(made.error().is(errc::not_found)) << made.error().message;
    expect_names(made.error(), tmp / "nope.db");
    EXPECT_FALSE(fs::exists(tmp / "nope.db")) << "a database was created by accident";
    expect_only_complete_backups(dir, 0);
}

TEST_F(VaultBackup, FileThatIsNotSqliteIsRefusedAndNamed) {
    std::ofstream(source) << std::string(8192, 'x');
    const auto made = v.backup(source);
    ASSERT_FALSE(made);
    EXPECT_TRUE(made.error().is(errc::not_a_database)) << made.error().message;
    expect_names(made.error(), source);
    expect_only_complete_backups(dir, 0);
}

TEST_F(VaultBackup, DatabaseLockedPastTheTimeoutIsBusyTimeout) {
    dbsafe::test::create_sample_db(source, 100, "delete");
    ASSERT_TRUE(v.backup(source));
    db_handle locker(source);
    dbsafe::test::exec(locker, "BEGIN EXCLUSIVE");
    v.options.busy_timeout = 100ms;
    const auto made = v.backup(source);
    ASSERT_FALSE(made);
    EXPECT_TRUE(made.error().is(errc::busy_timeout)) << made.error().message;
    EXPECT_EQ(made.error().code, std::errc::resource_unavailable_try_again);
    expect_names(made.error(), source);
    dbsafe::test::exec(locker, "ROLLBACK");
    expect_only_complete_backups(dir, 1);
}

// vault_options::busy_timeout is the one setting for every wait of a backup: it also bounds
// the copy steps' wait for a lock another connection takes mid-copy (online_backup used to
// wait its own 10 s there, whatever the vault said).
TEST_F(VaultBackup, TheVaultsBusyTimeoutBoundsTheCopysWaitForALockTakenMidCopy) {
    dbsafe::test::create_sample_db(source, 1500, "delete");
    v.snapshot.pages_per_step = 8;
    // The copy steps' wait: fast_io off, else this idle rollback-journal source is copied from
    // its file, whole, before the lock is taken (rollback_file_copy_test.cpp pins that copy).
    v.snapshot.fast_io = false;
    v.options.busy_timeout = 200ms;
    db_handle locker(source);
    bool locked = false;
    const auto started = std::chrono::steady_clock::now();
    const auto made = v.backup(source, {.kind = backup_kind::manual,
                                        .on_progress =
                                            [&](const progress&) {
                                                if (!locked) {
                                                    dbsafe::test::exec(locker, "BEGIN EXCLUSIVE");
                                                }
                                                locked = true;
                                            },
                                        .stop = {},
                                        .verify = true});
    const auto waited = std::chrono::steady_clock::now() - started;
    dbsafe::test::exec(locker, "ROLLBACK");
    ASSERT_FALSE(made);
    EXPECT_TRUE(made.error().is(errc::busy_timeout)) << made.error().message;
    EXPECT_LT(waited, 3s) << "waited past the vault's 200 ms busy timeout";
    expect_only_complete_backups(dir, 0);
}

TEST_F(VaultBackup, BackupDirectoryThatIsAFileOrUnderAFileIsRefused) {
    dbsafe::test::create_sample_db(source, 50);
    std::ofstream(tmp / "plain") << "not a directory";
    for (const auto& bad : {tmp / "plain", tmp / "plain" / "backups"}) {
        SCOPED_TRACE(bad.string());
        v.storage = local_directory{bad};
        const auto made = v.backup(source);
        ASSERT_FALSE(made);
        EXPECT_NE(made.error().message.find((tmp / "plain").string()), std::string::npos)
            << made.error().message;
    }
    std::ifstream in(tmp / "plain");
    std::string text;
    std::getline(in, text);
    EXPECT_EQ(text, "not a directory");
}

// As root, permissions do not stop writes; a forked child drops to `nobody` so that a 0755
// root-owned directory really is unwritable for it.
TEST_F(VaultBackup, UnwritableBackupDirectoryFailsNamingTheFile) {
    dbsafe::test::create_sample_db(source, 50, "delete");
    fs::create_directories(dir);
    fs::permissions(tmp.path(), fs::perms(0755));
    fs::permissions(source, fs::perms(0644));
    fs::permissions(dir, fs::perms(0555));
    int out[2];
    ASSERT_EQ(::pipe(out), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(out[0]);
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(2);
        vault child{.storage = local_directory{dir}};
        const auto made = child.backup(source);
        const std::string msg = made ? std::string("succeeded") : made.error().message;
        (void)!::write(out[1], msg.data(), msg.size());
        ::_exit(made ? 0 : 1);
    }
    ::close(out[1]);
    std::string msg;
    char buf[512];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
        msg.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_NE(WEXITSTATUS(status), 2) << "could not drop privileges";
    EXPECT_EQ(WEXITSTATUS(status), 1) << msg;
    EXPECT_NE(msg.find(dir.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("permission"), std::string::npos) << msg;
    fs::permissions(dir, fs::perms(0700));
    expect_only_complete_backups(dir, 0);
}

TEST_F(VaultBackup, NotEnoughSpaceIsRefusedBeforeAnythingIsWritten) {
    dbsafe::test::create_sample_db(source, 1000, "delete");
    std::vector<fs::path> probed;
    v.options.free_space = [&](const fs::path& p) -> result<std::uint64_t> {
        probed.push_back(p);
        return std::uint64_t{1000};
    };
    const auto made = v.backup(source);
    ASSERT_FALSE(made);
    EXPECT_TRUE(made.error().is(errc::insufficient_space)) << made.error().message;
    EXPECT_EQ(made.error().code, std::errc::no_space_on_device);
    const auto need = 2 * database_footprint(source);
    EXPECT_NE(made.error().message.find("need " + detail::format_bytes(need)), std::string::npos)
        << made.error().message;
    EXPECT_NE(made.error().message.find("have 1000 B"), std::string::npos);
    expect_names(made.error(), dir);
    ASSERT_EQ(probed.size(), 1U);
    EXPECT_EQ(probed[0], dir);
    EXPECT_FALSE(fs::exists(dir)) << "the guard ran after the directory was created";
}

TEST_F(VaultBackup, SpaceGuardPassesAtExactlyTheFactorAndCanBeTurnedOff) {
    dbsafe::test::create_sample_db(source, 200, "delete");
    const std::uint64_t footprint = database_footprint(source);
    v.options.space_factor = 3.0;
    v.options.free_space = [&](const fs::path&) -> result<std::uint64_t> { return 3 * footprint; };
    EXPECT_TRUE(v.backup(source));
    v.options.free_space = [&](const fs::path&) -> result<std::uint64_t> {
        return 3 * footprint - 1;
    };
    EXPECT_FALSE(v.backup(source));
    v.options.space_factor = 0;
    EXPECT_TRUE(v.backup(source));
    expect_only_complete_backups(dir, 2);
}

TEST_F(VaultBackup, InvalidIdIsRefusedAndTouchesNothing) {
    dbsafe::test::create_sample_db(source, 50);
    ASSERT_TRUE(v.backup(source));
    for (const char* id : {"../x", "../live", "/etc/passwd", "a/../../b"}) {
        const auto r = v.verify(id);
        ASSERT_FALSE(r) << id;
        EXPECT_TRUE(r.error().is(errc::invalid_id)) << id;
        EXPECT_FALSE(v.storage.remove(id)) << id;
    }
    EXPECT_TRUE(fs::exists(source));
    expect_only_complete_backups(dir, 1);
}

// Runs `body` in a forked child; returns the child's exit status and what it wrote to the pipe.
struct child_result {
    int status = 0;
    std::string text;
};
template <class Body>
child_result in_child(Body body) {
    int out[2];
    if (::pipe(out) != 0) return {-1, "pipe failed"};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(out[0]);
        ::_exit(body(out[1]));
    }
    ::close(out[1]);
    child_result r;
    char buf[512];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
        r.text.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    ::waitpid(pid, &r.status, 0);
    return r;
}

// A file-size limit makes the data file's writes fail part-way (EFBIG), like a full disk.
TEST_F(VaultBackup, WriteErrorMidCopyFailsNamingTheFileAndLeavesNoDebris) {
    dbsafe::test::create_sample_db(source, 2000, "delete");
    ASSERT_TRUE(v.backup(source));
    const auto r = in_child([&](int fd) {
        ::signal(SIGXFSZ, SIG_IGN);
        const rlimit limit{256 * 1024, 256 * 1024};
        ::setrlimit(RLIMIT_FSIZE, &limit);
        const auto made = v.backup(source);
        const std::string msg = made ? std::string("succeeded") : made.error().message;
        (void)!::write(fd, msg.data(), msg.size());
        return made ? 0 : 1;
    });
    ASSERT_TRUE(WIFEXITED(r.status)) << r.status;
    EXPECT_EQ(WEXITSTATUS(r.status), 1) << r.text;
    EXPECT_NE(r.text.find(".db.tmp"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find(dir.string()), std::string::npos) << r.text;
    expect_only_complete_backups(dir, 1);
}

// kill -9 in the middle of the copy: no backup appears, the debris is reported, and the next
// backup succeeds beside it.
TEST_F(VaultBackup, KilledMidCopyLeavesNoBackupOnlyReportedDebris) {
    dbsafe::test::create_sample_db(source, 1000);
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(ready[0]);
        v.snapshot.pages_per_step = 10;
        (void)v.backup(source, {.on_progress = [&](const progress&) {
                           (void)!::write(ready[1], "x", 1);
                           for (;;) ::pause();
                       }});
        ::_exit(0);
    }
    ::close(ready[1]);
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));

    auto listed = v.list();
    ASSERT_TRUE(listed);
    EXPECT_TRUE(listed.value().backups.empty());
    ASSERT_EQ(listed.value().leftovers.size(), 1U);
    EXPECT_TRUE(listed.value().leftovers[0].path.string().ends_with(".db.tmp"));
    ASSERT_TRUE(v.backup(source));
    listed = v.list();
    EXPECT_EQ(listed.value().backups.size(), 1U);
    EXPECT_EQ(listed.value().leftovers.size(), 1U);
}

}  // namespace
