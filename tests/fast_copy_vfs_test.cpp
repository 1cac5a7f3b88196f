// The fast-copy VFS shims (detail/fast_copy_vfs.hpp): a copy through them is byte for byte the
// copy without them, a reader never serves bytes it read ahead under an earlier lock, and the
// writer's gathered pages reach the file (or their write error reaches the caller).
#include "dbsafe/detail/fast_copy_vfs.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "dbsafe/checksum.hpp"
#include "dbsafe/detail/read_meter.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/snapshot/online_backup.hpp"
#include "support/concurrent_writer.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace dbsafe {
namespace {

namespace fs = std::filesystem;

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// About 14 MiB: several 4 MiB read-ahead windows and many 1 MiB write buffers.
void make_source(const fs::path& p, const std::string& journal_mode, int filler_rows = 3000) {
    test::create_sample_db(p, 5000, journal_mode);
    test::exec(p,
               "CREATE TABLE filler(id INTEGER PRIMARY KEY, body BLOB);"
               "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<" +
                   std::to_string(filler_rows) +
                   ") INSERT INTO filler(body) SELECT randomblob(3000) FROM n;");
}

const char* vfs_name_of(sqlite3* db) {
    sqlite3_vfs* vfs = nullptr;
    sqlite3_file_control(db, "main", SQLITE_FCNTL_VFS_POINTER, &vfs);
    return vfs != nullptr ? vfs->zName : "";
}

// Copies `source` into a new file `target` with the backup strategy, through the shims or not.
// `private_source` false: as a caller's connection, which always takes the backup API path.
result<snapshot_info> copy(const fs::path& source, const fs::path& target, bool fast,
                           int pages_per_step, bool private_source = true) {
    DBSAFE_TRY(auto db, detail::open_and_probe(source, detail::open_mode::read_write, 10'000,
                                               fast ? detail::fast_read_vfs() : nullptr));
    if (fast) {
        EXPECT_STREQ(vfs_name_of(db.get()), "dbsafe-fast-read");
    }
    std::ofstream{target};
    const online_backup strategy{.pages_per_step = pages_per_step, .fast_io = fast};
    return strategy.copy(db.get(), target, snapshot_context{.private_source = private_source});
}

TEST(FastCopyVfs, RegistersEveryShimUnderAPrivateName) {
    ASSERT_STREQ(detail::fast_read_vfs(), "dbsafe-fast-read");
    ASSERT_STREQ(detail::fast_write_vfs(), "dbsafe-fast-write");
    ASSERT_STREQ(detail::live_write_vfs(), "dbsafe-live-write");
    for (const char* name : {"dbsafe-fast-read", "dbsafe-fast-write", "dbsafe-live-write"}) {
        EXPECT_NE(sqlite3_vfs_find(name), nullptr) << name;
        EXPECT_STRNE(sqlite3_vfs_find(nullptr)->zName, name);  // never the default
    }
}

// The backup API path (a caller's connection to a rollback-journal source, copied in steps,
// with a writer holding RESERVED throughout): the write shim gathers page writes without
// changing a byte.
TEST(FastCopyVfs, SteppedBackupIsByteIdenticalToOneWithoutTheShims) {
    const test::temp_dir dir;
    const auto source = dir / "delete.db";
    make_source(source, "delete");
    const test::db_handle writer(source);
    test::exec(writer, "BEGIN IMMEDIATE; INSERT INTO customers(name) VALUES ('uncommitted')");
    const auto fast = dir / "fast.db";
    const auto plain = dir / "plain.db";
    const auto info = copy(source, fast, true, 100, false);
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_FALSE(info.value().content_checksum.has_value()) << "expected the backup API path";
    ASSERT_TRUE(copy(source, plain, false, 100, false));
    const std::string fast_bytes = read_bytes(fast);
    EXPECT_GT(fast_bytes.size(), std::size_t{12} << 20);
    EXPECT_TRUE(fast_bytes == read_bytes(plain)) << fast << " differs from " << plain;
}

// The file-copy path (database_file_copy.hpp): the copy is the source file itself, except the
// two journal-mode bytes, and holds the same rows as the backup API's copy. An idle
// rollback-journal source takes it in steps too (nobody holds RESERVED, nothing to yield to).
TEST(FastCopyVfs, FileCopyIsTheSourceFileMarkedRollbackJournal) {
    const test::temp_dir dir;
    for (const std::string mode : {"wal", "delete"}) {
        const auto source = dir / (mode + ".db");
        make_source(source, mode);  // closed: a WAL source is fully checkpointed
        const auto rows = test::dump_rows(source);
        std::string expected = read_bytes(source);
        expected[18] = expected[19] = '\1';
        for (const int step : {-1, 100}) {
            SCOPED_TRACE(mode + ", pages_per_step " + std::to_string(step));
            const auto fast = dir / (mode + std::to_string(step) + "-fast.db");
            const auto info = copy(source, fast, true, step);
            ASSERT_TRUE(info) << info.error().message;
            ASSERT_TRUE(info.value().content_checksum.has_value()) << "expected the file path";
            EXPECT_TRUE(read_bytes(fast) == expected) << fast << " differs from " << source;
            EXPECT_EQ(*info.value().content_checksum, hash_file(fast).value());
            EXPECT_EQ(test::dump_rows(fast), rows);
        }
        const auto plain = dir / (mode + "-plain.db");
        ASSERT_TRUE(copy(source, plain, false, -1));
        EXPECT_EQ(test::dump_rows(plain), rows);
    }
}

// Reads every row of customers through `db` and returns sum(balance).
std::int64_t balance_total(sqlite3* db) {
    return test::query_int(db, "SELECT sum(balance) + count(name) * 0 FROM customers");
}

TEST(FastCopyVfs, ReaderDropsReadAheadWhenItsRollbackLockIsReleased) {
    const test::temp_dir dir;
    const auto db = dir / "rollback.db";
    test::create_sample_db(db, 2000, "delete");  // < 4 MiB: one read-ahead window holds it all
    auto reader =
        detail::open_database(db, detail::open_mode::read_only, 10'000, detail::fast_read_vfs());
    ASSERT_TRUE(reader);
    const std::int64_t before = balance_total(reader.value().get());
    {
        const test::db_handle writer(db);
        test::exec(writer, "UPDATE customers SET balance = balance + 1");
    }
    EXPECT_EQ(balance_total(reader.value().get()), before + 2000);
}

TEST(FastCopyVfs, ReaderDropsReadAheadWhenItsWalReadTransactionEnds) {
    const test::temp_dir dir;
    const auto db = dir / "wal.db";
    test::create_sample_db(db, 2000, "wal");
    const test::db_handle writer(db);
    test::exec(writer, "PRAGMA wal_checkpoint(TRUNCATE)");
    auto reader =
        detail::open_database(db, detail::open_mode::read_only, 10'000, detail::fast_read_vfs());
    ASSERT_TRUE(reader);
    const std::int64_t before = balance_total(reader.value().get());
    // The checkpoint moves the new pages into the database file and empties the WAL, so the
    // reader's next transaction reads them from the file, where its old read-ahead came from.
    // In WAL mode the file lock is never released between transactions: only the read-mark
    // lock (xShmLock) tells the shim that a transaction ended.
    test::exec(writer, "UPDATE customers SET balance = balance + 1");
    test::exec(writer, "PRAGMA wal_checkpoint(TRUNCATE)");
    EXPECT_EQ(test::query_int(writer, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);  // not busy
    EXPECT_EQ(balance_total(reader.value().get()), before + 2000);
}

TEST(FastCopyVfs, WalReaderKeepsItsSnapshotWhileAWriterCheckpoints) {
    const test::temp_dir dir;
    const auto db = dir / "wal.db";
    test::create_sample_db(db, 2000, "wal");
    const test::db_handle writer(db);
    test::exec(writer, "PRAGMA wal_checkpoint(TRUNCATE)");
    auto reader =
        detail::open_database(db, detail::open_mode::read_only, 10'000, detail::fast_read_vfs());
    ASSERT_TRUE(reader);
    sqlite3* r = reader.value().get();
    ASSERT_TRUE(detail::exec(r, "BEGIN"));
    const std::int64_t before = balance_total(r);
    test::exec(writer, "UPDATE customers SET balance = balance + 1");
    test::exec(writer, "PRAGMA wal_checkpoint(PASSIVE)");
    ASSERT_TRUE(detail::exec(r, "PRAGMA cache_size = 0"));  // re-read pages, not SQLite's cache
    EXPECT_EQ(balance_total(r), before);
    ASSERT_TRUE(detail::exec(r, "COMMIT"));
    EXPECT_EQ(balance_total(r), before + 2000);
}

// Copies under a writer that never stops; the shim must not make the copy torn.
void copy_under_writer(const std::string& journal_mode, int pages_per_step, int rounds,
                       int filler_rows) {
    const test::temp_dir dir;
    const auto source = dir / "live.db";
    make_source(source, journal_mode, filler_rows);
    for (int round = 0; round < rounds; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        const auto target = dir / ("copy" + std::to_string(round) + ".db");
        {
            const test::writer_thread writer(source);
            const test::db_handle observer(source, SQLITE_OPEN_READONLY);
            test::wait_for_commit_after(observer, test::committed_writes(observer));
            const auto made = copy(source, target, true, pages_per_step);
            ASSERT_TRUE(made) << made.error().message;
            ASSERT_FALSE(writer.failed());
        }
        EXPECT_EQ(test::ledger_invariant_violation(target), "");
        const test::db_handle copy_db(target, SQLITE_OPEN_READONLY);
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(copy_db, "PRAGMA integrity_check", -1, &st, nullptr);
        ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
        EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "ok");
        sqlite3_finalize(st);
    }
}

TEST(FastCopyVfs, WalCopyUnderContinuousWritesIsConsistent) {
    copy_under_writer("wal", 64, 3, 3000);
}

TEST(FastCopyVfs, RollbackCopyUnderContinuousWritesIsConsistent) {
    // A rollback-mode writer waits for the copy's read lock between steps (each wait up to SQLite's
    // 100 ms busy sleep), so this source is kept at ~4 MiB: the read-ahead window still turns over.
    copy_under_writer("delete", 64, 1, 600);
}

// The writer shim is only ever used for a staging file, but its buffering must be exact for
// any write pattern SQLite produces: in-place updates, deletes, growth and truncation.
TEST(FastCopyVfs, WriterShimLeavesTheSameBytesForRandomWrites) {
    const test::temp_dir dir;
    const auto work = [](const fs::path& p, const char* vfs) {
        auto db = detail::open_database(p, detail::open_mode::create, 5000, vfs);
        ASSERT_TRUE(db);
        sqlite3* h = db.value().get();
        ASSERT_TRUE(detail::exec(h,
                                 "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                                 "PRAGMA cache_size=10; PRAGMA auto_vacuum=FULL"));
        ASSERT_TRUE(detail::exec(
            h,
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t(v);"
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<6000) "
            "INSERT INTO t SELECT i, printf('%0500d', (i * 7919) % 10007) FROM n;"
            "UPDATE t SET v = printf('%0300d', id) WHERE id % 7 = 3;"
            "DELETE FROM t WHERE id % 5 = 1;"
            "INSERT INTO t(v) SELECT v FROM t WHERE id % 11 = 2;"
            "DELETE FROM t WHERE id > 4500;"));
    };
    work(dir / "fast.db", detail::fast_write_vfs());
    work(dir / "plain.db", nullptr);
    const std::string fast = read_bytes(dir / "fast.db");
    EXPECT_GT(fast.size(), std::size_t{2} << 20);  // several write buffers
    EXPECT_TRUE(fast == read_bytes(dir / "plain.db"));
}

// A full disk (here: a file-size limit) while pages sit in the writer's buffer must fail the
// copy, never leave a short file that looks like a finished backup.
TEST(FastCopyVfs, WriteErrorOfGatheredPagesFailsTheCopy) {
    const test::temp_dir dir;
    const auto source = dir / "live.db";
    make_source(source, "wal");
    const auto target = dir / "copy.db";
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::signal(SIGXFSZ, SIG_IGN);  // get EFBIG from write() instead of being killed
        const rlimit limit{4 << 20, 4 << 20};
        ::setrlimit(RLIMIT_FSIZE, &limit);
        const auto made = copy(source, target, true, -1);
        ::_exit(made ? 1 : 0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the copy reported success at a 4 MiB file-size limit";
}

// ---- read_meter (read_meter.hpp): the pages a check has read, each counted once.

TEST(ReadMeter, CountsEachPageOnceInWhateverPiecesAndHoweverOftenItIsRead) {
    std::vector<std::uint64_t> told;
    dbsafe::detail::read_meter meter(
        10, 8, 4096, [&](const dbsafe::progress& p) { told.push_back(p.pages_done); });
    meter.saw(0, 4096);
    meter.saw(0, 4096);      // again: the same page
    meter.saw(100, 16);      // a piece of page 0 (a header read)
    meter.saw(4096, 8192);   // pages 1 and 2 in one read
    meter.saw(40960, 4096);  // page 10: past the file's 10 pages, not counted
    EXPECT_EQ(meter.pages_read(), 3U);
    meter.saw(3 * 4096, 6 * 4096);  // pages 3..8: 9 read, one more than the 8 expected
    EXPECT_EQ(meter.pages_read(), 9U);
    ASSERT_FALSE(told.empty());
    for (const auto done : told) EXPECT_LE(done, 8U) << "a report claimed more than the total";
    meter.finished();
    EXPECT_EQ(told.back(), 8U);
}

TEST(ReadMeter, AttachesOnlyToAConnectionThatReadsThroughTheShimAndSeesItsMappedReads) {
    dbsafe::test::temp_dir tmp;
    const auto path = tmp / "m.db";
    dbsafe::test::create_sample_db(path, 2000);
    const auto pages =
        static_cast<std::uint64_t>(dbsafe::test::query_int(path, "PRAGMA page_count"));
    for (const bool mapped : {false, true}) {
        auto db = dbsafe::detail::open_database(path, dbsafe::detail::open_mode::read_only, 5000,
                                                dbsafe::detail::fast_read_vfs());
        ASSERT_TRUE(db);
        if (mapped) {
            ASSERT_TRUE(dbsafe::detail::exec(db.value().get(), "PRAGMA mmap_size=1000000000"));
        }
        dbsafe::detail::read_meter meter(pages, pages, 4096, {});
        ASSERT_TRUE(dbsafe::detail::attach_read_meter(db.value().get(), &meter));
        ASSERT_TRUE(dbsafe::detail::query_column(db.value().get(), "PRAGMA quick_check", 1));
        dbsafe::detail::detach_read_meter(db.value().get());
        // quick_check reads every b-tree page; this file has no freelist.
        EXPECT_EQ(meter.pages_read(), pages) << (mapped ? "memory-mapped" : "read");
        EXPECT_FALSE(dbsafe::detail::reads_through_shim(
            dbsafe::test::db_handle(path, SQLITE_OPEN_READONLY).db));
    }
}

}  // namespace
}  // namespace dbsafe
