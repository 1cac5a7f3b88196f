// backends/pages (dbsafe/backends/page_repository.hpp): page snapshots round-trip row by row;
// an incremental backup stores only the pages that changed; pages are shared across snapshots
// and databases; delta chains grow and restart; plain, zstd and page backups share a
// directory; the vault's restore and the migration guard work over it unchanged; each kind of
// damage is a clear error naming the snapshot and the object, and nothing else stops working;
// a config written by a newer dbsafe is refused.
#include "dbsafe/backends/page_repository.hpp"  // first: the header compiles on its own

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dbsafe/dbsafe.hpp"
#include "support/manifest_edit.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
namespace fs = std::filesystem;
using test::dump_rows;

using page_vault = basic_vault<online_backup, standard_checks, keep_all, page_repository>;

page_vault make_vault(const fs::path& dir, page_repository_settings s = {}) {
    return page_vault{.storage = page_repository{dir, std::move(s)},
                      .snapshot = {},
                      .verification = standard_checks{.level = check_level::quick},
                      .retention = {},
                      .options = {}};
}

std::vector<std::string> rows_of_backup(const page_vault& v, const std::string& id) {
    auto opened = v.storage.open(id);
    EXPECT_TRUE(opened) << opened.error().message;
    if (!opened) return {};
    return dump_rows(opened.value().path);
}

std::vector<fs::path> files_in(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (!e.path().string().ends_with(".tmp")) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

void flip_byte(const fs::path& p, std::uint64_t at) {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(c ^ 0x40));
}

void expect_mentions(const error& e, const std::vector<std::string>& words) {
    std::string all;
    for (const error* c = &e; c != nullptr; c = c->cause.get()) all += c->message + "\n";
    for (const auto& w : words) EXPECT_NE(all.find(w), std::string::npos) << w << " in: " << all;
}

// Snapshot `id` of `db` rebuilds to the wrong image: opening it is refused as a checksum
// mismatch whose message names `words`, and a restore from it is refused too and leaves the
// live database as it was, row by row. The live database is changed first, so that a restore
// that went through would show. Returns open()'s message, empty when open() went through.
std::string expect_restore_refused_and_live_unchanged(page_vault& v, const fs::path& db,
                                                      const std::string& id,
                                                      const std::vector<std::string>& words) {
    const auto opened = v.storage.open(id);
    EXPECT_FALSE(opened) << "snapshot " << id << " opened although its image is wrong";
    if (opened) return {};
    EXPECT_TRUE(opened.error().is(errc::checksum_mismatch)) << opened.error().message;
    expect_mentions(opened.error(), words);
    test::exec(db, "DELETE FROM orders WHERE id % 2 = 0");
    const auto before = dump_rows(db);
    const auto restored = v.restore(db, {.id = id});
    EXPECT_FALSE(restored) << "snapshot " << id << " restored although its image is wrong";
    if (!restored) {
        EXPECT_TRUE(restored.error().is(errc::checksum_mismatch)) << restored.error().message;
    }
    EXPECT_EQ(dump_rows(db), before);
    return opened.error().message;
}

TEST(PageRepository, RoundTripEqualsTheSourceRowByRow) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 2000);
    auto v = make_vault(tmp / "backups");
    const auto m = v.backup(db);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m.value().file, m.value().id + ".pages");
    ASSERT_TRUE(m.value().pages);
    EXPECT_EQ(m.value().pages->object_size, fs::file_size(tmp / "backups" / m.value().file));
    EXPECT_EQ(m.value().pages->pages_new, static_cast<std::uint64_t>(m.value().page_count));
    EXPECT_FALSE(fs::exists(tmp / "backups" / (m.value().id + ".db.tmp")));
    EXPECT_EQ(rows_of_backup(v, m.value().id), dump_rows(db));
    const auto verified = v.verify(m.value().id);
    EXPECT_TRUE(verified) << verified.error().message;
    // restore --to: a new plain file with the same rows.
    const auto restored = v.restore_to(tmp / "copy.db", {.id = m.value().id});
    ASSERT_TRUE(restored) << restored.error().message;
    EXPECT_EQ(dump_rows(tmp / "copy.db"), dump_rows(db));
    // The scratch copy of open() is gone once the readable_backup is.
    for (const auto& f : files_in(tmp / "backups")) {
        EXPECT_EQ(f.string().find("unpacked"), std::string::npos) << f;
    }
}

TEST(PageRepository, RebuildingASnapshotOnTwoThreadsReportsItsBytesOnTheCallersThreadOnly) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 200);
    // Over 4096 pages: the rebuild splits between two threads (reconstruct.hpp).
    test::exec(db,
               "CREATE TABLE blobs(body BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT "
               "i + 1 FROM n WHERE i < 5000) INSERT INTO blobs SELECT randomblob(3000) FROM n");
    auto v = make_vault(tmp / "backups");
    const auto m = v.backup(db);
    ASSERT_TRUE(m) << m.error().message;
    ASSERT_GT(m.value().page_count, 4096);
    std::vector<progress> seen;
    std::vector<std::thread::id> threads;
    auto opened = v.storage.open(m.value().id, [&](const progress& p) {
        seen.push_back(p);
        threads.push_back(std::this_thread::get_id());
    });
    ASSERT_TRUE(opened) << opened.error().message;
    ASSERT_GE(seen.size(), 2U);
    EXPECT_EQ(seen.front().pages_total, 0U);  // announced
    for (const auto& p : seen) EXPECT_EQ(p.phase, progress_phase::unpack);
    EXPECT_EQ(seen.back().bytes_done(), m.value().size_bytes);
    EXPECT_EQ(seen.back().bytes_total(), m.value().size_bytes);
    for (const auto& id : threads) EXPECT_EQ(id, std::this_thread::get_id());
    EXPECT_EQ(dump_rows(opened.value().path), dump_rows(db));
}

TEST(PageRepository, SecondBackupAfterASmallChangeStoresOnlyTheChangedPages) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 5000);
    auto v = make_vault(tmp / "backups");
    const auto first = v.backup(db);
    ASSERT_TRUE(first) << first.error().message;
    test::exec(db, "UPDATE customers SET balance = balance + 1 WHERE id = 4321");
    const auto second = v.backup(db);
    ASSERT_TRUE(second) << second.error().message;
    const auto stats = v.storage.last_commit();
    EXPECT_TRUE(stats.reused_chain);
    EXPECT_EQ(stats.pages_total, static_cast<std::uint64_t>(second.value().page_count));
    // The row's leaf page, maybe an interior page and page 1 (a WAL database does not bump
    // its change counter).
    EXPECT_GE(stats.pages_new, 1U);
    EXPECT_LE(stats.pages_new, 3U);
    // A few compressed pages, an index entry, a delta and the object: far below a page list
    // of every page (32 bytes each), let alone the database.
    EXPECT_LT(stats.bytes_added, 16U * 1024U) << stats.bytes_added;
    EXPECT_EQ(second.value().pages->pages_new, stats.pages_new);
    EXPECT_EQ(second.value().pages->bytes_added, stats.bytes_added);
    EXPECT_EQ(rows_of_backup(v, second.value().id), dump_rows(db));
    EXPECT_NE(rows_of_backup(v, first.value().id), dump_rows(db));
    // The same database unchanged: nothing new but the snapshot's object and delta.
    const auto third = v.backup(db);
    ASSERT_TRUE(third) << third.error().message;
    EXPECT_EQ(v.storage.last_commit().pages_new, 0U);
    EXPECT_LT(v.storage.last_commit().bytes_added, 1024U);
}

TEST(PageRepository, PagesAreSharedAcrossDatabasesInTheSameRepository) {
    test::temp_dir tmp;
    const auto a = tmp / "a.db";
    const auto b = tmp / "b.db";
    test::create_sample_db(a, 3000);
    fs::copy_file(a, b);
    test::exec(b, "INSERT INTO counters VALUES ('b', 1)");
    auto v = make_vault(tmp / "backups");
    ASSERT_TRUE(v.backup(a));
    const auto first = v.storage.last_commit();
    const auto mb = v.backup(b);
    ASSERT_TRUE(mb) << mb.error().message;
    const auto second = v.storage.last_commit();
    EXPECT_FALSE(second.reused_chain) << "another database: a base of its own";
    EXPECT_LE(second.pages_new, 4U) << "of " << second.pages_total;
    EXPECT_LT(second.bytes_added, first.bytes_added / 4);
    EXPECT_EQ(rows_of_backup(v, mb.value().id), dump_rows(b));
    const auto s = v.storage.stats();
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s.value().snapshots, 2U);
    EXPECT_GT(s.value().dedup_ratio, 1.5);
    EXPECT_EQ(s.value().plain_equivalent_bytes, s.value().logical_bytes);
    EXPECT_LE(s.value().unique_pages, first.pages_total + second.pages_new);
}

TEST(PageRepository, DeltaChainGrowsThenStartsANewBase) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 5000);
    auto v = make_vault(tmp / "backups");
    std::vector<bool> reused;
    std::vector<std::string> ids;
    for (int i = 0; i < 36; ++i) {
        test::exec(db, "UPDATE customers SET balance = balance + 1 WHERE id = " +
                           std::to_string(1 + i * 97));
        const auto m = v.backup(db);
        ASSERT_TRUE(m) << m.error().message;
        reused.push_back(v.storage.last_commit().reused_chain);
        ids.push_back(m.value().id);
    }
    EXPECT_FALSE(reused.front());
    EXPECT_TRUE(reused[1]);
    // At most 32 lists per chain: the 33rd snapshot starts a new base.
    EXPECT_FALSE(reused[32]);
    EXPECT_TRUE(reused[33]);
    for (const auto& id : {ids[0], ids[20], ids[31], ids[32], ids[35]}) {
        ASSERT_FALSE(rows_of_backup(v, id).empty()) << id;
    }
    EXPECT_EQ(rows_of_backup(v, ids.back()), dump_rows(db));
    // A large change (most rows deleted, the file rewritten) starts a new base too.
    test::exec(db, "DELETE FROM orders WHERE id % 3 != 0; VACUUM");
    const auto m = v.backup(db);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_FALSE(v.storage.last_commit().reused_chain);
    EXPECT_EQ(rows_of_backup(v, m.value().id), dump_rows(db));
}

TEST(PageRepository, PageOneRewrittenAtTheEndAndOtherWriteOrdersStoreTheFinalFile) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 3000);
    // An open connection with uncheckpointed WAL content: the snapshot goes through the backup
    // API, which rewrites page 1 last.
    test::db_handle writer(db);
    test::exec(writer, "PRAGMA wal_autocheckpoint=0");
    test::exec(writer, "UPDATE customers SET name = name || '!' WHERE id % 5 = 0");
    auto v = make_vault(tmp / "backups");
    const auto m = v.backup(db);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(rows_of_backup(v, m.value().id), dump_rows(db));
    // VACUUM INTO writes in its own order.
    basic_vault<vacuum_into, standard_checks, keep_all, page_repository> vac{
        .storage = page_repository{tmp / "backups"},
        .snapshot = {},
        .verification = standard_checks{.level = check_level::quick},
        .retention = {},
        .options = {}};
    const auto mv = vac.backup(db);
    ASSERT_TRUE(mv) << mv.error().message;
    EXPECT_EQ(rows_of_backup(v, mv.value().id), dump_rows(db));
}

TEST(PageRepository, PlainZstdAndPageBackupsShareADirectory) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 1000);
    const auto dir = tmp / "backups";
    auto plain = make_vault(dir, {.write_pages = false});
    auto zstd = make_vault(dir, {.write_pages = false, .files = {.level = 3}});
    auto pages = make_vault(dir);
    const auto p = plain.backup(db);
    const auto z = zstd.backup(db);
    const auto g = pages.backup(db);
    ASSERT_TRUE(p && z && g);
    EXPECT_EQ(p.value().file, p.value().id + ".db");
    EXPECT_EQ(z.value().file, z.value().id + ".db.zst");
    EXPECT_EQ(g.value().file, g.value().id + ".pages");
    const auto listed = pages.list();
    ASSERT_TRUE(listed);
    EXPECT_EQ(listed.value().backups.size(), 3U);
    EXPECT_TRUE(listed.value().leftovers.empty());
    EXPECT_TRUE(listed.value().damaged.empty());
    for (const auto& id : {p.value().id, z.value().id, g.value().id}) {
        EXPECT_EQ(rows_of_backup(pages, id), dump_rows(db)) << id;
    }
    // A plain local_directory lists the page snapshot but cannot open it, and says why.
    const auto opened = local_directory{dir}.open(g.value().id);
    ASSERT_FALSE(opened);
    EXPECT_TRUE(opened.error().is(errc::unsupported));
    expect_mentions(opened.error(), {"page repository"});
    // Removal: manifest and object; the pages stay for garbage collection.
    ASSERT_TRUE(pages.storage.remove(g.value().id));
    EXPECT_FALSE(fs::exists(dir / g.value().file));
    EXPECT_EQ(pages.list().value().backups.size(), 2U);
}

TEST(PageRepository, VaultRestoreAndMigrationGuardWorkOverIt) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 2000);
    auto v = make_vault(tmp / "backups");
    const auto before = dump_rows(db);
    const auto m = v.backup(db);
    ASSERT_TRUE(m) << m.error().message;
    test::exec(db, "DELETE FROM orders WHERE id % 2 = 0");
    const auto restored = v.restore(db, {.id = m.value().id});
    ASSERT_TRUE(restored) << restored.error().message;
    EXPECT_EQ(dump_rows(db), before);
    ASSERT_TRUE(restored.value().safety.pages) << "the safety backup is a page snapshot too";
    EXPECT_EQ(rows_of_backup(v, restored.value().safety.id).size(), before.size() - 3000);

    {
        test::db_handle conn(db);
        auto guard = migration_guard::open(v, conn.db);
        ASSERT_TRUE(guard) << guard.error().message;
        test::exec(conn, "ALTER TABLE customers ADD COLUMN tier TEXT");
        test::exec(conn, "UPDATE customers SET tier = 'gold'");
        ASSERT_TRUE(guard.value().rollback());
    }
    EXPECT_EQ(dump_rows(db), before);
    const auto health = v.health();
    ASSERT_TRUE(health) << health.error().message;
}

// A snapshot of more than 4096 pages is rebuilt by two threads, half each: the image is exact,
// and damage in either half is reported.
TEST(PageRepository, ALargeSnapshotRebuildsExactlyAndDamageInTheSecondHalfIsReported) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 2000);
    test::exec(db,
               "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<5000) "
               "INSERT INTO documents(body) SELECT randomblob(3000) FROM n");
    ASSERT_GT(test::query_int(db, "PRAGMA page_count"), 4096);
    auto v = make_vault(tmp / "backups");
    const auto m = v.backup(db);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(rows_of_backup(v, m.value().id), dump_rows(db));
    // The newest pack holds the last pages written (page 1 aside): the second half's.
    fs::path newest;
    for (const auto& f : files_in(tmp / "backups" / "pages" / "packs")) {
        if (newest.empty() || fs::last_write_time(f) > fs::last_write_time(newest)) newest = f;
    }
    ASSERT_FALSE(newest.empty());
    fs::remove(newest);
    const auto opened = v.storage.open(m.value().id);
    ASSERT_FALSE(opened);
    EXPECT_TRUE(opened.error().is(errc::not_found)) << opened.error().message;
    expect_mentions(opened.error(), {m.value().id, newest.filename().string(), "missing"});
}

// The manifest's `pages` field: round-trips, must agree with `file`, and its object_size is
// checked against <id>.pages when listing, like an archive's compressed_size.
TEST(PageRepository, ManifestPagesFieldAgreesWithItsObject) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 300);
    auto v = make_vault(tmp / "backups");
    const auto m = v.backup(db);
    ASSERT_TRUE(m) << m.error().message;
    const auto manifest_path = tmp / "backups" / (m.value().id + ".json");
    std::ifstream in(manifest_path);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    const auto parsed = parse_manifest(text, "m.json");
    ASSERT_TRUE(parsed) << parsed.error().message;
    ASSERT_TRUE(parsed.value().pages);
    EXPECT_EQ(parsed.value().pages->object_size, m.value().pages->object_size);
    EXPECT_EQ(parsed.value().pages->bytes_added, m.value().pages->bytes_added);

    auto j = nlohmann::json::parse(text);
    j.erase("pages");  // a .pages file without the field: not a page snapshot dbsafe wrote
    test::reseal_manifest(j);
    EXPECT_FALSE(parse_manifest(j.dump(), "m.json"));
    j = nlohmann::json::parse(text);
    j["compression"] = {{"algorithm", "zstd"}, {"level", 3}, {"compressed_size", 1}};
    test::reseal_manifest(j);
    EXPECT_FALSE(parse_manifest(j.dump(), "m.json"));

    const auto object = tmp / "backups" / m.value().file;
    fs::resize_file(object, fs::file_size(object) - 1);
    const auto listed = v.list();
    ASSERT_TRUE(listed);
    EXPECT_TRUE(listed.value().backups.empty());
    ASSERT_EQ(listed.value().damaged.size(), 1U);
    EXPECT_NE(listed.value().damaged[0].reason.find("pages.object_size"), std::string::npos)
        << listed.value().damaged[0].reason;
}

// A rebuilt image is proved by the manifest's checksum alone. When the two disagree, every page
// is checked against its address in a second pass before the snapshot is refused: the message
// names both checksums, no rebuilt copy is left behind, and a restore from it changes nothing.
TEST(PageRepository, AnImageThatDisagreesWithItsManifestIsRefusedAfterEveryPageIsChecked) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    const auto dir = tmp / "backups";
    test::create_sample_db(db, 300);
    auto v = make_vault(dir);
    const auto m = v.backup(db);
    ASSERT_TRUE(m) << m.error().message;
    const auto manifest_path = dir / (m.value().id + ".json");
    std::ifstream in(manifest_path);
    auto j = nlohmann::json::parse(std::string((std::istreambuf_iterator<char>(in)), {}));
    in.close();
    const std::string recorded(32, 'e');
    j["checksum"]["hex"] = recorded;
    test::reseal_manifest(j);
    std::ofstream(manifest_path, std::ios::trunc) << j.dump();

    expect_restore_refused_and_live_unchanged(
        v, db, m.value().id,
        {m.value().id, "reconstructs to " + m.value().checksum.hex, "records " + recorded});
    for (const auto& e : fs::directory_iterator(dir)) {
        EXPECT_EQ(e.path().string().find(".unpacked-"), std::string::npos) << e.path();
    }
}

// When the image disagrees with its manifest because a page came out wrong, the second pass
// checks every page against its address and names the first wrong one with its pack. Here the
// repository's index file is rewritten, validly (its trailer and name recomputed), so that two
// entries of one frame point at each other's bytes: every file still checks, only the pages
// are wrong. The snapshot is refused and a restore from it changes nothing.
TEST(PageRepository, APageThatDoesNotMatchItsAddressIsNamedWithItsPackByTheSecondPass) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    const auto dir = tmp / "backups";
    test::create_sample_db(db, 300);
    auto v = make_vault(dir);
    const auto m = v.backup(db);
    ASSERT_TRUE(m) << m.error().message;

    const repository_layout layout{dir};
    const auto files = pages_detail::index_files(layout.index());
    ASSERT_TRUE(files);
    ASSERT_EQ(files.value().size(), 1U);
    const auto old_index = files.value().front();
    std::ifstream in(old_index, std::ios::binary);
    const std::string raw((std::istreambuf_iterator<char>(in)), {});
    in.close();
    auto packs = parse_index(std::as_bytes(std::span(raw)), old_index.string());
    ASSERT_TRUE(packs) << packs.error().message;
    pack_entry* first = nullptr;
    pack_entry* second = nullptr;
    std::string pack_name;
    for (auto& p : packs.value()) {
        for (std::size_t i = 0; i + 1 < p.entries.size() && first == nullptr; ++i) {
            auto& a = p.entries[i];
            auto& b = p.entries[i + 1];
            if (a.frame_offset == b.frame_offset && a.digest != b.digest) {
                first = &a;
                second = &b;
                pack_name = p.pack.hex();
            }
        }
    }
    ASSERT_NE(first, nullptr) << "no frame holds two different pages";
    std::swap(first->offset_in_frame, second->offset_in_frame);
    const auto rewritten = encode_index(packs.value());
    ASSERT_TRUE(pages_detail::store_content_file(layout.index(), ".idx", rewritten));
    fs::remove(old_index);

    const std::string named = expect_restore_refused_and_live_unchanged(
        v, db, m.value().id, {m.value().id, pack_name, "does not match its SHA-256"});
    EXPECT_TRUE(named.find(first->digest.short_hex()) != std::string::npos ||
                named.find(second->digest.short_hex()) != std::string::npos)
        << "neither swapped page is named: " << named;
}

// Restore's byte copy of a live database SQLite cannot open is no image of whole pages: it is
// kept as a plain file, exactly, and the restore goes through.
TEST(PageRepository, ASafetyCopyOfADamagedDatabaseIsKeptAsAPlainFile) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 500, "delete");
    auto v = make_vault(tmp / "backups");
    const auto m = v.backup(db);
    ASSERT_TRUE(m) << m.error().message;
    const auto wanted = dump_rows(db);
    fs::resize_file(db, 5000);  // truncated mid-page: SQLite cannot open it
    std::ifstream in(db, std::ios::binary);
    const std::string damaged((std::istreambuf_iterator<char>(in)), {});
    restore_options opts;
    opts.id = m.value().id;
    opts.replace_damaged = true;
    const auto done = v.restore(db, opts);
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(dump_rows(db), wanted);
    EXPECT_FALSE(done.value().safety.pages);
    EXPECT_EQ(done.value().safety.file, done.value().safety.id + ".db");
    std::ifstream kept(tmp / "backups" / done.value().safety.file, std::ios::binary);
    EXPECT_EQ(std::string((std::istreambuf_iterator<char>(kept)), {}), damaged);
}

// Damage to each kind of object: open() fails with a message naming the snapshot and the
// object, and the other backups (a plain one here) still open.
class PageRepositoryDamage : public ::testing::Test {
  protected:
    void SetUp() override {
        test::create_sample_db(db, 2000);
        ASSERT_TRUE(plain.backup(db));
        const auto m = v.backup(db);
        ASSERT_TRUE(m) << m.error().message;
        id = m.value().id;
    }
    void expect_open_fails(errc code, const std::vector<std::string>& words) {
        const auto opened = v.storage.open(id);
        ASSERT_FALSE(opened);
        EXPECT_TRUE(opened.error().is(code)) << opened.error().message;
        expect_mentions(opened.error(), words);
        const auto listed = v.list();
        ASSERT_TRUE(listed);
        for (const auto& b : listed.value().backups) {
            if (b.id != id) {
                EXPECT_EQ(rows_of_backup(v, b.id), dump_rows(db)) << b.id;
            }
        }
    }
    fs::path only(const std::string& folder) {
        auto all = files_in(dir / "pages" / folder);
        EXPECT_EQ(all.size(), 1U) << folder;
        return all.empty() ? fs::path{} : all.front();
    }

    test::temp_dir tmp;
    fs::path db = tmp / "app.db";
    fs::path dir = tmp / "backups";
    page_vault plain = make_vault(dir, {.write_pages = false});
    page_vault v = make_vault(dir);
    std::string id;
};

TEST_F(PageRepositoryDamage, ABitFlipInAPackNamesTheSnapshotAndThePack) {
    const auto pack = only("packs");
    flip_byte(pack, 100);
    expect_open_fails(errc::checksum_mismatch, {id, pack.filename().string()});
}

TEST_F(PageRepositoryDamage, ATruncatedPackNamesTheSnapshotAndThePack) {
    const auto pack = only("packs");
    fs::resize_file(pack, fs::file_size(pack) / 2);
    expect_open_fails(errc::checksum_mismatch, {id, pack.filename().string(), "truncated"});
}

TEST_F(PageRepositoryDamage, AMissingPackNamesTheSnapshotAndThePack) {
    const auto pack = only("packs");
    fs::remove(pack);
    expect_open_fails(errc::not_found, {id, pack.filename().string(), "missing"});
}

TEST_F(PageRepositoryDamage, ACorruptedIndexIsNamed) {
    const auto index = only("index");
    flip_byte(index, 20);
    expect_open_fails(errc::checksum_mismatch, {index.filename().string(), "damaged"});
}

TEST_F(PageRepositoryDamage, ACorruptedPageListNamesTheSnapshotAndTheList) {
    const auto list = only("lists");
    flip_byte(list, 30);
    expect_open_fails(errc::checksum_mismatch, {id, list.filename().string()});
}

TEST_F(PageRepositoryDamage, ACorruptedSnapshotObjectNamesTheSnapshot) {
    flip_byte(dir / (id + ".pages"), 12);
    expect_open_fails(errc::checksum_mismatch, {id, id + ".pages", "damaged"});
}

TEST(PageRepository, AConfigOfAFutureVersionIsRefused) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 200);
    auto v = make_vault(tmp / "backups");
    const auto m = v.backup(db);
    ASSERT_TRUE(m) << m.error().message;
    const auto config = tmp / "backups" / "pages" / "config.json";
    auto j = nlohmann::json::parse(std::ifstream(config));
    j["version"] = 2;
    j["config_checksum"]["hex"] = pages_detail::config_self_checksum(j).hex;
    fs::remove(config);
    std::ofstream(config) << j.dump(2);
    const auto again = v.backup(db);
    ASSERT_FALSE(again);
    EXPECT_TRUE(again.error().is(errc::unsupported)) << again.error().message;
    expect_mentions(again.error(), {"upgrade dbsafe", "config.json"});
    EXPECT_FALSE(v.storage.open(m.value().id));
    EXPECT_FALSE(page_repository::configured_format(tmp / "backups"));
}

TEST(PageRepository, InitChoosesTheDefaultOnceAndKeepsIt) {
    test::temp_dir tmp;
    const auto dir = tmp / "backups";
    EXPECT_EQ(page_repository::configured_format(dir).value(), std::nullopt);
    ASSERT_TRUE(page_repository::init(dir, location_format::pages));
    ASSERT_TRUE(page_repository::init(dir, location_format::pages)) << "idempotent";
    EXPECT_EQ(page_repository::configured_format(dir).value(), location_format::pages);
    const auto other = page_repository::init(dir, location_format::files);
    ASSERT_FALSE(other);
    expect_mentions(other.error(), {"pages"});
    // A repository created by a page backup has no default yet: init chooses it.
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 100);
    auto v = make_vault(tmp / "other");
    ASSERT_TRUE(v.backup(db));
    EXPECT_EQ(page_repository::configured_format(tmp / "other").value(), std::nullopt);
    ASSERT_TRUE(page_repository::init(tmp / "other", location_format::files));
    EXPECT_EQ(page_repository::configured_format(tmp / "other").value(), location_format::files);
}

TEST(PageRepository, AGarbageCollectionHoldingTheLockMakesABackupWaitThenFail) {
    test::temp_dir tmp;
    const auto db = tmp / "app.db";
    test::create_sample_db(db, 100);
    auto v = make_vault(tmp / "backups", {.lock_timeout = std::chrono::milliseconds(50)});
    ASSERT_TRUE(v.backup(db));
    auto held = repository_lock::acquire(tmp / "backups" / "pages", repository_lock_mode::exclusive,
                                         std::chrono::milliseconds(0));
    ASSERT_TRUE(held);
    const auto blocked = v.backup(db);
    ASSERT_FALSE(blocked);
    EXPECT_TRUE(blocked.error().is(errc::busy_timeout)) << blocked.error().message;
    expect_mentions(blocked.error(), {"garbage collection"});
    EXPECT_EQ(v.list().value().backups.size(), 1U);
    EXPECT_TRUE(v.list().value().leftovers.empty());
    held.value().release();
    EXPECT_TRUE(v.backup(db));
}

// The follower's view of the staged file is used only when it is the final file: a page
// changed behind it (after it hashed it) is caught and the final file scanned again; page 1,
// which the backup API rewrites last, is always taken from the final file.
class PageFollower : public ::testing::Test {
  protected:
    void SetUp() override {
        test::create_sample_db(tmp / "src.db", 300, "delete");
        std::ifstream in(tmp / "src.db", std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        image = ss.str();
        page_size = 4096;
        ASSERT_EQ(image.size() % page_size, 0U);
        ASSERT_TRUE(repository_layout{tmp / "d"}.create());
    }
    // Streams `image` into the staged file, lets `change` alter it once the follower has
    // read it all, and returns what finish() made of the final file.
    pages_detail::followed_pages follow(const std::function<void(std::string&)>& change) {
        const auto staged = tmp / "staged.db";
        std::ofstream(staged, std::ios::binary).close();
        pages_detail::page_follower f(
            staged, pages_detail::page_store(repository_layout{tmp / "d"}.packs(), {},
                                             repository_layout{tmp / "d"}.index()));
        f.start();
        {
            std::ofstream out(staged, std::ios::binary);
            out.write(image.data(), static_cast<std::streamsize>(image.size()));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::string final_image = image;
        change(final_image);
        {
            std::ofstream out(staged, std::ios::binary | std::ios::trunc);
            out.write(final_image.data(), static_cast<std::streamsize>(final_image.size()));
        }
        xxh3_128_hasher h;
        h.update(std::as_bytes(std::span(final_image)));
        auto followed = f.finish(h.finish());
        EXPECT_TRUE(followed && followed.value());
        expected.clear();
        for (std::size_t at = 0; at < final_image.size(); at += page_size) {
            expected.push_back(
                sha256_of(std::as_bytes(std::span(final_image).subspan(at, page_size))).value());
        }
        if (!followed || !followed.value()) return pages_detail::followed_pages{};
        return std::move(*followed.value());
    }
    test::temp_dir tmp;
    std::string image;
    std::size_t page_size = 0;
    std::vector<page_digest> expected;
};

TEST_F(PageFollower, UsesItsStreamedViewWhenOnlyPageOneChanged) {
    const auto got = follow([](std::string& f) { f[100] ^= 1; });
    EXPECT_TRUE(got.streamed);
    EXPECT_EQ(got.pages.all().value(), expected);
}

TEST_F(PageFollower, ScansTheFinalFileWhenAPageChangedBehindIt) {
    const auto got = follow([&](std::string& f) { f[3 * page_size + 10] ^= 1; });
    EXPECT_FALSE(got.streamed);
    EXPECT_EQ(got.pages.all().value(), expected);
}

// The page store asked through the Bloom filter (an incremental backup with the change cache):
// pages the repository holds are not stored again, new ones are, and a "maybe" the index
// files do not confirm is stored: the filter can cost a pass over the index, never a page.
class PageStoreFilter : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_TRUE(layout.create()); }

    static std::vector<std::byte> page_of(std::uint64_t n) {
        std::vector<std::byte> p(4096);
        for (std::size_t i = 0; i < p.size(); i += 8) {
            const std::uint64_t v = n * 0x9e3779b97f4a7c15ULL + i;
            std::memcpy(p.data() + i, &v, 8);
        }
        return p;
    }
    // Adds pages `from`..`to` (numbered as pages `first`.. of a database), then flushes;
    // returns the store (its index file written into the repository).
    pages_detail::page_store add_pages(pages_detail::page_store store, std::uint64_t from,
                                       std::uint64_t to) {
        for (std::uint64_t n = from; n < to; ++n) {
            const auto p = page_of(n);
            EXPECT_TRUE(store.add(n - from + 1, p, sha256_of(p).value()));
        }
        EXPECT_TRUE(store.flush());
        if (store.packs_written() > 0) {
            EXPECT_TRUE(store.store_index_file(layout.index()));
        }
        return store;
    }
    pages_detail::page_store filtered_store(pages_detail::digest_filter filter,
                                            pages_detail::page_store_settings settings = {}) {
        pages_detail::page_store s(layout.packs(), settings, layout.index(), std::move(filter));
        s.use_filter();
        return s;
    }
    pages_detail::digest_filter filter_of_index() {
        std::vector<damaged_index_file> damaged;
        auto f = pages_detail::digest_filter::of_index(layout.index(), &damaged);
        EXPECT_TRUE(f && damaged.empty());
        return std::move(f).value();
    }
    // Every digest the repository's index files list, and how many entries they hold.
    std::pair<std::size_t, std::size_t> index_counts() {
        auto index = load_page_index(layout.index());
        EXPECT_TRUE(index);
        std::size_t unique = 0;
        const auto& pages = index.value().pages;
        for (std::size_t i = 0; i < pages.size(); ++i) {
            if (i == 0 || pages[i].digest != pages[i - 1].digest) ++unique;
        }
        return {unique, pages.size()};
    }
    test::temp_dir tmp;
    repository_layout layout{tmp / "d"};
};

TEST_F(PageStoreFilter, HeldPagesTheIndexListsAreNotStoredAgainAndNewOnesAre) {
    add_pages(pages_detail::page_store(layout.packs(), {}, layout.index()), 0, 200);
    // 100 old pages (all "maybe", held, found by the pass) and 150 new ones.
    const auto second = add_pages(filtered_store(filter_of_index()), 100, 350);
    EXPECT_EQ(second.pages_new(), 150U);
    EXPECT_GE(second.pages_held(), 100U);
    EXPECT_LT(second.pages_held(), 110U) << "a filter of 10 bits per page says maybe to ~1 %";
    EXPECT_EQ(second.pages_held_found(), 100U);
    EXPECT_TRUE(second.filtered()) << "fewer than 256 held: no reason to go exact";
    EXPECT_EQ(index_counts(), (std::pair<std::size_t, std::size_t>{350, 350}));
}

TEST_F(PageStoreFilter, AMaybeTheIndexDoesNotConfirmIsStored) {
    add_pages(pages_detail::page_store(layout.packs(), {}, layout.index()), 0, 200);
    // A filter with room for 64 digests holding 2000: it says "maybe" to nearly everything.
    pages_detail::digest_filter saturated(0);
    for (std::uint64_t n = 0; n < 2000; ++n) saturated.insert(sha256_of(page_of(n + 5000)).value());
    const auto second = add_pages(filtered_store(std::move(saturated)), 1000, 1100);
    EXPECT_EQ(second.pages_new(), 100U);
    EXPECT_GT(second.pages_held(), 90U);
    EXPECT_EQ(second.pages_held_found(), 0U);
    EXPECT_EQ(index_counts(), (std::pair<std::size_t, std::size_t>{300, 300}));
}

// A store given every digest (no change cache can be used) or no filter stays exact: asked to
// use a filter it does not have, it would take every page for new.
TEST_F(PageStoreFilter, AStoreWithTheDigestsOrWithoutAFilterStaysExact) {
    add_pages(pages_detail::page_store(layout.packs(), {}, layout.index()), 0, 100);
    pages_detail::page_store with_digests(layout.packs(), {}, layout.index(), filter_of_index(),
                                          load_stored_digests(layout.index()).value());
    with_digests.use_filter();
    EXPECT_FALSE(with_digests.filtered());
    const auto exact = add_pages(std::move(with_digests), 50, 150);
    EXPECT_EQ(exact.pages_new(), 50U);
    EXPECT_EQ(exact.pages_held(), 0U);
    pages_detail::page_store no_filter(layout.packs(), {}, layout.index());
    no_filter.use_filter();
    EXPECT_FALSE(no_filter.filtered());
    const auto lazily = add_pages(std::move(no_filter), 0, 160);
    EXPECT_EQ(lazily.pages_new(), 10U);
}

TEST_F(PageStoreFilter, ManyHeldPagesTheRepositoryHoldsTurnTheStoreExact) {
    add_pages(pages_detail::page_store(layout.packs(), {}, layout.index()), 0, 600);
    // Held pages are settled every 1 MiB (256 pages): the first pass finds them all stored.
    auto store = filtered_store(filter_of_index(), {.pending_bytes = std::uint64_t{1} << 20});
    for (std::uint64_t n = 0; n < 600; ++n) {
        const auto p = page_of(n);
        ASSERT_TRUE(store.add(n + 1, p, sha256_of(p).value()));
    }
    EXPECT_FALSE(store.filtered()) << "a pass found 256 held pages all stored";
    for (std::uint64_t n = 600; n < 650; ++n) {
        const auto p = page_of(n);
        ASSERT_TRUE(store.add(n + 1, p, sha256_of(p).value()));
    }
    ASSERT_TRUE(store.flush());
    EXPECT_EQ(store.pages_new(), 50U);
    EXPECT_EQ(store.pages_held_found(), store.pages_held());
}

// The entries of the packs a backup writes wait in an unlinked scratch file until the commit
// writes the index file from it: the file is the one built in memory (same bytes, same name),
// lists every page once, and nothing but packs is left beside them.
TEST_F(PageStoreFilter, TheIndexFileWrittenFromItsScratchFileListsEveryPackAndPage) {
    pages_detail::page_store store(layout.packs(), {.pack_bytes = std::uint64_t{1} << 16},
                                   layout.index());
    for (std::uint64_t n = 0; n < 3000; ++n) {
        const auto p = page_of(n);
        ASSERT_TRUE(store.add(n + 1, p, sha256_of(p).value()));
    }
    ASSERT_TRUE(store.flush());
    ASSERT_GT(store.packs_written(), 20U);
    const auto in_memory = store.index_file();
    ASSERT_TRUE(in_memory) << in_memory.error().message;
    const auto stored = store.store_index_file(layout.index());
    ASSERT_TRUE(stored) << stored.error().message;
    EXPECT_EQ(stored.value().digest, sha256_of(in_memory.value()).value());
    const auto packs = parse_index(in_memory.value(), "index");
    ASSERT_TRUE(packs) << packs.error().message;
    EXPECT_EQ(packs.value().size(), store.packs_written());
    EXPECT_EQ(index_counts(), (std::pair<std::size_t, std::size_t>{3000, 3000}));
    for (const auto& e : fs::directory_iterator(layout.packs())) {
        EXPECT_EQ(e.path().extension(), ".pack") << e.path();
    }
}

TEST_F(PageStoreFilter,
       AnIndexFileDamagedDuringTheBackupCountsForNothingAndItsPagesAreStoredAgain) {
    add_pages(pages_detail::page_store(layout.packs(), {}, layout.index()), 0, 100);
    auto store = filtered_store(filter_of_index());
    for (const auto& e : fs::directory_iterator(layout.index())) flip_byte(e.path(), 40);
    for (std::uint64_t n = 0; n < 100; ++n) {
        const auto p = page_of(n);
        ASSERT_TRUE(store.add(n + 1, p, sha256_of(p).value()));
    }
    ASSERT_TRUE(store.flush());
    EXPECT_EQ(store.pages_new(), 100U);
    EXPECT_EQ(store.pages_held_found(), 0U);
}

}  // namespace
