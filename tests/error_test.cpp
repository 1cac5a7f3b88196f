// error.hpp, backup_id.hpp, backup_kind.hpp, detail/iso8601.hpp: codes compare with the
// portable std::errc conditions, a failed .value() throws with the actionable message, the TRY
// macros propagate, ids are safe file names that sort by time.
#include "dbsafe/error.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "dbsafe/backup_id.hpp"
#include "dbsafe/backup_kind.hpp"
#include "dbsafe/detail/iso8601.hpp"
#include "dbsafe/storage/backup_file_names.hpp"

namespace {

using namespace dbsafe;
using namespace std::chrono_literals;

TEST(Error, EveryCodeHasAMessageInTheDbsafeCategory) {
    for (int v = 0; v <= static_cast<int>(errc::recovery_failed); ++v) {
        const std::error_code ec = make_error_code(static_cast<errc>(v));
        EXPECT_STREQ(ec.category().name(), "dbsafe");
        EXPECT_NE(ec.message(), "unknown dbsafe error") << v;
    }
}

TEST(Error, DbsafeCodesMatchPortableConditions) {
    EXPECT_EQ(make_error_code(errc::busy_timeout), std::errc::resource_unavailable_try_again);
    EXPECT_EQ(make_error_code(errc::insufficient_space), std::errc::no_space_on_device);
    EXPECT_EQ(make_error_code(errc::not_found), std::errc::no_such_file_or_directory);
    EXPECT_EQ(make_error_code(errc::cancelled), std::errc::operation_canceled);
    EXPECT_EQ(make_error_code(errc::symlink_refused), std::errc::too_many_symbolic_link_levels);
    EXPECT_EQ(make_error_code(errc::invalid_id), std::errc::invalid_argument);
    EXPECT_NE(make_error_code(errc::checksum_mismatch), std::errc::io_error);
}

TEST(Error, SqliteCodesIncludingExtendedOnesMatchPortableConditions) {
    EXPECT_EQ(sqlite_error(SQLITE_FULL, "x").code, std::errc::no_space_on_device);
    EXPECT_EQ(sqlite_error(SQLITE_BUSY_SNAPSHOT, "x").code,
              std::errc::resource_unavailable_try_again);
    EXPECT_EQ(sqlite_error(SQLITE_LOCKED, "x").code, std::errc::resource_unavailable_try_again);
    EXPECT_EQ(sqlite_error(SQLITE_IOERR_WRITE, "x").code, std::errc::io_error);
    EXPECT_EQ(sqlite_error(SQLITE_CANTOPEN, "x").code, std::errc::no_such_file_or_directory);
    EXPECT_STREQ(sqlite_error(SQLITE_FULL, "x").code.category().name(), "sqlite");
    EXPECT_FALSE(sqlite_error(SQLITE_BUSY, "x").is(errc::busy_timeout));
}

TEST(Error, IsComparesOnlyDbsafeCodes) {
    const error e(errc::not_found, "database /x/y.db does not exist");
    EXPECT_TRUE(e.is(errc::not_found));
    EXPECT_FALSE(e.is(errc::not_a_database));
    EXPECT_FALSE(errno_error(ENOENT, "m").is(errc::not_found));
}

TEST(Error, WithinAddsContextToTheMessageAndKeepsCodePathAndTheOriginalAsCause) {
    const error locked(errc::busy_timeout, "database /x/app.db stayed locked for 5000 ms",
                       "/x/app.db");
    const error wrapped =
        locked.within("cannot restore into /x/app.db", " (the live database was not changed)");
    EXPECT_EQ(wrapped.message,
              "cannot restore into /x/app.db: database /x/app.db stayed locked for 5000 ms "
              "(the live database was not changed)");
    EXPECT_TRUE(wrapped.is(errc::busy_timeout));
    EXPECT_EQ(wrapped.path, "/x/app.db");
    ASSERT_TRUE(wrapped.cause);
    EXPECT_EQ(wrapped.cause->message, locked.message);
    EXPECT_EQ(wrapped.cause->code, locked.code);
    // No context: only the suffix is added.
    EXPECT_EQ(locked.within("", "; retry").message, locked.message + "; retry");
}

TEST(Error, BecauseKeepsAnotherCodesFailureAsTheCause) {
    const error damaged(errc::verification_failed, "quick_check failed on live.db: ...");
    const error failed = error(errc::restore_failed,
                               "restore failed: quick_check failed on "
                               "live.db: ...; recovered")
                             .because(damaged);
    EXPECT_TRUE(failed.is(errc::restore_failed));
    ASSERT_TRUE(failed.cause);
    EXPECT_TRUE(failed.cause->is(errc::verification_failed));
    EXPECT_EQ(failed.cause->message, damaged.message);
    const error named(errc::restore_failed, "m");
    EXPECT_TRUE(named.because(damaged).cause);  // from an lvalue too
    EXPECT_FALSE(named.cause);                  // which stays as it was
}

TEST(Error, CausedByLooksAtTheErrorAndEveryCause) {
    const error root = sqlite_error(SQLITE_FULL, "database or disk is full");
    const error mid = error(errc::recovery_failed, "recovery failed").because(root);
    const error top = error(errc::restore_failed, "restore failed").because(mid);
    EXPECT_TRUE(top.caused_by(errc::restore_failed));
    EXPECT_TRUE(top.caused_by(errc::recovery_failed));
    EXPECT_TRUE(top.caused_by(std::error_code(SQLITE_FULL, sqlite_category())));
    EXPECT_FALSE(top.caused_by(errc::missing_tables));
    EXPECT_FALSE(mid.caused_by(errc::restore_failed));  // causes only, never the wrapper
    EXPECT_FALSE(error().caused_by(errc::not_found));
}

TEST(Error, CopiesShareTheirCauseInsteadOfCopyingIt) {
    const error top =
        error(errc::restore_failed, "t").because(error(errc::missing_tables, "lacks t"));
    const error copy = top;  // NOLINT(performance-unnecessary-copy-initialization)
    EXPECT_EQ(copy.cause.get(), top.cause.get());
    const result<int> r = copy;
    EXPECT_TRUE(r.error().caused_by(errc::missing_tables));
}

TEST(Error, ValueOfFailedResultThrowsSystemErrorCarryingTheMessage) {
    const result<int> r = error(errc::insufficient_space, "not enough free space in /backups");
    try {
        (void)r.value();
        FAIL() << "value() of a failed result did not throw";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), make_error_code(errc::insufficient_space));
        EXPECT_NE(std::string(e.what()).find("not enough free space in /backups"),
                  std::string::npos)
            << e.what();
    }
}

result<int> half(int v) {
    if (v % 2 != 0) return error(errc::invalid_argument, std::to_string(v) + " is odd");
    return v / 2;
}

result<int> quarter(int v) {
    DBSAFE_TRY(const int h, half(v));
    DBSAFE_TRY(const int q, half(h));
    return q;
}

result<void> check_even(int v) {
    DBSAFE_TRYV(half(v));
    return success();
}

TEST(Error, TryMacrosPropagateTheFirstFailureAndBindValues) {
    ASSERT_TRUE(quarter(8));
    EXPECT_EQ(quarter(8).value(), 2);
    const auto r = quarter(6);  // 6 -> 3 -> odd
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().is(errc::invalid_argument));
    EXPECT_EQ(r.error().message, "3 is odd");
    EXPECT_TRUE(check_even(4));
    EXPECT_EQ(check_even(5).error().message, "5 is odd");
}

TEST(BackupId, ValidIdsPass) {
    EXPECT_TRUE(validate_id("20261125T114458.123Z-manual-3fa9c1"));
    EXPECT_TRUE(validate_id("20261125T114458.123Z-pre_migration-000000"));
    EXPECT_TRUE(validate_id_chars("a"));
    EXPECT_TRUE(validate_id_chars("x.db"));
}

// Issue 13.1: an id is exactly what make_backup_id() generates, so a file that merely uses the
// allowed characters (the live app.db, x.json) is never taken for a backup's file.
TEST(BackupId, OnlyTheGeneratedPatternIsAnId) {
    for (const std::string& bad : std::vector<std::string>{
             "a", "x.db", "app", "20261125T114458.123Z-manual-3fa9c",
             "20261125T114458.123Z-manual-3FA9C1", "20261125T114458.123Z-hourly-3fa9c1",
             "20261325T114458.123Z-manual-3fa9c1", "20261125T114458.123Z-manual-3fa9c1x",
             "20261125T114458Z-manual-3fa9c1"}) {
        const auto r = validate_id(bad);
        ASSERT_FALSE(r) << "accepted '" << bad << "'";
        EXPECT_TRUE(r.error().is(errc::invalid_id));
    }
    const auto parts = parse_generated_id("20261125T114458.123Z-safety-3fa9c1");
    ASSERT_TRUE(parts);
    EXPECT_EQ(parts->kind, backup_kind::safety);
    EXPECT_EQ(detail::format_iso8601(parts->created_at), "2026-11-25T11:44:58.123Z");
    EXPECT_FALSE(detail::parse_backup_file_name("app.db"));
    EXPECT_FALSE(detail::parse_backup_file_name("20261125T114458.123Z-safety-3fa9c1.txt"));
    EXPECT_FALSE(detail::parse_backup_file_name("20261125T114458.123Z-safety-3fa9c1.json-wal"));
    for (const char* suffix : {".db", ".db.zst", ".json", ".db.tmp", ".json.tmp", ".db.zst.tmp",
                               ".db.tmp-wal", ".db-shm", ".unpacked-12-3.tmp"}) {
        EXPECT_TRUE(detail::parse_backup_file_name(
            std::string("20261125T114458.123Z-safety-3fa9c1") + suffix))
            << suffix;
    }
}

TEST(BackupId, RejectsEverythingThatCouldNameAnotherPath) {
    for (const std::string& bad : std::vector<std::string>{
             "", "../x", "..", ".", "a/b", "/etc/passwd", "a..b", ".hidden", "-rf", "a b", "a\\b",
             "x\ny", std::string("a\0b", 3), std::string(129, 'a'), "caf\xc3\xa9"}) {
        const auto r = validate_id(bad);
        ASSERT_FALSE(r) << "accepted '" << bad << "'";
        EXPECT_TRUE(r.error().is(errc::invalid_id));
        EXPECT_NE(r.error().message.find("vault.list()"), std::string::npos) << r.error().message;
    }
}

TEST(BackupId, GeneratedIdsAreValidCarryKindAndSortByTime) {
    const auto t0 = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + 11h + 44min;
    std::vector<std::string> ids;
    for (int i = 0; i < 50; ++i) {
        ids.push_back(make_backup_id(t0 + std::chrono::milliseconds(i * 37), backup_kind::manual));
        ASSERT_TRUE(validate_id(ids.back())) << ids.back();
    }
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
    EXPECT_EQ(ids.front().rfind("20261125T114400.000Z-manual-", 0), 0U) << ids.front();
    EXPECT_NE(make_backup_id(t0, backup_kind::pre_migration).find("-pre_migration-"),
              std::string::npos);
    // Across days and years, text order is time order too.
    EXPECT_LT(make_backup_id(t0, backup_kind::safety),
              make_backup_id(t0 + 24h * 400, backup_kind::manual));
}

TEST(BackupId, IdsOfTheSameMillisecondDiffer) {
    const auto t = std::chrono::system_clock::now();
    std::set<std::string> ids;
    for (int i = 0; i < 20; ++i) ids.insert(make_backup_id(t, backup_kind::manual));
    // 24 random bits each: a repeat among 20 has probability < 2e-5.
    EXPECT_EQ(ids.size(), 20U);
}

TEST(BackupKind, RoundTripsThroughText) {
    for (const auto k : {backup_kind::manual, backup_kind::pre_migration, backup_kind::safety}) {
        EXPECT_EQ(parse_backup_kind(to_string(k)), k);
    }
    EXPECT_EQ(parse_backup_kind("pre-migration"), backup_kind::pre_migration);
    EXPECT_FALSE(parse_backup_kind("daily"));
    EXPECT_FALSE(parse_backup_kind(""));
}

TEST(Iso8601, FormatsAndParsesUtcMilliseconds) {
    const auto t =
        std::chrono::sys_days{std::chrono::year{2026} / 2 / 28} + 23h + 59min + 58s + 123ms;
    EXPECT_EQ(detail::format_iso8601(t), "2026-02-28T23:59:58.123Z");
    EXPECT_EQ(detail::parse_iso8601("2026-02-28T23:59:58.123Z"), t);
    EXPECT_EQ(detail::parse_iso8601("2026-02-28T23:59:58.123+00:00"), t);
    EXPECT_EQ(detail::parse_iso8601("2026-02-28"),
              std::chrono::sys_days{std::chrono::year{2026} / 2 / 28});
}

TEST(Iso8601, RejectsOffsetsAndNonsenseInsteadOfGuessing) {
    for (const char* bad : {"2026-02-28T23:59:58+02:00", "2026-02-30", "2026-13-01", "yesterday",
                            "2026-02-28T25:00", "2026-02-28T10:00:00.Z", ""}) {
        EXPECT_FALSE(detail::parse_iso8601(bad)) << bad;
    }
}

// A bit flip in a manifest's year once overflowed system_clock's nanoseconds (UBSan found it):
// years system_clock cannot hold are rejected, not wrapped around.
TEST(Iso8601, RejectsYearsOutsideWhatSystemClockCanHold) {
    for (const char* bad : {"3026-11-25T11:44:58Z", "9999-12-31", "1026-11-25", "0000-01-01"}) {
        EXPECT_FALSE(detail::parse_iso8601(bad)) << bad;
    }
    EXPECT_TRUE(detail::parse_iso8601("2200-12-31T23:59:59.999Z"));
    EXPECT_TRUE(detail::parse_iso8601("1900-01-01"));
}

}  // namespace
