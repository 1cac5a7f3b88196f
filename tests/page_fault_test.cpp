// File-system faults at every injection point of a page backup's commit and of a garbage
// collection (the page repository, issue 16), through the LD_PRELOAD shim in a process of
// their own (support/page_repo_tool.cpp): each call of a kind (open, write, fsync, rename,
// unlink, mkdir) on the backup directory fails in turn. Whatever fails, the operation ends with
// success or an error that names a file (never a crash); every snapshot listed before restores
// to its exact checksum and the repository checks clean with every page read; a failed backup
// publishes nothing, or a whole snapshot; and the next collection, fault-free, finishes.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "support/backup_checks.hpp"
#include "support/child_process.hpp"
#include "support/injection_points.hpp"
#include "support/page_checks.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

#if !defined(DBSAFE_FAULT_PRELOAD_PATH) || !defined(DBSAFE_PAGE_TOOL_PATH)
#error "register the test in tests/CMakeLists.txt with the shim and page_repo_tool"
#endif

namespace dbsafe::test {
namespace {

struct fault {
    const char* call;
    int err;
    bool persist = false;
};

const std::vector<fault> every_call = {{"open", EACCES}, {"write", ENOSPC}, {"write", ENOSPC, true},
                                       {"fsync", EIO},   {"rename", EIO},   {"unlink", EIO},
                                       {"mkdir", EACCES}};

struct tool_run {
    child_result result;
    long calls = 0;
    long injected = 0;
};

tool_run run_tool(const temp_dir& tmp, const std::vector<std::string>& args, const fault& f,
                  long nth, const std::filesystem::path& filter) {
    const auto report = tmp / "shim.report";
    std::filesystem::remove(report);
    std::vector<std::string> argv{DBSAFE_PAGE_TOOL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    tool_run out;
    out.result = run(argv,
                     {{"LD_PRELOAD", DBSAFE_FAULT_PRELOAD_PATH},
                      {"ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0"},
                      {"DBSAFE_FAULT_CALL", f.call},
                      {"DBSAFE_FAULT_NTH", std::to_string(nth)},
                      {"DBSAFE_FAULT_ERRNO", std::to_string(f.err)},
                      {"DBSAFE_FAULT_PERSIST", f.persist ? "1" : "0"},
                      {"DBSAFE_FAULT_PATH", filter.string()},
                      {"DBSAFE_FAULT_REPORT", report.string()}},
                     tmp.path());
    std::sscanf(slurp(report).c_str(), "%ld %ld", &out.calls, &out.injected);
    return out;
}

std::string describe(const fault& f, long nth, long count) {
    return std::string(f.call) + " #" + std::to_string(nth) + " of " + std::to_string(count) +
           " fails" + (f.persist ? " (and stays failing)" : "");
}

struct tally {
    std::string calls;
    long runs = 0, failures = 0, published = 0;
    void print(const char* what) const {
        std::printf("fs-faults: %s: %s; %ld runs, %ld failed with an error, %ld succeeded\n", what,
                    calls.c_str(), runs, failures, published);
    }
};

// Runs `args` with each fault at each of its injection points (up to `cap`) after `reset`,
// then `check(exit_code, stderr)`.
template <class Reset, class Check>
void under_every_fault(const temp_dir& tmp, const std::vector<std::string>& args,
                       const std::filesystem::path& filter, long cap, const Reset& reset,
                       const Check& check, tally& t) {
    for (const auto& f : every_call) {
        reset();
        const auto counted = run_tool(tmp, args, f, 0, filter);
        ASSERT_EQ(counted.result.exit_code, 0) << counted.result.err;
        t.calls += (t.calls.empty() ? "" : ", ") + std::string(f.call) + (f.persist ? "+" : "") +
                   " " + std::to_string(counted.calls);
        for (const long n : injection_points(counted.calls, cap)) {
            SCOPED_TRACE(describe(f, n, counted.calls));
            reset();
            const auto r = run_tool(tmp, args, f, n, filter);
            ++t.runs;
            ASSERT_EQ(r.result.signal, 0) << "crashed: " << r.result.err;
            ASSERT_TRUE(r.result.exit_code == 0 || r.result.exit_code == 1) << r.result.err;
            if (r.result.exit_code == 0) {
                ++t.published;
            } else {
                ++t.failures;
                EXPECT_GE(r.injected, 1) << "failed without a fault: " << r.result.err;
            }
            check(r.result.exit_code, r.result.err);
            if (::testing::Test::HasFatalFailure()) return;
        }
    }
}

TEST(PageFaults, AFailedCallAnywhereInAPageBackupPublishesNothingOrAWholeSnapshot) {
    temp_dir tmp;
    const auto db = tmp / "live.db";
    const auto other = tmp / "other.db";
    const auto pristine = tmp / "pristine";
    const auto dir = tmp / "data" / "backups";  // the shim's own files stay outside
    create_sample_db(db, 1000, "wal");
    create_sample_db(other, 500, "wal");
    {
        auto v = page_vault_in(pristine);
        ASSERT_TRUE(v.backup(db));
        ASSERT_TRUE(v.backup(other));
    }
    exec(db,
         "INSERT INTO orders(customer_id, amount, note) SELECT customer_id, amount, note "
         "FROM orders WHERE id % 20 = 0; UPDATE customers SET balance = 0 WHERE id % 50 = 0");
    const auto before = sums_of(pristine);
    const auto rows = dump_rows(db);
    tally t;
    under_every_fault(
        tmp, {"backup", db.string(), dir.string()}, dir, 30,
        [&] {
            std::filesystem::create_directories(dir.parent_path());
            copy_tree(pristine, dir);
        },
        [&](int exit_code, const std::string& err) {
            expect_repository_whole(dir, before);
            if (::testing::Test::HasFatalFailure()) return;
            const auto now = sums_of(dir);
            if (exit_code != 0) {
                EXPECT_TRUE(names_a_file(err, {dir, db})) << "the error names no file: " << err;
            }
            // A failed backup publishes nothing (or, when even withdrawing it failed, a
            // snapshot that restores whole, as expect_repository_whole checked).
            if (exit_code == 0) {
                ASSERT_EQ(now.size(), before.size() + 1) << "succeeded but nothing was listed";
            }
            for (const auto& [id, sum] : now) {
                if (before.contains(id)) continue;
                const auto opened = page_repository{dir}.open(id);
                ASSERT_TRUE(opened) << opened.error().message;
                ASSERT_EQ(dump_rows(opened.value().path), rows);
            }
            (void)collect_and_recheck(dir, now);
        },
        t);
    t.print("page backup, every call on the backup directory");
    EXPECT_GT(t.failures, 30);
}

TEST(PageFaults, AFailedCallAnywhereInAGarbageCollectionLosesNoPageARemainingSnapshotNeeds) {
    temp_dir tmp;
    const auto x = tmp / "x.db";
    const auto z = tmp / "z.db";
    const auto pristine = tmp / "pristine";
    const auto dir = tmp / "data" / "backups";
    create_sample_db(x, 1000, "wal");
    {
        db_handle h(z);
        exec(h, "CREATE TABLE t(b BLOB)");
        exec(h,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<100) "
             "INSERT INTO t SELECT randomblob(3000) FROM n");
    }
    {
        auto v = page_vault_in(pristine);
        const auto x1 = v.backup(x).value().id;
        exec(x, "DELETE FROM orders WHERE id % 3 = 0; VACUUM");
        ASSERT_TRUE(v.backup(x));
        const auto z1 = v.backup(z).value().id;
        exec(z, "UPDATE t SET b = randomblob(3000) WHERE rowid > 10");
        ASSERT_TRUE(v.backup(z));
        ASSERT_TRUE(v.storage.remove(x1));
        ASSERT_TRUE(v.storage.remove(z1));
    }
    const auto must = sums_of(pristine);
    tally t;
    under_every_fault(
        tmp, {"gc", dir.string()}, dir, 40,
        [&] {
            std::filesystem::create_directories(dir.parent_path());
            copy_tree(pristine, dir);
        },
        [&](int exit_code, const std::string& err) {
            if (exit_code != 0) {
                EXPECT_TRUE(names_a_file(err, {dir})) << "the error names no file: " << err;
            }
            expect_repository_whole(dir, must);
            if (::testing::Test::HasFatalFailure()) return;
            (void)collect_and_recheck(dir, must);
        },
        t);
    t.print("garbage collection, every call on the backup directory");
    EXPECT_GT(t.failures, 10);
}

}  // namespace
}  // namespace dbsafe::test
