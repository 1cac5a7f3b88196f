// Crash loops: a child process runs backup / restore / guarded migration / prune and is killed
// with SIGKILL at a random moment (uniform over the time the operation takes when left alone).
// After every kill, the next opener must find: the live database intact and holding its old or
// its new content, every listed backup verifying, and debris (if any) reported and swept.
//
// The suite runs a few dozen trials per operation (>= 300 in all, 100 of them killing the
// `dbsafe migrate` process). scripts/crash_loop.sh runs thousands by setting
// DBSAFE_CRASH_TRIALS (trials per operation); DBSAFE_CRASH_SEED replays a run. Each test
// prints one "crash-loop:" summary line for docs/reliability.md.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dbsafe/dbsafe.hpp>
#include <dbsafe/migration_guard.hpp>
#include <dbsafe/retention/keep_last.hpp>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/backup_checks.hpp"
#include "support/child_process.hpp"
#ifdef DBSAFE_TEST_PAGES
#include "support/page_checks.hpp"
#endif
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace dbsafe::test {
namespace {

int trials_per_operation(int suite_default) {
    const char* v = std::getenv("DBSAFE_CRASH_TRIALS");
    return v != nullptr ? std::max(1, std::atoi(v)) : suite_default;
}

std::uint64_t seed() {
    const char* v = std::getenv("DBSAFE_CRASH_SEED");
    return v != nullptr ? std::strtoull(v, nullptr, 10) : std::random_device{}();
}

struct outcome {
    bool killed = false;  // SIGKILL arrived before the child finished
    int exit_code = -1;
};

// Runs `op` in a forked child and kills it after `delay` (never, if delay is negative).
// The parent holds no SQLite connection across fork: the child starts clean.
outcome run_child(const std::function<bool()>& op, std::chrono::microseconds delay) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(op() ? 0 : 1);
    if (delay.count() >= 0) {
        std::this_thread::sleep_for(delay);
        ::kill(pid, SIGKILL);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    outcome o;
    o.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return o;
}

// How long the operation takes untouched: the range the kills are spread over. The median of
// three runs, not the longest: one run slowed by a burst of other work on the machine would
// spread the kills far past the end of the operation, and most trials would then finish first.
std::chrono::microseconds measure(const std::function<void()>& reset,
                                  const std::function<bool()>& op) {
    std::array<std::chrono::microseconds, 3> took{};
    for (auto& t : took) {
        reset();
        const auto t0 = std::chrono::steady_clock::now();
        const outcome o = run_child(op, std::chrono::microseconds(-1));
        EXPECT_EQ(o.exit_code, 0) << "the operation fails even without a crash";
        t = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                  t0);
    }
    std::sort(took.begin(), took.end());
    return std::max(took[1], std::chrono::microseconds{1});
}

// Opens the live database read-write once, as the application would after the crash: SQLite
// rolls back a hot journal or recovers the WAL here.
void reopen(const std::filesystem::path& db) {
    db_handle h(db);
    (void)query_int(h, "SELECT count(*) FROM sqlite_schema");
}

void copy_database(const std::filesystem::path& from, const std::filesystem::path& to) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        std::filesystem::remove(to.string() + suffix);
    }
    std::filesystem::copy_file(from, to);
}

struct loop_stats {
    int trials = 0, killed = 0, finished = 0, debris_seen = 0;
    void print(const char* what, std::uint64_t s, std::chrono::microseconds span) const {
        std::printf(
            "crash-loop: %s: %d trials (seed %llu, kills spread over %lld us): %d killed "
            "mid-operation, %d finished first, %d left debris (reported and swept); "
            "0 damaged databases, 0 unverifiable backups\n",
            what, trials, static_cast<unsigned long long>(s), static_cast<long long>(span.count()),
            killed, finished, debris_seen);
    }
};

// One crash loop: reset -> run op in a child killed at a random time -> check. An empty `dir`:
// `check` judges the backup directory itself (a page repository, which local_directory cannot
// open).
void crash_loop(const char* what, int trials, const std::function<void()>& reset,
                const std::function<bool()>& op, const std::function<void()>& check,
                const std::filesystem::path& dir) {
    auto span = measure(reset, op);
    const std::uint64_t s = seed();
    std::mt19937_64 rng(s);
    loop_stats stats;
    for (int i = 0; i < trials; ++i) {
        reset();
        std::uniform_int_distribution<long long> when(0, span.count());
        const auto t0 = std::chrono::steady_clock::now();
        const outcome o = run_child(op, std::chrono::microseconds(when(rng)));
        ++stats.trials;
        (o.killed ? stats.killed : stats.finished) += 1;
        if (!o.killed) {
            // The machine got faster than when the span was measured (other work ended): move
            // the span halfway towards this run's time, so the kills keep landing inside it.
            const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - t0);
            if (took < span) span = std::max((span + took) / 2, std::chrono::microseconds{1});
        }
        SCOPED_TRACE(std::string(what) + " trial " + std::to_string(i) + " (seed " +
                     std::to_string(s) + ")");
        if (!o.killed) {
            ASSERT_EQ(o.exit_code, 0);
        }
        check();
        if (::testing::Test::HasFatalFailure()) return;
        if (dir.empty()) continue;  // the check judged the directory itself
        ::testing::AssertionResult verdict = ::testing::AssertionSuccess();
        const auto state = check_directory(dir, &verdict);
        ASSERT_TRUE(verdict);
        if (!state.debris.empty()) {
            ++stats.debris_seen;
            sweep_debris(dir);
        }
        if (::testing::Test::HasFatalFailure()) return;
    }
    stats.print(what, s, span);
    EXPECT_GT(stats.killed, trials / 4) << "the kills missed the operation";
}

::testing::AssertionResult no_migration_records(const std::filesystem::path& dir) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (e.path().extension() == ".migration") {
            return ::testing::AssertionFailure() << "a migration record stayed: " << e.path();
        }
    }
    return ::testing::AssertionSuccess();
}

void remove_all_backups(const std::filesystem::path& dir) {
    local_directory storage{dir};
    auto listed = storage.list();
    ASSERT_TRUE(listed) << listed.error().message;
    for (const auto& m : listed.value().backups) ASSERT_TRUE(storage.remove(m.id));
}

TEST(CrashLoop, KilledBackupLeavesNoBackupOrAWholeOne) {
    temp_dir tmp;
    const auto db = tmp / "live.db";
    const auto dir = tmp / "backups";
    create_sample_db(db, 150, "wal");
    const auto rows = dump_rows(db);
    crash_loop(
        "backup (WAL source)", trials_per_operation(60), [&] { remove_all_backups(dir); },
        [&] {
            vault v{.storage = local_directory{dir}};
            return static_cast<bool>(v.backup(db));
        },
        [&] {
            reopen(db);
            ASSERT_TRUE(live_intact(db, {rows}));
        },
        dir);
}

// Restore state B over state A; a kill leaves A or B, never a mix, in both journal modes.
void restore_loop(const std::string& journal_mode, int trials) {
    temp_dir tmp;
    const auto db = tmp / "live.db";
    const auto pristine = tmp / "pristine.db";
    const auto dir = tmp / "backups";
    create_sample_db(pristine, 150, journal_mode);
    const auto old_rows = dump_rows(pristine);
    copy_database(pristine, db);
    exec(db,
         "DELETE FROM orders WHERE id % 3 = 0; UPDATE customers SET balance = balance + 1;"
         "INSERT INTO ledger(account, delta) VALUES (1, 5), (2, -5)");
    const auto new_rows = dump_rows(db);
    std::string id;
    {
        vault v{.storage = local_directory{dir}};
        auto made = v.backup(db);
        ASSERT_TRUE(made) << made.error().message;
        id = made.value().id;
    }
    crash_loop(("restore (" + journal_mode + ")").c_str(), trials,
               [&] {
                   copy_database(pristine, db);
                   // Safety backups pile up: keep only the backup being restored.
                   local_directory storage{dir};
                   const auto listed =
                       storage.list().value();  // named: a temporary would die first
                   for (const auto& m : listed.backups) {
                       if (m.id != id) {
                           ASSERT_TRUE(storage.remove(m.id));
                       }
                   }
               },
               [&] {
                   vault v{.storage = local_directory{dir}};
                   return static_cast<bool>(v.restore(db, {.id = id}));
               },
               [&] {
                   reopen(db);
                   ASSERT_TRUE(live_intact(db, {old_rows, new_rows}));
               },
               dir);
}

TEST(CrashLoop, KilledRestoreLeavesOldOrNewContentWal) {
    restore_loop("wal", trials_per_operation(35));
}

TEST(CrashLoop, KilledRestoreLeavesOldOrNewContentRollbackJournal) {
    restore_loop("delete", trials_per_operation(35));
}

std::string file_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::filesystem::path> restore_temps_beside(const std::filesystem::path& db) {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(db.parent_path())) {
        if (e.path().filename().string().starts_with(db.filename().string() + ".dbsafe-")) {
            out.push_back(e.path());
        }
    }
    return out;
}

// Restore by file (restore_file.hpp): the live database is missing, or damaged beyond
// opening and replaced (--replace-damaged). A kill at any moment leaves it as it was (missing,
// or the damaged bytes) or the whole backup, never a part; the temporary file a kill leaves
// beside it never blocks the next restore, which removes it. `make_vault(dir)` chooses the
// backup's format: a plain file is copied into place; a page snapshot or a zstd archive is
// rebuilt into a private copy in the backup directory, which is then renamed into place.
template <class MakeVault>
void restore_by_file_loop(const char* what, bool damaged, int trials, MakeVault make_vault) {
    temp_dir tmp;
    const auto db = tmp / "live.db";
    const auto dir = tmp / "backups";
    create_sample_db(db, 150, "delete");
    const auto backup_rows = dump_rows(db);
    std::string id;
    {
        auto v = make_vault(dir);
        auto made = v.backup(db);
        ASSERT_TRUE(made) << made.error().message;
        id = made.value().id;
    }
    std::string damaged_bytes = file_bytes(db);
    damaged_bytes.replace(0, 16, "not a database!!");
    // local_directory's whole-backup check reads plain files only; a page repository is
    // judged by its own listing: only the backup and debris of the kill, which goes.
    const bool plain_files = std::is_same_v<decltype(make_vault(dir).storage), local_directory>;
    int leftovers = 0;
    int scratch_left = 0;
    crash_loop(
        what, trials,
        [&] {
            std::filesystem::remove(db);
            if (damaged) std::ofstream(db, std::ios::binary) << damaged_bytes;
            auto storage = make_vault(dir).storage;
            const auto listed = storage.list().value();
            for (const auto& m : listed.backups) {
                if (m.id != id) {
                    ASSERT_TRUE(storage.remove(m.id));
                }
            }
        },
        [&] {
            auto v = make_vault(dir);
            return static_cast<bool>(v.restore(db, {.id = id, .replace_damaged = damaged}));
        },
        [&] {
            if (!restore_temps_beside(db).empty()) ++leftovers;
            if (!plain_files) {
                auto storage = make_vault(dir).storage;
                const auto listed = storage.list();
                ASSERT_TRUE(listed) << listed.error().message;
                ASSERT_TRUE(listed.value().damaged.empty()) << listed.value().damaged[0].reason;
                bool found = false;
                for (const auto& m : listed.value().backups) found = found || m.id == id;
                ASSERT_TRUE(found) << "the backup restored from is no longer listed";
                scratch_left += listed.value().leftovers.empty() ? 0 : 1;
                for (const auto& d : listed.value().leftovers) {
                    ASSERT_TRUE(storage.remove_debris(d));
                }
            }
            if (!std::filesystem::exists(db)) {
                ASSERT_FALSE(damaged) << "the damaged database vanished";
                return;
            }
            if (damaged && file_bytes(db) == damaged_bytes) return;  // untouched
            reopen(db);
            ASSERT_TRUE(live_intact(db, {backup_rows}));
        },
        plain_files ? dir : std::filesystem::path{});
    // Whatever the kills left beside the database, one restore runs and cleans it up.
    std::filesystem::remove(db);
    auto v = make_vault(dir);
    const auto done = v.restore(db, {.id = id});
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_TRUE(live_intact(db, {backup_rows}));
    EXPECT_TRUE(restore_temps_beside(db).empty()) << restore_temps_beside(db).front();
    std::printf(
        "crash-loop: %d trials left a temporary file beside the database; the next "
        "restore removed every one\n",
        leftovers);
    if (!plain_files) {
        std::printf(
            "crash-loop: %d trials left a rebuilt copy in the backup directory, listed as "
            "debris and removed\n",
            scratch_left);
    }
}

vault plain_vault_in(const std::filesystem::path& dir) { return {.storage = local_directory{dir}}; }

TEST(CrashLoop, KilledRestoreIntoAMissingDatabaseLeavesNoneOrTheBackup) {
    restore_by_file_loop("restore into a missing database", false, trials_per_operation(35),
                         plain_vault_in);
}

TEST(CrashLoop, KilledRestoreReplacingADamagedDatabaseLeavesTheDamageOrTheBackup) {
    restore_by_file_loop("restore replacing a damaged database", true, trials_per_operation(35),
                         plain_vault_in);
}

#ifdef DBSAFE_TEST_PAGES
TEST(CrashLoop, KilledRestoreOfAPageSnapshotIntoAMissingDatabaseLeavesNoneOrTheBackup) {
    restore_by_file_loop("restore of a page snapshot into a missing database", false,
                         trials_per_operation(35), page_vault_in);
}

TEST(CrashLoop, KilledRestoreOfAZstdArchiveReplacingADamagedDatabaseLeavesTheDamageOrIt) {
    restore_by_file_loop(
        "restore of a zstd archive replacing a damaged database", true, trials_per_operation(35),
        [](const std::filesystem::path& dir) {
            auto v = page_vault_in(dir);
            v.storage = page_repository{dir, {.write_pages = false, .files = {.level = 3}}};
            return v;
        });
}
#endif

TEST(CrashLoop, KilledGuardedMigrationLeavesOldOrMigratedContent) {
    temp_dir tmp;
    const auto db = tmp / "live.db";
    const auto pristine = tmp / "pristine.db";
    const auto dir = tmp / "backups";
    create_sample_db(pristine, 150, "wal");
    const auto old_rows = dump_rows(pristine);
    const char* migration =
        "BEGIN; ALTER TABLE customers ADD COLUMN tier INTEGER NOT NULL DEFAULT 1;"
        "UPDATE customers SET tier = 2 WHERE id % 2 = 0; PRAGMA user_version = 2; COMMIT";
    copy_database(pristine, db);
    exec(db, migration);
    const auto migrated_rows = dump_rows(db);
    int trial = 0;
    crash_loop(
        "guarded migration (commit / rollback)", trials_per_operation(40),
        [&] {
            copy_database(pristine, db);
            remove_all_backups(dir);
            ++trial;
        },
        [&] {
            vault v{.storage = local_directory{dir}};
            db_handle h(db);
            // Every other trial the migration reports failure after its commit, so the guard
            // restores the pre-migration backup: the rollback path is killed too.
            const bool fail = trial % 2 == 0;
            auto r = run_guarded(v, h.db, [&](sqlite3* c) -> result<void> {
                DBSAFE_TRYV(detail::exec(c, migration));
                if (fail) return error(errc::migration_failed, "smoke test failed");
                return success();
            });
            return fail ? !r && r.error().is(errc::migration_failed) : static_cast<bool>(r);
        },
        [&] {
            // Issue 13: whatever the kill interrupted, recovery leaves no record behind, and a
            // migration that never reported success (every failing trial) is rolled back.
            vault v{.storage = local_directory{dir}};
            const auto recovered = v.recover(db);
            ASSERT_TRUE(recovered) << recovered.error().message;
            ASSERT_TRUE(no_migration_records(dir));
            reopen(db);
            if (trial % 2 == 0) {
                ASSERT_TRUE(live_intact(db, {old_rows}));
            } else {
                ASSERT_TRUE(live_intact(db, {old_rows, migrated_rows}));
            }
        },
        dir);
}

// --- Issue 13 item 2: `dbsafe migrate` (the real CLI process) killed at a random moment, then
// `dbsafe recover` or the next `dbsafe migrate`: the database is the old or the fully migrated
// one, never between, in both of migrate's ways of running a file.

void run_cli_in_this_child(const std::vector<std::string>& argv) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
}

void cli_migrate_loop(const char* what, const std::string& sql_text, int trials) {
    temp_dir tmp;
    const auto db = tmp / "live.db";
    const auto pristine = tmp / "pristine.db";
    const auto dir = tmp / "backups";
    const auto sql = tmp / "migration.sql";
    const auto nothing = tmp / "nothing.sql";
    std::ofstream(sql) << sql_text;
    std::ofstream(nothing) << "-- no statement: migrate only recovers\n";
    create_sample_db(pristine, 60, "wal");
    const auto old_rows = dump_rows(pristine);
    copy_database(pristine, db);
    exec(db, sql_text);
    const auto migrated_rows = dump_rows(db);
    const std::string cli = DBSAFE_CLI_PATH;
    int trial = 0, half_migrated = 0, rolled_back = 0;
    crash_loop(
        what, trials,
        [&] {
            copy_database(pristine, db);
            std::filesystem::remove_all(dir);
            ++trial;
        },
        [&] {
            run_cli_in_this_child({cli, "migrate", db.string(), "--dir", dir.string(), "--sql",
                                   sql.string(), "--verify", "quick"});
            return false;
        },
        [&] {
            {
                reopen(db);
                const auto rows = dump_rows(db);
                half_migrated += rows != old_rows && rows != migrated_rows;
            }
            // Every other trial the next migrate (of a file with nothing to do) recovers.
            const auto r =
                trial % 2 == 0
                    ? run({cli, "recover", db.string(), "--dir", dir.string()}, {}, tmp.path())
                    : run({cli, "migrate", db.string(), "--dir", dir.string(), "--sql",
                           nothing.string()},
                          {}, tmp.path());
            ASSERT_EQ(r.exit_code, 0) << r.err;
            rolled_back += r.out.find("rolled back to pre-migration backup") != std::string::npos;
            ASSERT_TRUE(no_migration_records(dir));
            reopen(db);
            ASSERT_TRUE(live_intact(db, {old_rows, migrated_rows}));
            if (r.out.find("rolled back") != std::string::npos) {
                ASSERT_EQ(dump_rows(db), old_rows);
            }
        },
        dir);
    std::printf(
        "crash-loop: %s: %d kills left a half-migrated database, %d recoveries rolled "
        "back to the pre-migration backup; every database ended old or fully migrated\n",
        what, half_migrated, rolled_back);
}

// Six statements; VACUUM (which cannot run in a transaction) makes migrate commit them one by
// one: the kills find every half-way state, and recovery must undo each.
TEST(CrashLoop, KilledCliMigrateStatementByStatementEndsOldOrMigratedAfterRecover) {
    cli_migrate_loop("dbsafe migrate (statement by statement) + recover",
                     "ALTER TABLE customers ADD COLUMN tier INTEGER NOT NULL DEFAULT 1;\n"
                     "UPDATE customers SET tier = 2 WHERE id % 2 = 0;\n"
                     "DELETE FROM orders WHERE id % 5 = 0;\n"
                     "CREATE TABLE tiers(id INTEGER PRIMARY KEY, name TEXT);\n"
                     "INSERT INTO tiers VALUES (1, 'basic'), (2, 'gold');\n"
                     "PRAGMA user_version = 2;\n"
                     "VACUUM;\n",
                     trials_per_operation(100));
}

TEST(CrashLoop, KilledCliMigrateInOneTransactionEndsOldOrMigratedAfterRecover) {
    cli_migrate_loop("dbsafe migrate (one transaction) + recover",
                     "ALTER TABLE customers ADD COLUMN tier INTEGER NOT NULL DEFAULT 1;\n"
                     "UPDATE customers SET tier = 2 WHERE id % 2 = 0;\n"
                     "DELETE FROM orders WHERE id % 5 = 0;\n"
                     "CREATE TABLE tiers(id INTEGER PRIMARY KEY, name TEXT);\n"
                     "INSERT INTO tiers VALUES (1, 'basic'), (2, 'gold');\n"
                     "PRAGMA user_version = 2;\n",
                     trials_per_operation(100));
}

TEST(CrashLoop, KilledPruneRemovesWholeBackupsOnly) {
    temp_dir tmp;
    const auto db = tmp / "live.db";
    const auto dir = tmp / "backups";
    create_sample_db(db, 60, "wal");
    using pruning_vault = basic_vault<online_backup, standard_checks, keep_last, local_directory>;
    std::size_t before = 0;
    crash_loop(
        "prune (keep_last 1 of 4)", trials_per_operation(40),
        [&] {
            pruning_vault v{.storage = local_directory{dir}};
            auto listed = v.list().value();
            for (std::size_t n = listed.backups.size(); n < 4; ++n) ASSERT_TRUE(v.backup(db));
            before = v.list().value().backups.size();
        },
        [&] {
            pruning_vault v{.storage = local_directory{dir}, .retention = keep_last{1}};
            auto r = v.prune({.debris_grace = std::chrono::seconds(0)});
            return r && r.value().complete();
        },
        [&] {
            local_directory storage{dir};
            const auto n = storage.list().value().backups.size();
            ASSERT_GE(n, 1U) << "prune removed the backup it had to keep";
            ASSERT_LE(n, before);
        },
        dir);
}

#ifdef DBSAFE_TEST_PAGES
// --- The page repository (issue 16): a backup killed while it stores pages, and a garbage
// collection killed while it rewrites packs, replaces the index and deletes files. After every
// kill, each snapshot listed before it (and not removed) restores to its exact checksum, the
// repository checks clean with every page read, and the next collection finishes and leaves it
// clean again.

TEST(CrashLoop, KilledPageBackupLeavesEveryEarlierSnapshotWholeAndNoneOrAWholeNewOne) {
    temp_dir tmp;
    const auto db = tmp / "live.db";
    const auto other = tmp / "other.db";
    const auto pristine = tmp / "backups.pristine";
    const auto dir = tmp / "backups";
    create_sample_db(db, 1500, "wal");
    create_sample_db(other, 800, "wal");
    {
        auto v = page_vault_in(pristine);
        ASSERT_TRUE(v.backup(db));
        ASSERT_TRUE(v.backup(other));
    }
    // A change for the killed backup to store: new rows and scattered updates.
    exec(db,
         "INSERT INTO orders(customer_id, amount, note) SELECT customer_id, amount * 2, "
         "note || ' again' FROM orders WHERE id % 10 = 0;"
         "UPDATE customers SET balance = balance + 1 WHERE id % 97 = 0");
    const auto before = sums_of(pristine);
    const auto rows = dump_rows(db);
    int debris = 0;
    int finished = 0;
    int cached = 0;
    crash_loop(
        "page backup", trials_per_operation(100), [&] { copy_tree(pristine, dir); },
        [&] {
            auto v = page_vault_in(dir);
            return static_cast<bool>(v.backup(db));
        },
        [&] {
            expect_repository_whole(dir, before);
            if (::testing::Test::HasFatalFailure()) return;
            const auto now = sums_of(dir);
            if (now.size() > before.size()) {
                ++finished;
                ASSERT_EQ(now.size(), before.size() + 1);
                for (const auto& [id, sum] : now) {
                    if (before.contains(id)) continue;
                    const auto opened = page_repository{dir}.open(id);
                    ASSERT_TRUE(opened) << opened.error().message;
                    ASSERT_EQ(dump_rows(opened.value().path), rows);
                }
            }
            if (collect_and_recheck(dir, now)) ++debris;
            // The next backup uses whatever change cache the kill left (the old one, the new
            // one, or none): it must hold the database exactly.
            auto v = page_vault_in(dir);
            const auto next = v.backup(db);
            ASSERT_TRUE(next) << next.error().message;
            if (v.storage.last_commit().pages_from_cache > 0) ++cached;
            const auto opened = v.storage.open(next.value().id);
            ASSERT_TRUE(opened) << opened.error().message;
            ASSERT_EQ(dump_rows(opened.value().path), rows);
        },
        {});
    std::printf(
        "crash-loop: page backup: %d trials published the new snapshot whole, %d left debris "
        "the next collection removed; every earlier snapshot restored to its checksum; the "
        "backup after each kill held the database exactly (%d of them reused a change cache)\n",
        finished, debris, cached);
    EXPECT_GT(cached, 0) << "no backup after a kill reused a change cache: the loop no longer "
                            "exercises one";
}

TEST(CrashLoop, KilledGarbageCollectionNeverLosesAPageARemainingSnapshotNeeds) {
    temp_dir tmp;
    const auto x = tmp / "x.db";
    const auto y = tmp / "y.db";
    const auto z = tmp / "z.db";
    const auto pristine = tmp / "backups.pristine";
    const auto dir = tmp / "backups";
    create_sample_db(x, 1500, "wal");
    create_sample_db(y, 800, "wal");
    {
        db_handle h(z);
        exec(h, "CREATE TABLE t(b BLOB)");
        exec(h,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<200) "
             "INSERT INTO t SELECT randomblob(3000) FROM n");
    }
    std::vector<std::string> removed;
    {
        auto v = page_vault_in(pristine);
        removed.push_back(v.backup(x).value().id);
        exec(x, "UPDATE customers SET balance = balance + 3 WHERE id = 77");
        removed.push_back(v.backup(x).value().id);  // a delta on x1's chain
        exec(x, "DELETE FROM orders WHERE id % 3 = 0; VACUUM");
        ASSERT_TRUE(v.backup(x));
        ASSERT_TRUE(v.backup(y));
        removed.push_back(v.backup(z).value().id);
        exec(z, "UPDATE t SET b = randomblob(3000) WHERE rowid > 20");
        ASSERT_TRUE(v.backup(z));  // z1's pack: mostly garbage once z1 goes, so rewritten
        for (const auto& id : removed) ASSERT_TRUE(v.storage.remove(id));
    }
    const auto must = sums_of(pristine);
    ASSERT_EQ(must.size(), 3U);
    {
        // The collection has every kind of work: packs to remove and to rewrite, lists to
        // remove, index files to replace.
        copy_tree(pristine, dir);
        const auto gc = page_repository{dir}.collect_garbage({});
        ASSERT_TRUE(gc) << gc.error().message;
        EXPECT_GT(gc.value().packs_removed, 0U);
        EXPECT_GT(gc.value().packs_rewritten, 0U);
        EXPECT_GT(gc.value().lists_removed, 0U);
        EXPECT_GT(gc.value().index_files_removed, 0U);
    }
    int interrupted = 0;
    crash_loop(
        "garbage collection", trials_per_operation(100), [&] { copy_tree(pristine, dir); },
        [&] {
            page_repository storage{dir};
            const auto gc = storage.collect_garbage({.debris_grace = std::chrono::seconds(0)});
            return gc && gc.value().failures.empty();
        },
        [&] {
            expect_repository_whole(dir, must);
            if (::testing::Test::HasFatalFailure()) return;
            if (collect_and_recheck(dir, must)) ++interrupted;
            // Finished: one consolidated index file.
            std::size_t index_files = 0;
            for (const auto& e : std::filesystem::directory_iterator(dir / "pages" / "index")) {
                index_files += e.path().extension() == ".idx" ? 1 : 0;
            }
            ASSERT_EQ(index_files, 1U);
        },
        {});
    std::printf(
        "crash-loop: garbage collection: %d trials left work the next collection finished; "
        "every remaining snapshot restored to its checksum after every kill\n",
        interrupted);
}
#endif  // DBSAFE_TEST_PAGES

}  // namespace
}  // namespace dbsafe::test
