// Bad inputs: each must give a clear error (a code, and a message that names the file) and
// change nothing, or, where the input is legal but unusual, work exactly. Cases already pinned
// elsewhere are not repeated here (see docs/reliability.md for the whole table):
// symlinks planted at staging/final/manifest names (local_directory_test), manifests whose id
// or file leaves the directory (local_directory_test, verify_test), flipped b-tree bytes and
// truncation of a backup (verify_test), newer schema and other page size on restore
// (restore_test, schema_version_test).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dbsafe/dbsafe.hpp>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "support/backup_checks.hpp"
#include "support/child_process.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace dbsafe::test {
namespace {

namespace fs = std::filesystem;

// Every file under `root` with its size and content hash: "nothing changed" made checkable.
std::map<std::string, std::string> snapshot_tree(const fs::path& root) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (e.is_symlink()) {
            out[e.path().string()] = "-> " + fs::read_symlink(e.path()).string();
        } else if (e.is_regular_file()) {
            auto h = hash_file(e.path());
            out[e.path().string()] = h ? h.value().hex : "unreadable";
        }
    }
    return out;
}

void write_file(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

void flip_byte(const fs::path& p, std::uint64_t offset, unsigned char mask) {
    std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ static_cast<char>(mask)));
}

struct BadSource : ::testing::Test {
    temp_dir tmp;
    fs::path dir = tmp / "backups";
    vault v{.storage = local_directory{dir}};

    // Backing up `source` fails with `code`, names the file, and changes no file anywhere.
    void expect_refused(const fs::path& source, errc code) {
        const auto before = snapshot_tree(tmp.path());
        auto made = v.backup(source);
        ASSERT_FALSE(made) << "a backup of " << source << " was published";
        EXPECT_TRUE(made.error().is(code))
            << made.error().code.message() << ": " << made.error().message;
        EXPECT_NE(made.error().message.find(source.string()), std::string::npos)
            << made.error().message;
        fs::remove(dir);  // the vault may create the (empty) backup directory; nothing else
        EXPECT_EQ(snapshot_tree(tmp.path()), before);
    }
};

TEST_F(BadSource, TextFileIsNotADatabase) {
    write_file(tmp / "notes.txt", "these are not the pages you are looking for\n");
    expect_refused(tmp / "notes.txt", errc::not_a_database);
}

TEST_F(BadSource, FlippedMagicStringIsNotADatabase) {
    create_sample_db(tmp / "live.db", 50, "delete");
    flip_byte(tmp / "live.db", 3, 0x01);
    expect_refused(tmp / "live.db", errc::not_a_database);
}

TEST_F(BadSource, FlippedPageSizeFieldIsNotADatabase) {
    create_sample_db(tmp / "live.db", 50, "delete");
    flip_byte(tmp / "live.db", 16, 0x40);  // 4096 -> an invalid page size
    expect_refused(tmp / "live.db", errc::not_a_database);
}

TEST_F(BadSource, DamagedBtreePageIsCaughtBeforePublishing) {
    create_sample_db(tmp / "live.db", 300, "delete");
    // Page 3 onwards holds table b-trees; scribble over a cell area of one of them.
    for (std::uint64_t off = 4096 * 3 + 8; off < 4096 * 3 + 64; ++off) {
        flip_byte(tmp / "live.db", off, 0xff);
    }
    const auto before = snapshot_tree(tmp.path());
    auto made = v.backup(tmp / "live.db");
    ASSERT_FALSE(made) << "a backup of a damaged database was published";
    EXPECT_NE(made.error().message.find("live.db"), std::string::npos) << made.error().message;
    EXPECT_EQ(v.list().value().backups.size(), 0U);
    EXPECT_TRUE(v.list().value().leftovers.empty());
    fs::remove(dir);
    EXPECT_EQ(snapshot_tree(tmp.path()), before);
}

TEST_F(BadSource, TruncatedDatabaseIsNeverPublished) {
    create_sample_db(tmp / "live.db", 300, "delete");
    fs::resize_file(tmp / "live.db", fs::file_size(tmp / "live.db") / 2 + 100);
    const auto before = snapshot_tree(tmp.path());
    auto made = v.backup(tmp / "live.db");
    ASSERT_FALSE(made) << "a backup of a truncated database was published";
    EXPECT_NE(made.error().message.find("live.db"), std::string::npos) << made.error().message;
    fs::remove(dir);
    EXPECT_EQ(snapshot_tree(tmp.path()), before);
}

TEST_F(BadSource, EmptyFileIsBackedUpAsTheEmptyDatabaseSqliteSeesInIt) {
    // SQLite treats a 0-byte file as a valid, empty database; dbsafe does the same and says so
    // in the manifest (0 pages) rather than inventing an error.
    write_file(tmp / "empty.db", "");
    auto made = v.backup(tmp / "empty.db");
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(fs::file_size(tmp / "empty.db"), 0U) << "the empty source was written to";
    EXPECT_TRUE(v.verify(made.value().id));
}

TEST_F(BadSource, MissingFileIsNotFoundAndNothingIsCreated) {
    const auto before = snapshot_tree(tmp.path());
    auto made = v.backup(tmp / "typo.db");
    ASSERT_FALSE(made);
    EXPECT_TRUE(made.error().is(errc::not_found)) << made.error().message;
    EXPECT_FALSE(fs::exists(tmp / "typo.db")) << "dbsafe created the database it was to read";
    EXPECT_EQ(snapshot_tree(tmp.path()), before);
}

TEST_F(BadSource, PendingWalFramesOfACrashedWriterAreInTheBackup) {
    const auto db = tmp / "live.db";
    create_sample_db(db, 100, "wal");
    // A writer commits into the WAL and dies before any checkpoint: the frames are committed
    // but only in live.db-wal.
    const pid_t pid = ::fork();
    if (pid == 0) {
        sqlite3* c = nullptr;
        sqlite3_open(db.c_str(), &c);
        sqlite3_exec(c,
                     "PRAGMA wal_autocheckpoint=0; INSERT INTO customers(name) "
                     "VALUES ('only in the wal'); UPDATE counters SET value = 42",
                     nullptr, nullptr, nullptr);
        ::_exit(0);  // no sqlite3_close: no checkpoint, the -wal keeps the frames
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_GT(fs::file_size(fs::path(db.string() + "-wal")), 0U);
    auto made = v.backup(db);
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(dump_rows(made.value().data_path), dump_rows(db));
    EXPECT_EQ(query_int(made.value().data_path,
                        "SELECT count(*) FROM customers WHERE name = 'only in the wal'"),
              1);
    EXPECT_FALSE(fs::exists(made.value().data_path.string() + "-wal"))
        << "the backup needs no -wal of its own";
}

TEST_F(BadSource, PageSize65536IsCopiedExactly) {
    const auto db = tmp / "big-pages.db";
    {
        db_handle h(db);
        exec(h, "PRAGMA page_size=65536; CREATE TABLE seed(x)");  // the size sticks at creation
    }
    create_sample_db(db, 200, "delete");
    ASSERT_EQ(query_int(db, "PRAGMA page_size"), 65536);
    auto made = v.backup(db);
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(made.value().page_size, 65536);
    EXPECT_EQ(dump_rows(made.value().data_path), dump_rows(db));
    EXPECT_TRUE(v.verify(made.value().id));
}

TEST_F(BadSource, NonUtf8FileNamesWork) {
    // POSIX file names are bytes. Latin-1 "café" is not valid UTF-8, and JSON text must be.
    const fs::path odd_dir = tmp / std::string("r\xe9pertoire");
    fs::create_directory(odd_dir);
    const auto db = odd_dir / std::string("caf\xe9.db");
    create_sample_db(db, 50, "wal");
    vault odd{.storage = local_directory{odd_dir / std::string("sauvegard\xe9")}};
    auto made = odd.backup(db);
    ASSERT_TRUE(made) << made.error().message;
    EXPECT_EQ(dump_rows(made.value().data_path), dump_rows(db));
    EXPECT_TRUE(odd.verify(made.value().id));
    ASSERT_EQ(odd.list().value().backups.size(), 1U);
}

// --- the backup directory as input ---

struct BadBackupDir : ::testing::Test {
    temp_dir tmp;
    fs::path dir = tmp / "backups";
    vault v{.storage = local_directory{dir}};
    manifest m;

    void SetUp() override {
        create_sample_db(tmp / "live.db", 50, "wal");
        auto made = v.backup(tmp / "live.db");
        ASSERT_TRUE(made) << made.error().message;
        m = made.value();
    }
    fs::path manifest_file() const { return dir / (m.id + ".json"); }
};

TEST_F(BadBackupDir, SymlinkSwappedInForThePublishedDataFileIsRefused) {
    // An attacker replaces the backup with a symlink to another database after it was written.
    create_sample_db(tmp / "other.db", 10, "delete");
    fs::remove(m.data_path);
    fs::create_symlink(tmp / "other.db", m.data_path);
    const auto before = snapshot_tree(tmp.path());
    auto r = v.verify(m.id);
    ASSERT_FALSE(r);
    // invalid_manifest: the manifest's check of its data file (a regular file) refuses it first.
    EXPECT_TRUE(r.error().is(errc::symlink_refused) || r.error().is(errc::not_found) ||
                r.error().is(errc::invalid_manifest))
        << r.error().message;
    EXPECT_NE(r.error().message.find(m.data_path.string()), std::string::npos) << r.error().message;
    EXPECT_EQ(snapshot_tree(tmp.path()), before);
}

TEST_F(BadBackupDir, SymlinkedManifestIsNotABackup) {
    write_file(tmp / "elsewhere.json", slurp(manifest_file()));
    fs::remove(manifest_file());
    fs::create_symlink(tmp / "elsewhere.json", manifest_file());
    const auto listed = v.list();
    ASSERT_TRUE(listed);
    EXPECT_TRUE(listed.value().backups.empty()) << "a manifest was read through a symlink";
    ASSERT_FALSE(listed.value().damaged.empty());  // a damaged backup, never swept as debris
    EXPECT_FALSE(v.verify(m.id));
}

TEST_F(BadBackupDir, HugeManifestIsReportedNotRead) {
    std::string huge = slurp(manifest_file());
    huge.insert(huge.size() - 2, ",\"padding\":\"" + std::string(2u << 20, 'x') + "\"");
    write_file(manifest_file(), huge);
    const auto listed = v.list();
    ASSERT_TRUE(listed);
    EXPECT_TRUE(listed.value().backups.empty());
    ASSERT_EQ(listed.value().damaged.size(), 1U);  // a damaged backup, never swept as debris
    EXPECT_NE(listed.value().damaged[0].reason.find("limit"), std::string::npos)
        << listed.value().damaged[0].reason;
    auto r = v.verify(m.id);
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(errc::invalid_manifest)) << r.error().message;
}

TEST_F(BadBackupDir, DeeplyNestedManifestIsRejectedWithoutBlowingTheStack) {
    // 1 MiB of nesting is within the size limit; the parser and the JSON destructor must not
    // recurse once per level.
    const std::size_t depth = (max_manifest_bytes - 16) / 2;
    write_file(manifest_file(), std::string(depth, '[') + std::string(depth, ']'));
    auto r = v.verify(m.id);
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(errc::invalid_manifest)) << r.error().message;
}

TEST_F(BadBackupDir, EveryBitFlipInTheManifestIsCaughtOrHarmless) {
    // For each byte, its lowest bit flipped: either the manifest no longer parses (debris), or
    // verify fails, or the flip touched no field that verify relies on (id, file, checksum).
    const std::string original = slurp(manifest_file());
    const vault checksum_only{.storage = local_directory{dir},
                              .verification = standard_checks{.level = check_level::none}};
    int caught = 0, harmless = 0;
    for (std::size_t i = 0; i < original.size(); ++i) {
        for (const unsigned char mask : {0x01}) {
            std::string flipped = original;
            flipped[i] = static_cast<char>(flipped[i] ^ static_cast<char>(mask));
            write_file(manifest_file(), flipped);
            auto r = checksum_only.verify(m.id);
            if (!r) {
                ++caught;
                continue;
            }
            ++harmless;
            const manifest& seen = r.value();
            ASSERT_EQ(seen.id, m.id) << "flip at " << i << " changed the id unnoticed";
            ASSERT_EQ(seen.file, m.file) << "flip at " << i;
            ASSERT_EQ(seen.checksum, m.checksum) << "flip at " << i;
        }
    }
    write_file(manifest_file(), original);
    EXPECT_GT(caught, 0);
    EXPECT_TRUE(v.verify(m.id));
    RecordProperty("caught", caught);
    RecordProperty("harmless", harmless);
}

TEST_F(BadBackupDir, ReadOnlyDirectoryRefusesTheBackupAndSaysWhy) {
    // Tests often run as root, whom permissions do not stop: the backup then runs in a child
    // that drops to user `nobody` (65534), for whom a root-owned 0755 directory is read-only.
    fs::permissions(tmp.path(), fs::perms::owner_all | fs::perms::group_read |
                                    fs::perms::group_exec | fs::perms::others_read |
                                    fs::perms::others_exec);
    const auto db = tmp / "plain.db";  // rollback journal: a reader needs no -shm to create
    create_sample_db(db, 50, "delete");
    fs::permissions(db, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                            fs::perms::others_read);
    fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
    if (::geteuid() != 0) fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
    const auto before = snapshot_tree(dir);
    const auto report = tmp / "child.report";
    write_file(report, "");
    fs::permissions(report, fs::perms::all & ~(fs::perms::owner_exec | fs::perms::group_exec |
                                               fs::perms::others_exec));
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(2);
        vault child{.storage = local_directory{dir}};
        auto made = child.backup(db);
        std::ofstream(report, std::ios::in | std::ios::out)
            << (made ? std::string("published") : made.error().message);
        ::_exit(made ? 1 : 0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_NE(WEXITSTATUS(status), 2) << "cannot drop privileges to test permissions";
    const std::string message = slurp(report);
    EXPECT_EQ(WEXITSTATUS(status), 0) << message;
    EXPECT_NE(message.find(dir.string()), std::string::npos) << message;
    EXPECT_NE(message.find("ermission"), std::string::npos) << message;
    fs::permissions(dir, fs::perms::owner_all);
    EXPECT_EQ(snapshot_tree(dir), before);
}

}  // namespace
}  // namespace dbsafe::test
