// The page repository's garbage collection and check (pages/garbage_collection.hpp,
// pages/repository_check.hpp), through prune and health as a user reaches them: prune frees
// what the removed snapshots alone needed and every remaining snapshot restores to its exact
// checksum; a dry run changes nothing; nothing a damaged backup may need is collected; debris
// of killed backups goes after the grace period. Each kind of damage (bit flip, truncated or
// missing pack, corrupted index, page list or snapshot object) is a problem naming exactly the
// snapshots that no longer restore, and every other snapshot keeps restoring.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dbsafe/backends/page_repository.hpp"  // first: the header compiles on its own
#include "dbsafe/dbsafe.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
namespace fs = std::filesystem;
using namespace std::chrono;

using page_vault = basic_vault<online_backup, standard_checks, keep_last, page_repository>;

page_vault make_vault(const fs::path& dir) {
    return page_vault{.storage = page_repository{dir, {.lock_timeout = milliseconds{200}}},
                      .snapshot = {},
                      .verification = standard_checks{.level = check_level::quick},
                      .retention = keep_last{1},
                      .options = {}};
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Every file under `dir` with its content: equal maps mean nothing changed.
std::map<std::string, std::string> tree(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (e.is_regular_file() && e.path().filename() != "lock") {
            out[fs::relative(e.path(), dir).string()] = slurp(e.path());
        }
    }
    return out;
}

std::vector<fs::path> files_with(const fs::path& dir, const std::string& ext) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().string().ends_with(ext)) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::uint64_t bytes_under(const fs::path& dir) {
    std::uint64_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (e.is_regular_file()) n += e.file_size();
    }
    return n;
}

void flip_byte(const fs::path& p, std::uint64_t at) {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(c ^ 0x40));
}

void age(const fs::path& p, hours by) {
    const auto t = system_clock::now() - by;
    const auto ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
    const timespec ts{static_cast<time_t>(ns / 1'000'000'000),
                      static_cast<long>(ns % 1'000'000'000)};
    const timespec times[2] = {ts, ts};
    ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << p;
}

// Every listed backup restores to the checksum its manifest records (open() rebuilds and
// compares); returns the ids that do not.
std::set<std::string> unrestorable(const page_repository& storage) {
    std::set<std::string> out;
    const auto listed = storage.list();
    EXPECT_TRUE(listed) << listed.error().message;
    for (const auto& m : listed.value().backups) {
        if (!storage.open(m.id)) out.insert(m.id);
    }
    return out;
}

std::set<std::string> affected(const check_report& r) {
    const auto ids = r.affected();
    return {ids.begin(), ids.end()};
}

// A repository with two databases: x (a base snapshot x1, a delta x2) and y (its own pages).
class PageGcTest : public ::testing::Test {
  protected:
    void SetUp() override {
        test::create_sample_db(x, 3000);
        test::create_sample_db(y, 1500);
        test::exec(y, "UPDATE customers SET name = 'y-' || name");
        x1 = backup(x);
        test::exec(x, "UPDATE customers SET balance = balance + 7 WHERE id = 1234");
        x2 = backup(x);
        y1 = backup(y);
    }
    std::string backup(const fs::path& db) {
        auto m = v.backup(db);
        EXPECT_TRUE(m) << m.error().message;
        return m ? m.value().id : "";
    }
    // The property every damage test checks: the check names exactly the snapshots that no
    // longer restore, and the others restore.
    void expect_check_names_what_fails(check_depth depth, const std::set<std::string>& expected) {
        const auto checked = v.storage.check(depth);
        ASSERT_TRUE(checked) << checked.error().message;
        const auto failing = unrestorable(v.storage);
        EXPECT_EQ(failing, expected);
        EXPECT_EQ(affected(checked.value()), failing);
        ASSERT_FALSE(checked.value().ok());
        for (const auto& p : checked.value().problems) {
            EXPECT_FALSE(p.object.empty());
            EXPECT_FALSE(p.what.empty()) << p.object;
        }
        // Health checks the structure: it reports what that finds.
        if (depth != check_depth::structure) return;
        const auto h = v.health({.verify_newest = false});
        ASSERT_TRUE(h) << h.error().message;
        EXPECT_TRUE(h.value().has(health_check::repository_damaged));
    }
    test::temp_dir tmp;
    fs::path x = tmp / "x.db";
    fs::path y = tmp / "y.db";
    fs::path dir = tmp / "backups";
    page_vault v = make_vault(dir);
    std::string x1, x2, y1;
};

TEST_F(PageGcTest, AHealthyRepositoryChecksCleanAtBothDepths) {
    for (const auto depth : {check_depth::structure, check_depth::read_data}) {
        const auto r = v.storage.check(depth);
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_TRUE(r.value().ok())
            << r.value().problems.front().object << ": " << r.value().problems.front().what;
        EXPECT_EQ(r.value().snapshots, 3U);
        EXPECT_GT(r.value().pages, 0U);
        EXPECT_EQ(r.value().pages_read, depth == check_depth::read_data ? r.value().pages : 0U);
    }
    const auto h = v.health();
    ASSERT_TRUE(h) << h.error().message;
    EXPECT_TRUE(h.value().healthy()) << h.value().findings.front().message;
}

TEST_F(PageGcTest, PruneFreesWhatTheRemovedSnapshotsAloneNeededAndTheRestRestoreExactly) {
    // x is rewritten: most of x1's and x2's pages are needed by no later snapshot.
    test::exec(x, "DELETE FROM orders; UPDATE customers SET name = 'new-' || name; VACUUM");
    const auto x3 = backup(x);
    const auto before = bytes_under(dir / "pages");
    const auto r = v.prune();
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(r.value().complete());
    EXPECT_EQ(r.value().deletions(), 2U);  // x1, x2; x3 and y1 are the newest of their database
    ASSERT_TRUE(r.value().garbage);
    const gc_report& gc = *r.value().garbage;
    EXPECT_GT(gc.packs_removed, 0U);
    EXPECT_GT(gc.lists_removed, 0U);
    EXPECT_TRUE(gc.failures.empty());
    EXPECT_LT(bytes_under(dir / "pages"), before);
    EXPECT_GE(r.value().bytes_freed, gc.bytes_freed());
    EXPECT_EQ(files_with(dir / "pages" / "index", ".idx").size(), 1U) << "one consolidated index";
    EXPECT_TRUE(unrestorable(v.storage).empty());
    EXPECT_EQ(test::dump_rows(v.storage.open(x3).value().path), test::dump_rows(x));
    EXPECT_EQ(test::dump_rows(v.storage.open(y1).value().path), test::dump_rows(y));
    const auto checked = v.storage.check(check_depth::read_data);
    ASSERT_TRUE(checked) << checked.error().message;
    EXPECT_TRUE(checked.value().ok());
    // Nothing left to collect: a second run removes nothing and rewrites nothing.
    const auto again = v.storage.collect_garbage({});
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again.value().packs_removed + again.value().packs_rewritten +
                  again.value().index_files_removed + again.value().lists_removed,
              0U);
    EXPECT_EQ(again.value().bytes_written, 0U);
}

TEST_F(PageGcTest, APackMostlyGarbageIsRewrittenWithItsLivePagesOnly) {
    // z: one random blob per leaf page; z2 rewrites every blob but the first, so of z1's pack
    // only a few pages (that leaf, the root, the schema) stay live.
    const auto z = tmp / "z.db";
    {
        test::db_handle h(z);
        test::exec(h, "CREATE TABLE t(b BLOB)");
        test::exec(h,
                   "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<60) "
                   "INSERT INTO t SELECT randomblob(3000) FROM n");
    }
    backup(z);
    test::exec(z, "UPDATE t SET b = randomblob(3000) WHERE rowid > 1");
    const auto z2 = backup(z);
    const auto r = v.prune();
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(r.value().garbage);
    const gc_report& gc = *r.value().garbage;
    EXPECT_GE(gc.packs_rewritten, 1U);
    EXPECT_GE(gc.packs_written, 1U);
    EXPECT_GT(gc.bytes_freed(), 0U);
    EXPECT_TRUE(unrestorable(v.storage).empty());
    EXPECT_EQ(test::dump_rows(v.storage.open(z2).value().path), test::dump_rows(z));
    const auto checked = v.storage.check(check_depth::read_data);
    ASSERT_TRUE(checked) << checked.error().message;
    EXPECT_TRUE(checked.value().ok());
}

TEST_F(PageGcTest, DryRunChangesNothingAndCountsWhatTheRealRunRemoves) {
    test::exec(x, "DELETE FROM orders; VACUUM");
    backup(x);
    const auto before = tree(dir);
    const auto dry = v.prune({.dry_run = true});
    ASSERT_TRUE(dry) << dry.error().message;
    EXPECT_EQ(tree(dir), before);
    ASSERT_TRUE(dry.value().garbage);
    EXPECT_TRUE(dry.value().garbage->dry_run);
    const auto real = v.prune();
    ASSERT_TRUE(real) << real.error().message;
    ASSERT_TRUE(real.value().garbage);
    EXPECT_EQ(dry.value().garbage->packs_removed + dry.value().garbage->packs_rewritten,
              real.value().garbage->packs_removed + real.value().garbage->packs_rewritten);
    EXPECT_EQ(dry.value().garbage->lists_removed, real.value().garbage->lists_removed);
    EXPECT_GT(dry.value().garbage->lists_removed, 0U);
}

TEST_F(PageGcTest, KeepsEveryPageABackupWithADamagedManifestNeeds) {
    // y1's manifest is damaged: prune never deletes it, and the collection keeps its pages.
    const auto manifest = dir / (y1 + ".json");
    const auto text = slurp(manifest);
    std::ofstream(manifest, std::ios::binary | std::ios::trunc) << text.substr(0, text.size() / 2);
    ASSERT_TRUE(v.storage.collect_garbage({}));
    std::ofstream(manifest, std::ios::binary | std::ios::trunc) << text;  // repaired
    EXPECT_TRUE(unrestorable(v.storage).empty());
    EXPECT_EQ(test::dump_rows(v.storage.open(y1).value().path), test::dump_rows(y));
}

TEST_F(PageGcTest, AnUnreadableSnapshotObjectStopsTheCollectionBeforeItRemovesAnything) {
    ASSERT_TRUE(v.storage.remove(x1));
    flip_byte(dir / (y1 + ".pages"), 20);
    const auto before = tree(dir);
    const auto r = v.storage.collect_garbage({});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("garbage collection removed nothing"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find(y1 + ".pages"), std::string::npos) << r.error().message;
    EXPECT_EQ(tree(dir), before);
    // Prune still removes what its policy says and reports the collection's failure.
    const auto pruned = v.prune();
    ASSERT_TRUE(pruned) << pruned.error().message;
    EXPECT_TRUE(pruned.value().garbage_failure);
    EXPECT_FALSE(pruned.value().complete());
}

TEST_F(PageGcTest, DebrisOfAKilledBackupGoesOnlyAfterTheGracePeriod) {
    // What a backup killed before its index file leaves: a pack no index lists, temp files.
    const repository_layout layout{dir};
    pages_detail::page_store store(layout.packs(), {}, {});
    std::vector<std::byte> page(4096, std::byte{0x5a});
    const auto d = sha256_of(page).value();
    ASSERT_TRUE(store.add(1, page, d));
    ASSERT_TRUE(store.flush());
    ASSERT_EQ(store.packs_written(), 1U);
    const auto orphan =
        layout.pack(parse_index(store.index_file().value(), "new").value().front().pack);
    ASSERT_TRUE(fs::exists(orphan));
    const auto old_tmp = layout.packs() / "abc.pack.123-0.tmp";
    const auto new_tmp = layout.lists() / "def.list.123-1.tmp";
    // A change cache a killed backup was writing (pages/change_cache.hpp).
    const auto old_cache_tmp = layout.caches() / "0123.cache.123-2.tmp";
    std::ofstream(old_tmp) << "partial";
    std::ofstream(new_tmp) << "partial";
    std::ofstream(old_cache_tmp) << "partial";
    age(old_tmp, hours{48});
    age(old_cache_tmp, hours{48});
    const auto r = v.storage.collect_garbage({});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(fs::exists(orphan)) << "a pack no index lists and no snapshot needs";
    EXPECT_FALSE(fs::exists(old_tmp));
    EXPECT_FALSE(fs::exists(old_cache_tmp));
    EXPECT_TRUE(fs::exists(new_tmp)) << "may belong to a backup in progress";
    EXPECT_EQ(r.value().temp_files_removed, 2U);
    EXPECT_TRUE(unrestorable(v.storage).empty());
}

TEST_F(PageGcTest, APackNoIndexListsButSnapshotsNeedIsListedAgain) {
    // Every index file lost: the check names every snapshot, the collection rebuilds the
    // index from the packs' own tables, and everything restores again.
    for (const auto& f : files_with(dir / "pages" / "index", ".idx")) fs::remove(f);
    const auto checked = v.storage.check(check_depth::structure);
    ASSERT_TRUE(checked) << checked.error().message;
    EXPECT_EQ(affected(checked.value()), (std::set<std::string>{x1, x2, y1}));
    const auto r = v.storage.collect_garbage({});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(r.value().notes.empty());
    EXPECT_TRUE(unrestorable(v.storage).empty());
    const auto again = v.storage.check(check_depth::read_data);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_TRUE(again.value().ok());
}

TEST_F(PageGcTest, WaitsForARunningBackupThenFailsNamingIt) {
    auto held =
        repository_lock::acquire(dir / "pages", repository_lock_mode::shared, milliseconds{0});
    ASSERT_TRUE(held) << held.error().message;
    ASSERT_TRUE(v.storage.remove(x1));
    const auto before = tree(dir);
    const auto r = v.storage.collect_garbage({});
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(errc::busy_timeout)) << r.error().message;
    EXPECT_NE(r.error().message.find("a backup"), std::string::npos) << r.error().message;
    EXPECT_EQ(tree(dir), before);
    // A dry run only reads: it runs beside the backup.
    EXPECT_TRUE(v.storage.collect_garbage({.dry_run = true}));
}

TEST_F(PageGcTest, ARestoreWaitsForARunningCollectionInsteadOfFailingOnAPackItRemoves) {
    {
        auto gc = repository_lock::acquire(dir / "pages", repository_lock_mode::exclusive,
                                           milliseconds{0});
        ASSERT_TRUE(gc) << gc.error().message;
        const auto opened = v.storage.open(y1);
        ASSERT_FALSE(opened);
        EXPECT_TRUE(opened.error().is(errc::busy_timeout)) << opened.error().message;
        EXPECT_NE(opened.error().message.find("garbage collection"), std::string::npos)
            << opened.error().message;
    }
    const auto opened = v.storage.open(y1);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(test::dump_rows(opened.value().path), test::dump_rows(y));
}

TEST_F(PageGcTest, PruneAfterEachBackupCollectsWithoutWaitingForItsOwnBackup) {
    std::optional<result<prune_report>> done;
    v.options.prune_after_backup = {.enabled = true,
                                    .options = {},
                                    .on_done = [&](const result<prune_report>& r) { done = r; }};
    test::exec(x, "DELETE FROM orders; VACUUM");
    const auto x3 = backup(x);
    ASSERT_TRUE(done);
    ASSERT_TRUE(*done) << done->error().message;
    EXPECT_TRUE(done->value().complete());
    ASSERT_TRUE(done->value().garbage);
    EXPECT_GT(done->value().garbage->packs_removed + done->value().garbage->lists_removed, 0U);
    EXPECT_TRUE(unrestorable(v.storage).empty());
    EXPECT_EQ(test::dump_rows(v.storage.open(x3).value().path), test::dump_rows(x));
}

TEST_F(PageGcTest, ASizeCapCountsWhatEachPageSnapshotAddedNotTheDatabaseItRebuilds) {
    // Five snapshots, x's four a small change each: what they added is far below two database
    // sizes, so a cap of two database sizes keeps them all (counting each snapshot as the
    // database it rebuilds deleted three).
    for (int i = 0; i < 2; ++i) {
        test::exec(
            x, "UPDATE customers SET balance = balance + 1 WHERE id = " + std::to_string(100 + i));
        backup(x);
    }
    const auto listed = v.storage.list().value();
    ASSERT_EQ(listed.backups.size(), 5U);
    std::uint64_t image = 0;
    for (const auto& m : listed.backups) image = std::max<std::uint64_t>(image, m.size_bytes);
    const auto plan =
        (keep_all{} | max_total_size{2 * image}).plan(listed.backups, system_clock::now());
    for (const auto& d : plan) EXPECT_TRUE(d.keep) << d.id << ": " << d.reasons.front();
}

// --- Damage: each is a problem naming exactly the snapshots that no longer restore.

fs::path largest(const std::vector<fs::path>& files) {
    return *std::max_element(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
        return fs::file_size(a) < fs::file_size(b);
    });
}

fs::path smallest(const std::vector<fs::path>& files) {
    return *std::min_element(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
        return fs::file_size(a) < fs::file_size(b);
    });
}

TEST_F(PageGcTest, ABitFlipInAPackIsFoundByReadDataAndNamesTheSnapshotsThatNeedIt) {
    const auto pack = largest(files_with(dir / "pages" / "packs", ".pack"));
    flip_byte(pack, 100);  // inside the first frame
    const auto structure = v.storage.check(check_depth::structure);
    ASSERT_TRUE(structure) << structure.error().message;
    const auto failing = unrestorable(v.storage);
    ASSERT_FALSE(failing.empty());
    expect_check_names_what_fails(check_depth::read_data, failing);
    const auto r = v.storage.check(check_depth::read_data).value();
    EXPECT_EQ(r.problems.front().object, pack.string());
}

TEST_F(PageGcTest, ATruncatedPackNamesTheSnapshotsThatNeedIt) {
    const auto pack = largest(files_with(dir / "pages" / "packs", ".pack"));
    fs::resize_file(pack, fs::file_size(pack) / 2);
    const auto failing = unrestorable(v.storage);
    ASSERT_FALSE(failing.empty());
    expect_check_names_what_fails(check_depth::structure, failing);
    const auto r = v.storage.check(check_depth::structure).value();
    EXPECT_EQ(r.problems.front().object, pack.string());
    EXPECT_NE(r.problems.front().what.find("truncated"), std::string::npos)
        << r.problems.front().what;
}

TEST_F(PageGcTest, AMissingPackNamesTheSnapshotsThatNeedItAndTheNextBackupStoresItsPagesAgain) {
    const auto packs = files_with(dir / "pages" / "packs", ".pack");
    const auto pack = largest(packs);
    fs::remove(pack);
    const auto failing = unrestorable(v.storage);
    ASSERT_FALSE(failing.empty());
    expect_check_names_what_fails(check_depth::structure, failing);
    EXPECT_NE(v.storage.check(check_depth::structure).value().problems.front().what.find("missing"),
              std::string::npos);
    // The collection drops the lost pack from the index, so the next backups store its pages
    // again, and the older snapshots needing the same pages restore again.
    const auto r = v.storage.collect_garbage({});
    ASSERT_TRUE(r) << r.error().message;
    // The change caches would vouch for the dropped pages: removed, so they are stored again.
    EXPECT_GE(r.value().caches_removed, 1U);
    backup(x);
    backup(y);
    EXPECT_TRUE(unrestorable(v.storage).size() < failing.size());
}

TEST_F(PageGcTest, ACorruptedIndexFileNamesTheSnapshotsWhosePagesOnlyItLocated) {
    // The smallest: x2's, of the pages its change added.
    const auto index = smallest(files_with(dir / "pages" / "index", ".idx"));
    flip_byte(index, 40);
    const auto failing = unrestorable(v.storage);
    ASSERT_FALSE(failing.empty());
    EXPECT_LT(failing.size(), 3U) << "one damaged index file stopped every restore";
    expect_check_names_what_fails(check_depth::structure, failing);
    EXPECT_EQ(v.storage.check(check_depth::structure).value().problems.front().object,
              index.string());
    // Backups go on (storing again what only the damaged file located), and the collection
    // replaces the damaged file, finding its pages in their packs: everything restores again.
    backup(x);
    const auto r = v.storage.collect_garbage({});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(fs::exists(index));
    EXPECT_TRUE(unrestorable(v.storage).empty());
    const auto again = v.storage.check(check_depth::read_data);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_TRUE(again.value().ok());
}

TEST_F(PageGcTest, ACorruptedDeltaListNamesOnlyTheSnapshotUsingIt) {
    // x2's object: the base list first, its delta last.
    const auto object = slurp(dir / (x2 + ".pages"));
    const auto parsed = parse_snapshot_object(std::as_bytes(std::span(object)), "x2");
    ASSERT_TRUE(parsed) << parsed.error().message;
    ASSERT_GE(parsed.value().lists.size(), 2U);
    flip_byte(repository_layout{dir}.list(parsed.value().lists.back()), 12);
    expect_check_names_what_fails(check_depth::structure, {x2});
    // The base list: x1 and x2 both.
    flip_byte(repository_layout{dir}.list(parsed.value().lists.front()), 12);
    expect_check_names_what_fails(check_depth::structure, {x1, x2});
}

TEST_F(PageGcTest, ACorruptedSnapshotObjectNamesOnlyItsSnapshot) {
    flip_byte(dir / (x1 + ".pages"), 10);
    expect_check_names_what_fails(check_depth::structure, {x1});
    const auto r = v.storage.check(check_depth::structure).value();
    EXPECT_EQ(r.problems.front().object, (dir / (x1 + ".pages")).string());
    // Other work goes on: a new backup of x, restored exactly.
    const auto x3 = backup(x);
    EXPECT_EQ(test::dump_rows(v.storage.open(x3).value().path), test::dump_rows(x));
}

TEST_F(PageGcTest, APlantedFifoPackAndSymlinkedListBlockNothingAndAreNeverFollowed) {
    // A FIFO under a pack's name would block an open() for reading forever; a symlink under a
    // list's name points outside the repository. Neither is named by any snapshot, so neither
    // is the repository's: every operation must pass them by without opening, following or
    // removing them. SIGALRM ends the test binary if anything blocks on the FIFO.
    const std::string hex(64, 'a');
    const auto fifo = dir / "pages" / "packs" / (hex + ".pack");
    const auto link = dir / "pages" / "lists" / (std::string(64, 'b') + ".list");
    const auto bait = tmp / "someone-elses-file";
    std::ofstream(bait) << "not the repository's";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    fs::create_symlink(bait, link);
    ::alarm(60);
    for (const auto depth : {check_depth::structure, check_depth::read_data}) {
        const auto r = v.storage.check(depth);
        ASSERT_TRUE(r) << r.error().message;
        EXPECT_TRUE(r.value().ok())
            << r.value().problems.front().object << ": " << r.value().problems.front().what;
    }
    test::exec(x, "UPDATE customers SET balance = balance + 1 WHERE id = 99");
    const auto x3 = backup(x);
    ASSERT_FALSE(x3.empty());
    const auto pruned = v.prune();
    ASSERT_TRUE(pruned) << pruned.error().message;
    const auto collected = v.storage.collect_garbage({.debris_grace = seconds{0}});
    ASSERT_TRUE(collected) << collected.error().message;
    EXPECT_TRUE(unrestorable(v.storage).empty());
    ::alarm(0);
    EXPECT_TRUE(fs::is_fifo(fs::symlink_status(fifo)));
    EXPECT_TRUE(fs::is_symlink(fs::symlink_status(link)));
    EXPECT_EQ(slurp(bait), "not the repository's");
}

}  // namespace
