// A rollback-journal database backed up in steps (the CLI's default) is copied straight from its
// file under one SHARED lock when no writer holds RESERVED, and gives way to a writer the moment
// one does (snapshot/online_backup.hpp, snapshot/database_file_copy.hpp): the copy is the
// backup API's copy byte for byte, writers in other processes never fail because of it, and a
// crashed writer's hot journal is rolled back before anything is copied.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>

#include "dbsafe/checksum.hpp"
#include "dbsafe/detail/fast_copy_vfs.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/snapshot/online_backup.hpp"
#include "support/concurrent_writer.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"
#include "support/two_pass_scene.hpp"

namespace dbsafe {
namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

using test::make_rollback_source;

// dbsafe's own connection to the source, opened as the vault opens it (database_ref.hpp).
detail::connection open_as_vault_does(const fs::path& p) {
    auto c =
        detail::open_and_probe(p, detail::open_mode::read_write, 10'000, detail::fast_read_vfs());
    if (!c) throw std::runtime_error(c.error().message);
    return std::move(c).value();
}

fs::path empty_target(const fs::path& p) {
    std::ofstream(p).flush();
    return p;
}

std::string integrity(const fs::path& p) {
    return test::query_int(p,
                           "SELECT count(*) FROM pragma_integrity_check WHERE "
                           "integrity_check <> 'ok'") == 0
               ? "ok"
               : "damaged";
}

// A database file's bytes without the three header fields the backup API rewrites in its copy
// when it commits it: the file change counter (offset 24), the schema cookie (40: the
// destination's old cookie + 1, so its connections reload the schema) and the
// version-valid-for number (92).
std::string without_change_counter(std::string bytes) {
    for (const std::size_t at : {24, 40, 92}) {
        if (bytes.size() >= at + 4) bytes.replace(at, 4, 4, '\0');
    }
    return bytes;
}

// Where two byte strings differ (the first few offsets, and the sizes), for a failure message.
std::string first_differences(const std::string& a, const std::string& b) {
    std::string out = "sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size());
    int shown = 0;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()) && shown < 8; ++i) {
        if (a[i] != b[i]) {
            out += (shown++ == 0 ? "; differ at " : ", ") + std::to_string(i);
        }
    }
    return out;
}

// (1) The CLI's default step size: an idle rollback-journal source is copied from its file
// (the snapshot_info carries the checksum it hashed on the way, which only that path does).
// The copy is the source file marked rollback-journal, and the backup API's copy byte for
// byte but for the header counters that API rewrites when it commits the copy.
TEST(RollbackFileCopy, SteppedBackupOfAnIdleDatabaseCopiesTheFileByteForByteAsTheBackupApi) {
    const test::temp_dir dir;
    const auto source = dir / "live.db";
    make_rollback_source(source, 12);
    auto src = open_as_vault_does(source);
    const auto fast = empty_target(dir / "fast.db");
    const auto info = online_backup{}.copy(src.get(), fast, {.private_source = true});
    ASSERT_TRUE(info) << info.error().message;
    ASSERT_TRUE(info.value().content_checksum.has_value()) << "took the backup API path";
    EXPECT_EQ(info.value().restarts, 0);
    EXPECT_EQ(*info.value().content_checksum, hash_file(fast).value());

    const auto api = empty_target(dir / "api.db");
    const auto by_api =
        online_backup{.fast_io = false}.copy(src.get(), api, {.private_source = true});
    ASSERT_TRUE(by_api) << by_api.error().message;
    ASSERT_FALSE(by_api.value().content_checksum.has_value());
    std::string source_bytes = read_bytes(source);
    source_bytes[18] = source_bytes[19] = '\1';
    EXPECT_TRUE(read_bytes(fast) == source_bytes) << fast << " differs from " << source;
    const std::string fast_bytes = without_change_counter(read_bytes(fast));
    const std::string api_bytes = without_change_counter(read_bytes(api));
    EXPECT_TRUE(fast_bytes == api_bytes)
        << fast << " differs from " << api << ": " << first_differences(fast_bytes, api_bytes);
    EXPECT_EQ(integrity(fast), "ok");
}

// A writer in this process takes RESERVED while the file copy runs (a thread that waits for
// the first 4 MiB to reach the target): the copy gives way (one restart) and finishes in two
// passes, the second of which gives way max_restarts times more to the writer sitting on
// RESERVED, then holds on; the copy holds only committed rows. The copy reports no progress
// while it holds SHARED, so the test cannot step in through a callback; when the copy wins the
// race, the round is repeated.
TEST(RollbackFileCopy, GivesWayToAWriterThatTakesReservedDuringTheCopy) {
    const test::temp_dir dir;
    const auto source = dir / "live.db";
    make_rollback_source(source, 48);
    const auto committed = test::dump_rows(source);
    bool gave_way = false;
    for (int round = 0; round < 5 && !gave_way; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        auto src = open_as_vault_does(source);
        const auto target = empty_target(dir / ("copy" + std::to_string(round) + ".db"));
        test::db_handle writer(source);
        std::atomic<bool> done{false};
        std::jthread take_reserved([&] {
            std::error_code ec;
            while (!done.load() && fs::file_size(target, ec) < (std::uintmax_t{4} << 20)) {
            }
            if (!done.load()) {
                test::exec(writer, "BEGIN IMMEDIATE; INSERT INTO customers(name) VALUES ('x')");
            }
        });
        const auto info = online_backup{}.copy(src.get(), target, {.private_source = true});
        done.store(true);
        take_reserved.join();
        ASSERT_TRUE(info) << info.error().message;
        EXPECT_EQ(test::dump_rows(target), committed);
        EXPECT_EQ(integrity(target), "ok");
        if (sqlite3_get_autocommit(writer) == 0) test::exec(writer, "ROLLBACK");
        if (info.value().restarts == 0) continue;  // the copy finished first
        gave_way = true;
        EXPECT_EQ(info.value().restarts, 1 + online_backup{}.max_restarts);
        EXPECT_TRUE(info.value().content_checksum.has_value()) << "went on in backup-API steps";
    }
    EXPECT_TRUE(gave_way) << "the file copy never gave way to the writer";
}

// What a writer process saw, in memory shared with the test.
struct writer_report {
    std::atomic<std::int64_t> commits{0};
    std::atomic<std::int64_t> longest_us{0};  // longest BEGIN IMMEDIATE .. COMMIT
    std::atomic<int> failed{0};
};

writer_report* shared_report() {
    void* m = ::mmap(nullptr, sizeof(writer_report), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::runtime_error("mmap failed");
    return new (m) writer_report{};
}

// A child process committing ledger transfers (support/concurrent_writer.hpp) with a 10 s busy
// timeout, 10 ms apart (so some copies start while no writer holds RESERVED and must give way
// in the middle), timing every transaction, until killed.
pid_t start_writer(const fs::path& db, writer_report* report) {
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    try {
        test::db_handle h(db);  // busy timeout 10 s
        for (std::int64_t i = 1;; ++i) {
            const auto t0 = clock_type::now();
            test::write_transfer(h, i);
            const auto us =
                std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0)
                    .count();
            if (us > report->longest_us.load()) report->longest_us.store(us);
            report->commits.fetch_add(1);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    } catch (...) {
        report->failed.store(1);
    }
    ::_exit(3);
}

void stop_writer(pid_t pid) {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
}

// (2) Six backups of a 32 MiB rollback-journal database while another process commits in a loop:
// every commit succeeds (none runs out of its busy timeout), every backup is a consistent
// committed state (integrity_check ok, the ledger invariant, no more writes than committed).
TEST(RollbackFileCopy, WriterProcessNeverFailsAndEveryBackupIsConsistent) {
    const test::temp_dir dir;
    const auto source = dir / "live.db";
    make_rollback_source(source, 32);
    constexpr int rounds = 6;
    writer_report* report = shared_report();
    const pid_t writer = start_writer(source, report);
    int file_copies = 0;
    int gave_way = 0;
    for (int round = 0; round < rounds; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        while (report->commits.load() < 5 * (round + 1) && report->failed.load() == 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        const auto target = empty_target(dir / ("copy" + std::to_string(round) + ".db"));
        auto src = open_as_vault_does(source);
        const auto info = online_backup{}.copy(src.get(), target, {.private_source = true});
        ASSERT_TRUE(info) << info.error().message;
        if (info.value().restarts == 0) ++file_copies;
        if (info.value().restarts > 0) ++gave_way;
        EXPECT_TRUE(info.value().content_checksum.has_value()) << "went on in backup-API steps";
        EXPECT_EQ(integrity(target), "ok");
        EXPECT_EQ(test::ledger_invariant_violation(target), "");
        EXPECT_LE(test::query_int(target, "SELECT value FROM counters WHERE name = 'writes'"),
                  report->commits.load());
    }
    const bool still_running = ::waitpid(writer, nullptr, WNOHANG) == 0;
    stop_writer(writer);
    EXPECT_TRUE(still_running) << "the writer process died";
    EXPECT_EQ(report->failed.load(), 0) << "a writer commit failed during the backups";
    EXPECT_GT(report->commits.load(), 0);
    // Reported, not asserted: timings belong to the benchmarks.
    std::cout << "[ writer    ] " << report->commits.load() << " commits, longest transaction "
              << report->longest_us.load() / 1000.0 << " ms; of " << rounds << " backups "
              << file_copies << " copied the file, " << gave_way
              << " gave way to the writer and finished in two passes\n";
    ::munmap(report, sizeof(writer_report));
}

// (3) A writer killed (SIGKILL) in the middle of a transaction that had already written pages
// into the database file leaves a hot journal. The copy starts only once SQLite holds SHARED,
// and SQLite rolls the journal back before granting it: the backup holds the last committed
// state, never the crashed writer's half-written pages.
TEST(RollbackFileCopy, HotJournalOfAKilledWriterIsRolledBackNotCopied) {
    const test::temp_dir dir;
    const auto source = dir / "live.db";
    make_rollback_source(source, 8);
    const auto committed = test::dump_rows(source);
    const std::string committed_bytes = read_bytes(source);
    // Opened before the crash, as a long-lived vault would have it: its open-time probe has
    // nothing to roll back, so the copy's own read transaction must.
    auto src = open_as_vault_does(source);

    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(ready[0]);
        try {
            test::db_handle h(source);
            // A tiny page cache: the transaction spills its changes into the database file.
            test::exec(h,
                       "PRAGMA cache_size = 8; BEGIN;"
                       "UPDATE filler SET body = zeroblob(4000);"
                       "UPDATE customers SET balance = -1");
            (void)!::write(ready[1], "x", 1);
            ::pause();
        } catch (...) {
        }
        ::_exit(3);
    }
    ::close(ready[1]);
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1) << "the writer did not get to the middle of its work";
    ::close(ready[0]);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    ASSERT_TRUE(fs::exists(source.string() + "-journal")) << "no hot journal was left";
    ASSERT_FALSE(read_bytes(source) == committed_bytes) << "the writer changed nothing in place";

    const auto target = empty_target(dir / "copy.db");
    const auto info = online_backup{}.copy(src.get(), target, {.private_source = true});
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_TRUE(info.value().content_checksum.has_value()) << "expected the file copy";
    EXPECT_EQ(test::dump_rows(target), committed);
    EXPECT_EQ(integrity(target), "ok");
    std::string expected = read_bytes(source);  // rolled back in place by the copy
    expected[18] = expected[19] = '\1';
    EXPECT_TRUE(read_bytes(target) == expected);
    EXPECT_EQ(test::dump_rows(source), committed);
}

// (4) A writer committing without pause: the file copy gives way, and the rest is copied from
// the file in two passes (the snapshot_info carries the checksum only that path computes), not
// by the backup API in steps, which every commit restarts, nor by a step(-1), which holds
// SHARED about 2.6x longer. Every such copy is a consistent committed state.
TEST(RollbackFileCopy, AfterTheFileCopyGaveWayTheRestIsCopiedFromTheFileNotByTheBackupApi) {
    const test::temp_dir dir;
    const auto source = dir / "live.db";
    make_rollback_source(source, 16);
    std::atomic<bool> done{false};
    std::atomic<std::int64_t> commits{0};
    std::jthread writer([&] {
        test::db_handle h(source);
        test::exec(h, "PRAGMA synchronous = OFF");  // many commits per copy
        for (std::int64_t i = 1; !done.load(); ++i) {
            test::write_transfer(h, i);
            commits.fetch_add(1);
        }
    });
    int gave_way = 0;
    for (int round = 0; round < 4; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        auto src = open_as_vault_does(source);
        const auto target = empty_target(dir / ("copy" + std::to_string(round) + ".db"));
        const auto info = online_backup{.pages_per_step = 16, .max_restarts = 2}.copy(
            src.get(), target, {.private_source = true});
        ASSERT_TRUE(info) << info.error().message;
        EXPECT_EQ(integrity(target), "ok");
        EXPECT_EQ(test::ledger_invariant_violation(target), "");
        EXPECT_TRUE(info.value().content_checksum.has_value()) << "went on in backup-API steps";
        if (info.value().restarts > 0) ++gave_way;
    }
    done.store(true);
    writer.join();
    EXPECT_GT(commits.load(), 0);
    EXPECT_GT(gave_way, 0) << "the file copy never gave way to the writer";
}

// (5) The second pass of that last attempt (detail::refresh_database_file_copy): a copy taken
// with no lock (here: stale after commits, a torn page planted, and once too short, once too
// long) is brought, under the read transaction, to exactly the file's bytes, rewriting only
// the pages that differ, and the checksum returned is the copy's.
TEST(RollbackFileCopy, RefreshUnderTheReadLockRewritesExactlyThePagesThatDifferFromTheCopy) {
    for (const bool copy_too_long : {false, true}) {
        SCOPED_TRACE(copy_too_long ? "copy too long" : "copy too short");
        const test::temp_dir dir;
        const auto source = dir / "live.db";
        make_rollback_source(source, 4);
        std::string copy = read_bytes(source);
        copy[18] = copy[19] = '\1';
        test::exec(source,
                   "UPDATE customers SET balance = balance + 1 WHERE id % 7 = 0;"
                   "INSERT INTO filler(body) SELECT randomblob(4000) FROM filler LIMIT 8");
        const std::size_t page = 4096;
        ASSERT_EQ(test::query_int(source, "PRAGMA page_size"), static_cast<std::int64_t>(page));
        copy[5 * page + 100] ^= '\x5a';  // a torn page
        if (copy_too_long) {
            copy += std::string(3 * page + 17, 'x');
        } else {
            copy.resize(copy.size() - 2 * page);
        }
        const auto target = dir / "copy.db";
        std::ofstream(target, std::ios::binary) << copy;

        std::string expected = read_bytes(source);
        expected[18] = expected[19] = '\1';
        std::uint64_t differing = 0;
        for (std::size_t at = 0; at < expected.size(); at += page) {
            if (at + page > copy.size() || expected.compare(at, page, copy, at, page) != 0) {
                ++differing;
            }
        }
        ASSERT_GT(differing, 2U);

        auto src = open_as_vault_does(source);
        ASSERT_TRUE(detail::exec(src.get(), "BEGIN"));
        ASSERT_TRUE(detail::query_int(src.get(), "SELECT count(*) FROM sqlite_schema"));
        const auto page_count = detail::query_int(src.get(), "PRAGMA page_count").value();
        const auto refreshed = detail::refresh_database_file_copy(
            src.get(), static_cast<std::int64_t>(page), page_count, target, {});
        ASSERT_TRUE(detail::exec(src.get(), "ROLLBACK"));
        ASSERT_TRUE(refreshed) << refreshed.error().message;
        ASSERT_TRUE(refreshed.value().has_value()) << "gave way with no writer about";
        EXPECT_TRUE(read_bytes(target) == expected)
            << first_differences(read_bytes(target), expected);
        EXPECT_EQ(refreshed.value()->pages_rewritten, differing);
        EXPECT_LT(refreshed.value()->pages_rewritten, static_cast<std::uint64_t>(page_count));
        EXPECT_EQ(refreshed.value()->content_checksum, hash_file(target).value());
        EXPECT_EQ(test::dump_rows(target), test::dump_rows(source));
    }
}

// (6) The same pass asked to give way: while another connection holds RESERVED (a writer
// between BEGIN IMMEDIATE and its commit) it returns at once, having rewritten nothing, so the
// writer can commit; once the writer is done, the next call brings the copy to the file.
TEST(RollbackFileCopy, RefreshGivesWayWhileAWriterHoldsReservedAndFinishesAfterIt) {
    const test::temp_dir dir;
    const auto source = dir / "live.db";
    make_rollback_source(source, 2);
    std::string stale = read_bytes(source);
    stale[18] = stale[19] = '\1';
    const auto target = dir / "copy.db";
    std::ofstream(target, std::ios::binary) << stale;
    test::exec(source, "UPDATE customers SET balance = balance + 1 WHERE id % 5 = 0");

    auto src = open_as_vault_does(source);
    test::db_handle writer(source);
    const auto refresh = [&]() {
        EXPECT_TRUE(detail::exec(src.get(), "BEGIN"));
        EXPECT_TRUE(detail::query_int(src.get(), "SELECT count(*) FROM sqlite_schema"));
        const auto page_count = detail::query_int(src.get(), "PRAGMA page_count").value();
        auto r = detail::refresh_database_file_copy(src.get(), 4096, page_count, target, {}, true);
        EXPECT_TRUE(detail::exec(src.get(), "ROLLBACK"));
        return r;
    };
    test::exec(writer, "BEGIN IMMEDIATE; UPDATE customers SET balance = 0 WHERE id = 1");
    const auto held_off = refresh();
    ASSERT_TRUE(held_off) << held_off.error().message;
    EXPECT_FALSE(held_off.value().has_value()) << "did not give way to RESERVED";
    EXPECT_TRUE(read_bytes(target) == stale) << "rewrote pages while giving way";
    test::exec(writer, "COMMIT");  // not kept waiting: the pass is gone

    const auto done = refresh();
    ASSERT_TRUE(done) << done.error().message;
    ASSERT_TRUE(done.value().has_value());
    std::string expected = read_bytes(source);
    expected[18] = expected[19] = '\1';
    EXPECT_TRUE(read_bytes(target) == expected) << first_differences(read_bytes(target), expected);
    EXPECT_GT(done.value()->pages_rewritten, 0U);
    EXPECT_EQ(test::dump_rows(target), test::dump_rows(source));
}

// (7) A symlink swapped in for the staged file while the unlocked pass runs (whoever can write
// the backup location can do that): the pass under SHARED opens the staged file with
// O_NOFOLLOW, so it refuses the link, naming it, and the file the link points to keeps every
// byte. (The attempt empties the staged file through such a descriptor too; it once used
// truncate(2) by name, which follows a link swapped in before it.)
TEST(RollbackFileCopy, ASymlinkSwappedInForTheStagedFileDuringTheTwoPassCopyIsNeverWrittenThrough) {
    const test::temp_dir dir;
    const auto source = dir / "live.db";
    make_rollback_source(source, 8);
    const auto victim = dir / "victim.txt";
    const std::string precious = "a file no backup may touch\n";
    std::ofstream(victim) << precious;
    const auto target = empty_target(dir / "copy.db");

    test::two_pass_scene scene(source);
    bool swapped = false;
    scene.on_unlocked_pass = [&] {
        if (swapped) return;
        fs::rename(target, dir / "copy.db.moved");
        fs::create_symlink(victim, target);
        swapped = true;
    };
    auto src = open_as_vault_does(source);
    scene.hold_reserved();
    const auto info = online_backup{.pages_per_step = 16, .max_restarts = 2}.copy(
        src.get(), target, {.on_progress = scene.on_progress(), .private_source = true});
    ASSERT_TRUE(swapped) << "the unlocked pass reported no progress";
    ASSERT_FALSE(info) << "a copy written through a symlink was called a backup";
    EXPECT_TRUE(info.error().is(errc::symlink_refused)) << info.error().message;
    EXPECT_NE(info.error().message.find(target.string()), std::string::npos)
        << info.error().message;
    EXPECT_EQ(read_bytes(victim), precious) << "the last attempt wrote through the symlink";
    EXPECT_TRUE(fs::is_symlink(target)) << "the planted link was replaced or removed";
    EXPECT_EQ(integrity(source), "ok");
}

// (8) A full disk during the last attempt, from the unlocked pass's first report on (here
// RLIMIT_FSIZE: every write past 6 MiB fails with EFBIG, as on a full volume with ENOSPC):
// the unlocked pass ignores it and leaves a short copy; the pass under SHARED, which must
// write what is missing, fails the copy naming the staged file; the source is untouched.
TEST(RollbackFileCopy, AFullDiskDuringTheTwoPassCopyFailsTheCopyNamingTheStagedFile) {
    const test::temp_dir dir;
    const auto source = dir / "live.db";
    make_rollback_source(source, 12);
    const auto target = empty_target(dir / "copy.db");
    constexpr rlim_t cap_bytes = rlim_t{6} << 20;

    rlimit before{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
    ASSERT_TRUE(before.rlim_max == RLIM_INFINITY || before.rlim_max > cap_bytes);
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of a core dump
    test::two_pass_scene scene(source);
    scene.on_unlocked_pass = [&] {
        rlimit cap = before;
        cap.rlim_cur = cap_bytes;
        ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &cap), 0);
    };
    auto src = open_as_vault_does(source);
    scene.hold_reserved();
    const auto info = online_backup{.pages_per_step = 16, .max_restarts = 2}.copy(
        src.get(), target, {.on_progress = scene.on_progress(), .private_source = true});
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &before), 0);
    std::signal(SIGXFSZ, old_handler);

    ASSERT_TRUE(scene.reached_unlocked_pass()) << "the file copy never gave way";
    ASSERT_FALSE(info) << "a copy cut at 6 MiB was called a backup";
    EXPECT_NE(info.error().message.find(target.string()), std::string::npos)
        << info.error().message;
    EXPECT_LE(fs::file_size(target), cap_bytes);
    EXPECT_EQ(integrity(source), "ok");
    EXPECT_EQ(test::ledger_invariant_violation(source), "");
}

}  // namespace
}  // namespace dbsafe
