// backends/pages, the direct read (dbsafe/snapshot_sink.hpp, pages/page_intake.hpp): a page
// backup of an idle database takes its pages straight from the database file, with no staged
// copy written, and still checks exactly that snapshot before publishing it; a damaged source
// is refused on that path too; the check runs query-only; a rollback-journal check gives way
// to a writer, which never fails, and the backup is then finished through the staged copy; a
// verifier that does not say it can judge without a file keeps the staged copy.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "dbsafe/backends/page_repository.hpp"  // first: the header compiles on its own
#include "dbsafe/dbsafe.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
namespace fs = std::filesystem;
using test::dump_rows;

template <class Verifier>
using page_vault_with = basic_vault<online_backup, Verifier, keep_all, page_repository>;

template <class Verifier>
page_vault_with<Verifier> make_vault(const fs::path& dir, Verifier verification) {
    return page_vault_with<Verifier>{.storage = page_repository{dir, {}},
                                     .snapshot = {},
                                     .verification = std::move(verification),
                                     .retention = {},
                                     .options = {}};
}

// The largest staged copy (`<id>.db.tmp`) in `dir` right now.
std::uintmax_t largest_staged_file(const fs::path& dir) {
    std::uintmax_t largest = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().string().ends_with(".db.tmp")) {
            largest = std::max(largest, fs::file_size(e.path()));
        }
    }
    return largest;
}

template <class Vault>
std::vector<std::string> rows_of_backup(const Vault& v, const std::string& id) {
    auto opened = v.storage.open(id);
    EXPECT_TRUE(opened) << opened.error().message;
    if (!opened) return {};
    return dump_rows(opened.value().path);
}

class DirectRead : public ::testing::TestWithParam<const char*> {};

TEST_P(DirectRead, AnIdleDatabaseGoesStraightIntoTheRepositoryWithNoStagedCopy) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 3000, GetParam());
    auto v = make_vault(tmp / "backups", standard_checks{.level = check_level::full});
    std::uintmax_t staged_bytes = 0;
    progress last{};
    backup_options opts;
    opts.on_progress = [&](const progress& p) {
        last = p;
        staged_bytes = std::max(staged_bytes, largest_staged_file(tmp / "backups"));
    };
    const auto m = v.backup(db, opts);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_TRUE(v.storage.last_commit().read_directly);
    EXPECT_GT(last.pages_total, 0U);
    EXPECT_EQ(last.pages_done, last.pages_total);  // the last report: 100 %
    EXPECT_EQ(staged_bytes, 0U);                   // the staged file was created, and never written
    EXPECT_FALSE(fs::exists(tmp / "backups" / (m.value().id + ".db.tmp")));
    // Described and checked on the way: the manifest says what the file says.
    EXPECT_EQ(m.value().page_count, test::query_int(db, "PRAGMA page_count"));
    EXPECT_EQ(m.value().size_bytes, fs::file_size(db));
    ASSERT_TRUE(m.value().verified);
    EXPECT_EQ(rows_of_backup(v, m.value().id), dump_rows(db));
    const auto verified = v.verify(m.value().id);  // rebuilt image against the checksum
    EXPECT_TRUE(verified) << verified.error().message;
    // An incremental one after a change goes the same way and stores only what changed.
    test::exec(db, "UPDATE customers SET balance = balance + 1 WHERE id = 1234");
    const auto second = v.backup(db);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_TRUE(v.storage.last_commit().read_directly);
    EXPECT_LE(v.storage.last_commit().pages_new, 3U);
    EXPECT_EQ(rows_of_backup(v, second.value().id), dump_rows(db));
}

TEST_P(DirectRead, ADamagedSourceIsRefusedByTheCheckInsideTheReadAndNothingIsPublished) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 300, GetParam());
    const auto page_size = test::query_int(db, "PRAGMA page_size");
    {  // garbage over the b-tree header of page 3: the file opens, the check fails
        std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(2 * page_size));
        const std::string junk(16, '\xee');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    auto v = make_vault(tmp / "backups", standard_checks{.level = check_level::full});
    const auto taken = v.backup(db);
    ASSERT_FALSE(taken);
    EXPECT_TRUE(taken.error().is(errc::verification_failed)) << taken.error().message;
    EXPECT_NE(taken.error().message.find("SOURCE database is damaged"), std::string::npos)
        << taken.error().message;
    const auto listed = v.list();
    ASSERT_TRUE(listed) << listed.error().message;
    EXPECT_TRUE(listed.value().backups.empty());
    for (const auto& e : fs::directory_iterator(tmp / "backups")) {
        EXPECT_FALSE(e.path().string().ends_with(".pages")) << e.path();
        EXPECT_FALSE(e.path().string().ends_with(".json")) << e.path();
    }
}

INSTANTIATE_TEST_SUITE_P(JournalModes, DirectRead, ::testing::Values("wal", "delete"));

// A check that tries to write through the source connection: refused (the check runs
// query-only, as it would on a read-only copy), the backup is not published, the live
// database is unchanged.
TEST(DirectRead, TheCheckOnTheSourceConnectionCannotWriteToIt) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 300);
    const auto before = dump_rows(db);
    auto v = make_vault(tmp / "backups", check_with{[](sqlite3* c) -> result<void> {
                            return detail::exec(c, "DELETE FROM customers");
                        }});
    const auto taken = v.backup(db);
    ASSERT_FALSE(taken);
    EXPECT_EQ(dump_rows(db), before);
    const auto listed = v.list();
    ASSERT_TRUE(listed) << listed.error().message;
    EXPECT_TRUE(listed.value().backups.empty());
}

// A verifier that does not declare needs_file_of_fresh_snapshot (verifier.hpp) may read the
// staged file itself: it gets one.
struct reads_the_file {
    std::shared_ptr<std::uintmax_t> seen = std::make_shared<std::uintmax_t>(0);
    [[nodiscard]] result<void> verify(const backup_file& f) const {
        *seen = fs::file_size(f.path);
        return success();
    }
};

TEST(DirectRead, AVerifierThatDoesNotDeclareItsFileNeedKeepsTheStagedCopy) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 1000);
    auto v = make_vault(tmp / "backups", reads_the_file{});
    const auto m = v.backup(db);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_FALSE(v.storage.last_commit().read_directly);
    EXPECT_EQ(*v.verification.seen, fs::file_size(db));
    EXPECT_EQ(rows_of_backup(v, m.value().id), dump_rows(db));
}

// A rollback-journal source holds SHARED through the check on the direct path. A writer that
// takes RESERVED meanwhile is let in at once (the check is interrupted), commits without an
// error, and the backup is finished through the staged copy, checked there, and holds a
// consistent state of the database.
TEST(DirectRead, AWriterDuringTheCheckOfARollbackJournalDatabaseIsLetInAndTheBackupFinishes) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 1000, "delete");
    const auto before = dump_rows(db);
    std::atomic<int> calls{0};
    std::atomic<bool> writer_started{false};
    std::atomic<bool> writer_failed{false};
    std::thread writer;
    auto v = make_vault(tmp / "backups", check_with{[&](const checked_database& d) -> result<void> {
                            if (calls.fetch_add(1) > 0)
                                return success();  // the check of the staged copy
                            // The first check runs on the source inside the read: start a writer,
                            // then work long enough (tens of millions of steps) that only giving
                            // way can end it soon.
                            writer = std::thread([&] {
                                try {
                                    test::db_handle w(db);
                                    writer_started = true;
                                    test::exec(w,
                                               "BEGIN IMMEDIATE;"
                                               "INSERT INTO customers(name, email, balance) "
                                               "VALUES ('late', 'late@example.com', 1);"
                                               "COMMIT");
                                } catch (const std::exception& e) {
                                    ADD_FAILURE() << "the writer failed: " << e.what();
                                    writer_failed = true;
                                }
                            });
                            while (!writer_started) std::this_thread::yield();
                            return detail::exec(
                                d.db,
                                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                                "WHERE x < 200000000) SELECT count(*) FROM c");
                        }});
    const auto m = v.backup(db);
    if (writer.joinable()) writer.join();
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_FALSE(writer_failed);
    EXPECT_EQ(calls.load(), 2);  // interrupted on the source, then on the staged copy
    EXPECT_FALSE(v.storage.last_commit().read_directly);
    const auto after = dump_rows(db);
    ASSERT_NE(after, before);  // the writer's row went in
    const auto backed_up = rows_of_backup(v, m.value().id);
    EXPECT_TRUE(backed_up == after || backed_up == before);
    const auto verified = v.verify(m.value().id);
    EXPECT_TRUE(verified) << verified.error().message;
}

}  // namespace
