// backends/pages, the direct read (dbsafe/snapshot_sink.hpp, pages/page_intake.hpp): a page
// backup of an idle database takes its pages straight from the database file, with no staged
// copy written, and still checks exactly that snapshot before publishing it; a damaged source
// is refused on that path too; the check runs query-only; a rollback-journal check gives way
// to a writer, which never fails, and the backup is then finished through the staged copy; a
// verifier that does not say it can judge without a file keeps the staged copy. The change
// cache: only changed pages are hashed, and a damaged, lying or stale cache never makes a
// wrong backup.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
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

// The change cache (pages/change_cache.hpp): a backup read straight from the database file
// hashes with SHA-256 only the pages whose fingerprint differs from the previous backup's, and
// the cache is only ever a hint.
namespace change_cache {

fs::path the_cache(const fs::path& backups) {
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(backups / "pages" / "cache")) {
        if (e.path().extension() == ".cache") found.push_back(e.path());
    }
    EXPECT_EQ(found.size(), 1U);
    return found.empty() ? fs::path{} : found.front();
}

std::vector<char> read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::vector<char>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace change_cache

TEST_P(DirectRead, AnIncrementalBackupHashesOnlyThePagesThatChangedAndRestoresExactly) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 3000, GetParam());
    auto v = make_vault(tmp / "backups", standard_checks{});
    const auto first = v.backup(db);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(v.storage.last_commit().pages_from_cache, 0U);  // nothing to compare with yet
    ASSERT_FALSE(change_cache::the_cache(tmp / "backups").empty());

    test::exec(db, "UPDATE customers SET balance = balance + 1 WHERE id = 1234");
    const auto second = v.backup(db);
    ASSERT_TRUE(second) << second.error().message;
    const auto s = v.storage.last_commit();
    EXPECT_TRUE(s.read_directly);
    // Only the changed pages were hashed: page 1 (its header counts changes), the row's leaf,
    // and in WAL mode nothing else.
    EXPECT_GE(s.pages_from_cache + 3, s.pages_total);
    EXPECT_LT(s.pages_from_cache, s.pages_total);
    EXPECT_LE(s.pages_new, 3U);
    EXPECT_EQ(rows_of_backup(v, second.value().id), dump_rows(db));

    // Growth: pages past the previous end are hashed and stored; the rest still come cached.
    test::exec(db,
               "INSERT INTO customers(name, email, balance) SELECT name || 'x', email || 'x', "
               "balance FROM customers WHERE id <= 1500");
    const auto third = v.backup(db);
    ASSERT_TRUE(third) << third.error().message;
    EXPECT_GT(v.storage.last_commit().pages_from_cache, 0U);
    EXPECT_EQ(rows_of_backup(v, third.value().id), dump_rows(db));
    for (const auto& id : {first.value().id, second.value().id, third.value().id}) {
        const auto verified = v.verify(id);
        EXPECT_TRUE(verified) << id << ": " << verified.error().message;
    }
}

TEST(DirectRead, ADamagedChangeCacheBlockIsIgnoredAndItsPagesAreHashedAgain) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 3000);
    auto v = make_vault(tmp / "backups", standard_checks{});
    ASSERT_TRUE(v.backup(db));
    const auto cache = change_cache::the_cache(tmp / "backups");
    auto bytes = change_cache::read_bytes(cache);
    ASSERT_GT(bytes.size(), pages_detail::cache_header_bytes + 200);
    bytes[pages_detail::cache_header_bytes + 100] ^= 0x40;  // inside the first block's entries
    change_cache::write_bytes(cache, bytes);

    test::exec(db, "UPDATE customers SET balance = balance + 1 WHERE id = 7");
    const auto second = v.backup(db);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(v.storage.last_commit().pages_from_cache, 0U);  // one block: every page hashed
    EXPECT_EQ(rows_of_backup(v, second.value().id), dump_rows(db));
    // The backup wrote a sound cache again: the next one uses it.
    const auto third = v.backup(db);
    ASSERT_TRUE(third) << third.error().message;
    EXPECT_EQ(v.storage.last_commit().pages_from_cache, v.storage.last_commit().pages_total);
    EXPECT_EQ(rows_of_backup(v, third.value().id), dump_rows(db));
}

// A cache whose checksums are intact but which gives a page another page's address (planted,
// or damaged in a way its checksums missed): the commit compares every address it gave with
// the page list of the snapshot it describes, refuses to publish, and removes the cache.
TEST(DirectRead, AChangeCacheThatGivesAWrongAddressFailsTheBackupAndIsRemoved) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 3000);
    auto v = make_vault(tmp / "backups", standard_checks{});
    ASSERT_TRUE(v.backup(db));
    const auto cache = change_cache::the_cache(tmp / "backups");
    auto bytes = change_cache::read_bytes(cache);
    const std::size_t entries = pages_detail::cache_header_bytes;
    const std::size_t e = pages_detail::cache_entry_bytes;
    std::uint64_t pages = 0;
    std::memcpy(&pages, bytes.data() + 24, 8);
    const std::size_t block = std::min<std::size_t>(pages, pages_detail::cache_block_pages);
    ASSERT_GT(block, 3U);
    // Page 2 gets page 3's address; the block's checksum is made to match again.
    std::memcpy(bytes.data() + entries + e + 16, bytes.data() + entries + 2 * e + 16, 32);
    const auto sum =
        pages_detail::xxh3_128_bytes(std::as_bytes(std::span(bytes.data() + entries, block * e)));
    std::memcpy(bytes.data() + entries + block * e, sum.data(), sum.size());
    change_cache::write_bytes(cache, bytes);

    const auto refused = v.backup(db);
    ASSERT_FALSE(refused);
    EXPECT_TRUE(refused.error().is(errc::checksum_mismatch)) << refused.error().message;
    EXPECT_NE(refused.error().message.find("change cache"), std::string::npos)
        << refused.error().message;
    EXPECT_NE(refused.error().message.find("page 2 "), std::string::npos)
        << refused.error().message;
    EXPECT_FALSE(fs::exists(cache));
    const auto listed = v.list();
    ASSERT_TRUE(listed) << listed.error().message;
    EXPECT_EQ(listed.value().backups.size(), 1U);  // nothing published

    const auto again = v.backup(db);  // no cache: every page hashed, and right
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(v.storage.last_commit().pages_from_cache, 0U);
    EXPECT_EQ(rows_of_backup(v, again.value().id), dump_rows(db));
}

// A cache describes one snapshot: once that snapshot is removed it is never used (its pages may
// be collected), and garbage collection removes it.
TEST(DirectRead, AChangeCacheOfARemovedSnapshotIsNotUsedAndIsCollected) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 3000);
    auto v = make_vault(tmp / "backups", standard_checks{});
    const auto first = v.backup(db);
    ASSERT_TRUE(first) << first.error().message;
    const auto cache = change_cache::the_cache(tmp / "backups");
    ASSERT_TRUE(v.storage.remove(first.value().id));
    const auto gc = v.storage.collect_garbage({});
    ASSERT_TRUE(gc) << gc.error().message;
    EXPECT_EQ(gc.value().caches_removed, 1U);
    EXPECT_FALSE(fs::exists(cache));

    const auto second = v.backup(db);
    ASSERT_TRUE(second) << second.error().message;
    ASSERT_TRUE(v.storage.remove(second.value().id));  // removed, not yet collected
    const auto third = v.backup(db);
    ASSERT_TRUE(third) << third.error().message;
    EXPECT_EQ(v.storage.last_commit().pages_from_cache, 0U);
    EXPECT_EQ(rows_of_backup(v, third.value().id), dump_rows(db));
}

// The snapshot a change cache describes has a damaged page list (the repository check names
// that snapshot): new backups still go on, the cached addresses confirmed in the index instead.
TEST(DirectRead, AChangeCacheWhoseSnapshotListIsDamagedStillGivesAWholeBackup) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 3000);
    auto v = make_vault(tmp / "backups", standard_checks{});
    ASSERT_TRUE(v.backup(db));
    std::vector<fs::path> lists;
    for (const auto& e : fs::directory_iterator(tmp / "backups" / "pages" / "lists")) {
        if (e.path().extension() == ".list") lists.push_back(e.path());
    }
    ASSERT_EQ(lists.size(), 1U);
    auto bytes = change_cache::read_bytes(lists.front());
    bytes[bytes.size() / 2] ^= 0x01;
    change_cache::write_bytes(lists.front(), bytes);

    test::exec(db, "UPDATE customers SET balance = balance + 1 WHERE id = 99");
    const auto second = v.backup(db);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_GT(v.storage.last_commit().pages_from_cache, 0U);
    // The damage is found where the list is walked beside the new one (at its end): the new
    // snapshot is a full base of its own, not a delta on the damaged chain.
    EXPECT_FALSE(v.storage.last_commit().reused_chain);
    EXPECT_EQ(rows_of_backup(v, second.value().id), dump_rows(db));
    const auto verified = v.verify(second.value().id);
    EXPECT_TRUE(verified) << verified.error().message;
}

// Something planted where the caches go (a file named `cache`): the cache is a hint, so
// backups go on without one.
TEST(DirectRead, AFilePlantedWhereTheChangeCachesGoOnlyTurnsTheCacheOff) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 1000);
    ASSERT_TRUE(page_repository::init(tmp / "backups", location_format::pages));
    std::ofstream(tmp / "backups" / "pages" / "cache") << "not a folder";
    auto v = make_vault(tmp / "backups", standard_checks{});
    ASSERT_TRUE(v.backup(db));
    test::exec(db, "UPDATE customers SET balance = balance + 1 WHERE id = 5");
    const auto second = v.backup(db);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(v.storage.last_commit().pages_from_cache, 0U);
    EXPECT_EQ(rows_of_backup(v, second.value().id), dump_rows(db));
    const auto gc = v.storage.collect_garbage({});
    EXPECT_TRUE(gc) << gc.error().message;
}

// `page_repository_settings::change_cache = false`: every page hashed on every backup, and no
// cache kept.
TEST(DirectRead, WithTheChangeCacheOffEveryPageIsHashedAndNoCacheIsKept) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 1000);
    page_vault_with<standard_checks> v{
        .storage = page_repository{tmp / "backups", {.change_cache = false}},
        .snapshot = {},
        .verification = {},
        .retention = {},
        .options = {}};
    ASSERT_TRUE(v.backup(db));
    const auto second = v.backup(db);
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_TRUE(v.storage.last_commit().read_directly);
    EXPECT_EQ(v.storage.last_commit().pages_from_cache, 0U);
    EXPECT_FALSE(fs::exists(tmp / "backups" / "pages" / "cache"));
    EXPECT_EQ(rows_of_backup(v, second.value().id), dump_rows(db));
}
