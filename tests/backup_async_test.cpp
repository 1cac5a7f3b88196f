// backup_async.hpp: a backup on a worker thread yields the same published manifest as
// vault.backup(), shows its progress while it runs, and cancels (by cancel(), by the caller's
// stop_token, or by destroying the task) leaving nothing behind.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "dbsafe/dbsafe.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
namespace fs = std::filesystem;

// A one-shot gate: the copy thread parks in its progress callback until the test opens it.
class gate {
  public:
    void arrive_and_wait() {
        std::unique_lock lock(m_);
        arrived_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return open_; });
    }
    void wait_arrived() {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return arrived_; });
    }
    void open() {
        std::lock_guard lock(m_);
        open_ = true;
        cv_.notify_all();
    }

  private:
    std::mutex m_;
    std::condition_variable cv_;
    bool arrived_ = false, open_ = false;
};

class BackupAsync : public ::testing::Test {
  protected:
    dbsafe::test::temp_dir tmp;
    fs::path source = tmp / "live.db";
    fs::path dir = tmp / "backups";
    vault v{.storage = local_directory{dir}};

    void SetUp() override {
        dbsafe::test::create_sample_db(source, 1000);
        v.snapshot.pages_per_step = 10;
    }

    void expect_no_backup_and_no_debris() const {
        const auto listed = v.list();
        ASSERT_TRUE(listed);
        EXPECT_TRUE(listed.value().backups.empty());
        EXPECT_TRUE(listed.value().leftovers.empty());
        if (fs::exists(dir)) {
            EXPECT_TRUE(fs::is_empty(dir));
        }
    }
};

TEST_F(BackupAsync, YieldsThePublishedManifest) {
    const auto caller = std::this_thread::get_id();
    std::atomic<bool> on_worker{false};
    auto task =
        backup_async(v, source, {.kind = backup_kind::safety, .on_progress = [&](const progress&) {
                                     on_worker = std::this_thread::get_id() != caller;
                                 }});
    const auto& made = task.wait();
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_TRUE(task.ready());
    EXPECT_TRUE(on_worker.load()) << "the progress callback ran on the caller's thread";
    EXPECT_EQ(made.value().kind, backup_kind::safety);
    EXPECT_EQ(dbsafe::test::dump_rows(made.value().data_path), dbsafe::test::dump_rows(source));
    const auto listed = v.list();
    ASSERT_EQ(listed.value().backups.size(), 1U);
    EXPECT_EQ(to_json(listed.value().backups[0]), to_json(made.value()));
    // wait() again returns the same outcome.
    EXPECT_EQ(&task.wait(), &made);
}

TEST_F(BackupAsync, ProgressAndItsPhaseAreObservableWhileTheBackupRuns) {
    gate g;
    std::atomic<int> calls{0};
    auto task = backup_async(v, source, {.on_progress = [&](const progress&) {
                                 if (calls++ == 2) g.arrive_and_wait();
                             }});
    g.wait_arrived();
    const progress mid = task.current();
    EXPECT_FALSE(task.ready());
    EXPECT_GT(mid.pages_done, 0U);
    EXPECT_LT(mid.pages_done, mid.pages_total);
    EXPECT_EQ(mid.page_size, 4096U);
    EXPECT_EQ(mid.phase, progress_phase::snapshot);
    g.open();
    const auto& made = task.wait();
    ASSERT_TRUE(made) << made.error().message;
    // The last phase is the store of the checked snapshot, at the backup's size.
    const progress end = task.current();
    EXPECT_EQ(end.phase, progress_phase::store);
    EXPECT_EQ(end.pages_done, end.pages_total);
    EXPECT_EQ(end.bytes_total(), made.value().size_bytes);
}

TEST_F(BackupAsync, CancelStopsTheCopyAndLeavesNothing) {
    gate g;
    auto task =
        backup_async(v, source, {.on_progress = [&](const progress&) { g.arrive_and_wait(); }});
    g.wait_arrived();
    task.cancel();
    g.open();
    const auto& made = task.wait();
    ASSERT_FALSE(made);
    EXPECT_TRUE(made.error().is(errc::cancelled)) << made.error().message;
    expect_no_backup_and_no_debris();
}

TEST_F(BackupAsync, TheCallersStopTokenCancelsToo) {
    gate g;
    std::stop_source stop;
    auto task = backup_async(
        v, source,
        {.on_progress = [&](const progress&) { g.arrive_and_wait(); }, .stop = stop.get_token()});
    g.wait_arrived();
    stop.request_stop();
    g.open();
    const auto& made = task.wait();
    ASSERT_FALSE(made);
    EXPECT_TRUE(made.error().is(errc::cancelled)) << made.error().message;
    expect_no_backup_and_no_debris();
}

TEST_F(BackupAsync, DestroyingAnUnfinishedTaskCancelsAndJoins) {
    v.snapshot.pages_per_step = 1;
    std::atomic<bool> started{false};
    {
        auto task = backup_async(v, source, {.on_progress = [&](const progress&) {
                                     started = true;
                                     // Slow enough that the copy is still running
                                     // when the task is destroyed.
                                     std::this_thread::sleep_for(std::chrono::milliseconds(5));
                                 }});
        while (!started) std::this_thread::yield();
    }  // ~backup_task: request_stop + join; the vault and the callback are still alive here
    expect_no_backup_and_no_debris();
}

TEST_F(BackupAsync, FailuresArriveAsTheSameErrors) {
    auto task = backup_async(v, tmp / "missing.db");
    const auto& made = task.wait();
    ASSERT_FALSE(made);
    EXPECT_TRUE(made.error().is(errc::not_found));
    EXPECT_NE(made.error().message.find((tmp / "missing.db").string()), std::string::npos);
}

}  // namespace
