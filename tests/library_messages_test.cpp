// The library speaks to programs, not to shell users: the messages of real failures say what to
// do in library terms (vault.restore(), restore_options::replace_damaged, ...) and never name a
// `dbsafe` command or a command-line option, which a program linking the library does not have.
// The tool adds those (tools/dbsafe/cli_hint.hpp; tests/cli_errors_test.cpp checks it does).
#include <gtest/gtest.h>

#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
using dbsafe::test::db_handle;
using dbsafe::test::temp_dir;
namespace fs = std::filesystem;

vault make_vault(const fs::path& backups) {
    return vault{.storage = local_directory{backups},
                 .snapshot = {},
                 .verification = standard_checks{.level = check_level::quick, .required = {}},
                 .retention = {},
                 .options = {}};
}

// "dbsafe restore", "`dbsafe list", "--replace-damaged": the words of the command line.
void expect_library_terms(const std::string& what, const std::string& message) {
    static const std::regex command(
        "dbsafe (backup|list|verify|restore|migrate|recover|prune|health)\\b");
    static const std::regex option("(^|[^-])--[a-z]");
    EXPECT_FALSE(std::regex_search(message, command)) << what << ": " << message;
    EXPECT_FALSE(std::regex_search(message, option)) << what << ": " << message;
}

void expect_library_terms(const std::string& what, const error& e) {
    for (const error* c = &e; c != nullptr; c = c->cause.get())
        expect_library_terms(what, c->message);
}

void damage_header(const fs::path& db) {
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.write("garbage, not an SQLite header", 29);
}

TEST(LibraryMessages, RealFailuresOfRestoreSayWhatToDoInLibraryTerms) {
    temp_dir dir;
    const auto live = dir / "app.db";
    test::create_sample_db(live, 50);
    test::exec(live, "PRAGMA user_version = 2");
    auto v = make_vault(dir / "bk");
    const auto id = v.backup(live).value().id;
    std::vector<std::pair<std::string, error>> seen;
    const auto failed = [&](const std::string& what, const auto& r) {
        ASSERT_FALSE(r) << what;
        seen.emplace_back(what, r.error());
    };

    test::exec(live, "PRAGMA user_version = 1");
    failed("newer schema", v.restore(live, {.id = id}));
    EXPECT_TRUE(seen.back().second.is(errc::schema_newer)) << seen.back().second.message;
    test::exec(live, "PRAGMA user_version = 2");

    failed("unknown id", v.restore(live, {.id = "20260101T000000.000Z-manual-abcdef"}));
    failed("malformed id", v.restore(live, {.id = "no such id"}));
    failed("no id", v.restore(live, {}));
    failed("restore_to over a file", v.restore_to(live, {.id = id}));

    {
        const auto other = dir / "other.db";
        test::create_sample_db(other, 10);
        failed("another database", v.restore(other, {.id = id}));
        EXPECT_TRUE(seen.back().second.is(errc::other_database));
    }
    {
        v.options.busy_timeout = std::chrono::milliseconds(100);
        db_handle writer(live);
        test::exec(writer, "BEGIN EXCLUSIVE");
        failed("locked", v.restore(live, {.id = id}));
        EXPECT_TRUE(seen.back().second.is(errc::busy_timeout)) << seen.back().second.message;
        test::exec(writer, "ROLLBACK");
        v.options.busy_timeout = std::chrono::seconds(10);
    }
    {
        auto guard = migration_guard::open(v, live);
        ASSERT_TRUE(guard) << guard.error().message;
        failed("migration running", v.restore(live, {.id = id}));
        EXPECT_TRUE(seen.back().second.is(errc::migration_running)) << seen.back().second.message;
        ASSERT_TRUE(guard.value().commit());
    }
    {
        restore_options o{.id = id};
        o.after_restore = [&](sqlite3*) -> result<void> {
            const auto listed = v.list().value();
            for (const auto& m : listed.backups) {
                if (m.kind == backup_kind::safety) fs::remove(m.data_path);
            }
            return error(errc::verification_failed, "the application's check failed");
        };
        failed("failed recovery", v.restore(live, o));
        EXPECT_TRUE(seen.back().second.caused_by(errc::recovery_failed))
            << seen.back().second.message;
    }
    {
        const auto damaged = dir / "damaged.db";
        fs::copy_file(live, damaged);
        damage_header(damaged);
        restore_options o{.id = id};
        o.allow_other_database = true;
        failed("damaged live database", v.restore(damaged, o));
        EXPECT_TRUE(seen.back().second.is(errc::not_a_database)) << seen.back().second.message;
        EXPECT_NE(seen.back().second.message.find("restore_options::replace_damaged"),
                  std::string::npos);
    }
    for (const auto& [what, e] : seen) expect_library_terms(what, e);
}

TEST(LibraryMessages, MigrationRollbackAndRecoveryFailuresSayWhatToDoInLibraryTerms) {
    temp_dir dir;
    const auto live = dir / "app.db";
    test::create_sample_db(live, 50);
    auto v = make_vault(dir / "bk");
    {
        auto guard = migration_guard::open(v, live).value();
        test::exec(live, "CREATE TABLE half_done(x)");
        fs::remove(guard.backup().data_path);  // the way back is gone
        const auto rolled = guard.rollback();
        ASSERT_FALSE(rolled);
        expect_library_terms("failed rollback", rolled.error());
        EXPECT_NE(rolled.error().message.find("vault.recover()"), std::string::npos)
            << rolled.error().message;
    }
    // The record stays: recovery fails the same way, and says what to do.
    const auto recovered = v.recover(live);
    ASSERT_FALSE(recovered);
    expect_library_terms("failed recovery of a migration", recovered.error());
    EXPECT_NE(recovered.error().message.find("vault.recover()"), std::string::npos);
    EXPECT_TRUE(recovered.error().path.ends_with(migration_record_suffix))
        << recovered.error().path;
}

TEST(LibraryMessages, HealthFindingsAndBackupOfADamagedSourceSpeakLibraryTerms) {
    temp_dir dir;
    const auto live = dir / "app.db";
    test::create_sample_db(live, 300, "delete");
    auto v = make_vault(dir / "bk");
    const auto empty = v.health({});
    ASSERT_TRUE(empty) << empty.error().message;
    ASSERT_FALSE(empty.value().findings.empty());
    for (const auto& f : empty.value().findings) expect_library_terms("health", f.message);

    ASSERT_TRUE(v.backup(live));
    const auto budget = v.health({.max_total_size = 1});
    ASSERT_TRUE(budget) << budget.error().message;
    ASSERT_FALSE(budget.value().findings.empty());
    for (const auto& f : budget.value().findings) expect_library_terms("health", f.message);

    const auto page_size = test::query_int(live, "PRAGMA page_size");
    {  // garbage over the b-tree header of page 3: a damaged source
        std::fstream f(live, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(2 * page_size));
        const std::string junk(16, '\xee');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    auto checked = make_vault(dir / "bk");
    checked.verification.level = check_level::full;
    const auto taken = checked.backup(live);
    ASSERT_FALSE(taken);
    EXPECT_TRUE(taken.error().is(errc::verification_failed)) << taken.error().message;
    expect_library_terms("backup of a damaged source", taken.error());
}

}  // namespace
