// The live-database write shim ("dbsafe-live-write", detail/fast_copy_vfs.hpp), through which
// restore's own connection copies a backup into the live database: it gathers the writes of
// the database file, its journal and its WAL into large ones, writes them all out before each
// sync, lock, wal-index or commit call, and must change nothing else.
// Pinned here on a large write transaction (a small page cache, so it spills mid-transaction,
// as a restore's copy does), in both journal modes:
//  - the files end byte for byte as without the shim;
//  - another connection sees each commit whole as soon as it returns;
//  - kill -9 at any moment leaves the old content or the new, and a sound file;
//  - a write that fails while pages are held back fails the commit and loses nothing;
// and, on one file driven by hand, which reads write the held run out first.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "dbsafe/detail/fast_copy_vfs.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "support/backup_checks.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace dbsafe {
namespace {

namespace fs = std::filesystem;
using test::dump_rows;

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// About 6 MiB in the given journal mode.
void make_database(const fs::path& p, const std::string& journal_mode) {
    test::exec(p, "PRAGMA journal_mode=" + journal_mode +
                      ";"
                      "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t(v);"
                      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<5000)"
                      " INSERT INTO t SELECT i, printf('%0500d', (i * 7919) % 10007) FROM n;");
}

// One write transaction over most pages, deterministic (the same bytes on every run).
constexpr const char* large_change =
    "BEGIN;"
    "UPDATE t SET v = printf('%0700d', id * 31) WHERE id % 3 <> 0;"
    "DELETE FROM t WHERE id % 7 = 1;"
    "INSERT INTO t(v) SELECT printf('%0400d', id) FROM t WHERE id % 5 = 2;"
    "COMMIT;";

// Restore's own connection, as open_live opens it; a page cache of 20 pages spills many times.
detail::connection open_live(const fs::path& p, const char* synchronous = "FULL") {
    auto db =
        detail::open_database(p, detail::open_mode::read_write, 5000, detail::live_write_vfs());
    EXPECT_TRUE(db) << db.error().message;
    detail::connection c = std::move(db).value();
    EXPECT_TRUE(detail::exec(
        c.get(), std::string("PRAGMA synchronous=") + synchronous + "; PRAGMA cache_size=20"));
    return c;
}

class LiveWriteVfs : public ::testing::TestWithParam<std::string> {};

TEST_P(LiveWriteVfs, ALargeTransactionLeavesTheSameFileAsWithoutTheShim) {
    const test::temp_dir dir;
    make_database(dir / "live.db", GetParam());
    fs::copy_file(dir / "live.db", dir / "plain.db");
    {
        const detail::connection live = open_live(dir / "live.db");
        ASSERT_TRUE(detail::exec(live.get(), large_change));
        ASSERT_TRUE(detail::exec(live.get(), "PRAGMA wal_checkpoint(TRUNCATE)"));
    }
    {
        const test::db_handle plain(dir / "plain.db");
        test::exec(plain, "PRAGMA synchronous=FULL; PRAGMA cache_size=20");
        test::exec(plain, large_change);
        test::exec(plain, "PRAGMA wal_checkpoint(TRUNCATE)");
    }
    const std::string live = read_bytes(dir / "live.db");
    EXPECT_GT(live.size(), std::size_t{4} << 20);  // several 1 MiB runs
    EXPECT_TRUE(live == read_bytes(dir / "plain.db")) << "the shim changed the file's bytes";
    EXPECT_EQ(dump_rows(dir / "live.db"), dump_rows(dir / "plain.db"));
}

// What another connection reads right after each commit returns: every commit whole. With
// synchronous=NORMAL a WAL commit issues no xSync, so its frames reach the file only because
// the shim writes its run out before the wal-index calls that publish them.
TEST_P(LiveWriteVfs, AnotherConnectionSeesEachCommitWholeAsSoonAsItReturns) {
    const test::temp_dir dir;
    make_database(dir / "live.db", GetParam());
    for (const char* synchronous : {"FULL", "NORMAL"}) {
        const detail::connection live = open_live(dir / "live.db", synchronous);
        const test::db_handle other(dir / "live.db");  // SQLite's own VFS
        for (int round = 1; round <= 3; ++round) {
            const std::string stamp = std::to_string(round) + synchronous;
            ASSERT_TRUE(detail::exec(live.get(),
                                     "UPDATE t SET v = printf('%0600d', id) || '" + stamp + "'"));
            EXPECT_EQ(test::query_int(other, "SELECT count(*) FROM t WHERE v LIKE '%" + stamp +
                                                 "' AND length(v) = 600 + " +
                                                 std::to_string(stamp.size())),
                      test::query_int(other, "SELECT count(*) FROM t"))
                << "round " << round << ", synchronous=" << synchronous;
            EXPECT_EQ(test::query_int(other,
                                      "SELECT count(*) FROM pragma_quick_check "
                                      "WHERE quick_check <> 'ok'"),
                      0);
        }
    }
}

// kill -9 anywhere inside or around a large transaction through the shim (the child kills
// itself from SQLite's progress handler after a random number of VM steps, so some kills land
// while a run is held back): the file holds the old rows or the new, and passes integrity_check.
TEST_P(LiveWriteVfs, KillAtAnyMomentLeavesTheOldOrTheNewContent) {
    const test::temp_dir dir;
    make_database(dir / "pristine.db", GetParam());
    fs::copy_file(dir / "pristine.db", dir / "changed.db");
    {
        const detail::connection c = open_live(dir / "changed.db");
        ASSERT_TRUE(detail::exec(c.get(), large_change));
    }
    const auto old_rows = dump_rows(dir / "pristine.db");
    const auto new_rows = dump_rows(dir / "changed.db");
    ASSERT_NE(old_rows, new_rows);

    // How many progress callbacks (every 100 VM steps) the whole change takes.
    fs::copy_file(dir / "pristine.db", dir / "count.db");
    int callbacks = 0;
    {
        const detail::connection c = open_live(dir / "count.db");
        sqlite3_progress_handler(
            c.get(), 100, [](void* n) { return ++*static_cast<int*>(n), 0; }, &callbacks);
        ASSERT_TRUE(detail::exec(c.get(), large_change));
    }
    ASSERT_GT(callbacks, 50);

    std::mt19937 random(20261203);
    int old_seen = 0;
    for (int trial = 0; trial < 12; ++trial) {
        const fs::path live = dir / ("live" + std::to_string(trial) + ".db");
        fs::copy_file(dir / "pristine.db", live);
        // Up to 10 % beyond the end: some kills come after the commit, while closing.
        int kill_at = std::uniform_int_distribution<int>(1, callbacks * 11 / 10)(random);
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            const detail::connection c = open_live(live);
            sqlite3_progress_handler(
                c.get(), 100,
                [](void* left) {
                    if (--*static_cast<int*>(left) <= 0) ::kill(::getpid(), SIGKILL);
                    return 0;
                },
                &kill_at);
            const bool ok = detail::exec(c.get(), large_change).has_value();
            if (kill_at > 0) ::kill(::getpid(), SIGKILL);  // the rest of the budget: now
            ::_exit(ok ? 0 : 1);
        }
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, 0), child);
        ASSERT_TRUE(WIFSIGNALED(status)) << "trial " << trial;
        test::reopen_read_write(live);  // rolls a hot journal back, or recovers the WAL
        EXPECT_TRUE(test::live_intact(live, {old_rows, new_rows})) << "trial " << trial;
        if (dump_rows(live) == old_rows) ++old_seen;
    }
    EXPECT_GT(old_seen, 0);  // the kills covered the transaction, not only what came after
}

// A full disk (here: a file-size limit) while pages are held back: the commit fails, and the
// file keeps its old rows.
TEST_P(LiveWriteVfs, AWriteErrorOfHeldBackPagesFailsTheCommitAndKeepsTheOldRows) {
    const test::temp_dir dir;
    make_database(dir / "live.db", GetParam());
    const auto before = dump_rows(dir / "live.db");
    const auto size = static_cast<rlim_t>(fs::file_size(dir / "live.db"));
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::signal(SIGXFSZ, SIG_IGN);  // EFBIG from write() instead of being killed
        const detail::connection c = open_live(dir / "live.db");
        // Room for the file as it is, not for its journal or WAL growing by whole megabytes.
        const rlimit limit{size + (256 << 10), size + (256 << 10)};
        ::setrlimit(RLIMIT_FSIZE, &limit);
        const bool ok = detail::exec(c.get(), large_change).has_value();
        ::_exit(ok ? 1 : 0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the commit reported success at the file-size limit";
    test::reopen_read_write(dir / "live.db");
    EXPECT_TRUE(test::live_intact(dir / "live.db", {before}));
}

// One file opened through the shim by hand, its writes and reads called as SQLite's pager
// would: a read that starts past the run held back is served from the file and leaves the run
// held (the rollback journal's reads of original pages run ahead of a spill's page writes);
// a read that reaches into the run, or starts before it, writes it out first. Every read
// returns the bytes the file would hold had each write gone through at once.
TEST(LiveWriteVfsFile, AReadPastTheHeldRunLeavesItHeldAndAReadReachingIntoItWritesItOut) {
    constexpr int page = 4096;
    const test::temp_dir dir;
    const auto path = dir / "pages.db";
    {
        std::ofstream out(path, std::ios::binary);  // page i holds 'A' + i
        for (int i = 0; i < 16; ++i) out << std::string(page, static_cast<char>('A' + i));
    }
    const auto page_on_disk = [&](int i) { return read_bytes(path).substr(i * page, page); };
    const auto filled = [](char c, int pages = 1) { return std::string(pages * page, c); };

    sqlite3_vfs* vfs = sqlite3_vfs_find(detail::live_write_vfs());
    ASSERT_NE(vfs, nullptr);
    // A name as SQLite hands it to xOpen (the unix VFS reads URI parameters around it).
    const sqlite3_filename name = sqlite3_create_filename(path.c_str(), "", "", 0, nullptr);
    ASSERT_NE(name, nullptr);
    std::vector<std::max_align_t> storage(
        static_cast<std::size_t>(vfs->szOsFile) / sizeof(std::max_align_t) + 1);
    auto* f = reinterpret_cast<sqlite3_file*>(storage.data());
    int out_flags = 0;
    ASSERT_EQ(vfs->xOpen(vfs, name, f, SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READWRITE, &out_flags),
              SQLITE_OK);
    const auto read = [&](int first_page, int pages) {
        std::string got(static_cast<std::size_t>(pages * page), '\0');
        EXPECT_EQ(f->pMethods->xRead(f, got.data(), pages * page,
                                     static_cast<sqlite3_int64>(first_page) * page),
                  SQLITE_OK);
        return got;
    };

    const std::string x = filled('x', 2);
    ASSERT_EQ(f->pMethods->xWrite(f, x.data(), 2 * page, 4 * page), SQLITE_OK);  // pages 4-5
    EXPECT_EQ(page_on_disk(4), filled('E')) << "the run was not held back";

    EXPECT_EQ(read(8, 1), filled('I'));                // past the run
    EXPECT_EQ(read(6, 2), filled('G') + filled('H'));  // starting right at its end
    EXPECT_EQ(page_on_disk(4), filled('E')) << "a read past the run wrote it out";

    EXPECT_EQ(read(3, 2), filled('D') + filled('x'));  // starting before it, reaching into it
    EXPECT_EQ(page_on_disk(4), filled('x'));
    EXPECT_EQ(page_on_disk(5), filled('x'));

    // Held again, then read from inside: the same.
    const std::string y = filled('y');
    ASSERT_EQ(f->pMethods->xWrite(f, y.data(), page, 10 * page), SQLITE_OK);
    EXPECT_EQ(page_on_disk(10), filled('K'));
    EXPECT_EQ(read(10, 1), filled('y'));
    EXPECT_EQ(page_on_disk(10), filled('y'));

    EXPECT_EQ(f->pMethods->xClose(f), SQLITE_OK);
    sqlite3_free_filename(name);
}

INSTANTIATE_TEST_SUITE_P(JournalModes, LiveWriteVfs, ::testing::Values("wal", "delete"));

}  // namespace
}  // namespace dbsafe
