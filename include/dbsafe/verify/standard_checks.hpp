// standard_checks: the verifier chosen at run time (the CLI's --verify full|quick|none and
// --require-table), and the vault's default: checksum and quick or integrity check (side by
// side), then the required tables. Both levels (database_verifier.hpp): restore applies its
// check() to the database it restored. A backup it checked at creation carries that check in
// its manifest (`verified`), and is later re-hashed instead of re-checked: the trust chain.
#pragma once

#include <future>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/verify/checksum_matches.hpp"
#include "dbsafe/verify/database_verifier.hpp"
#include "dbsafe/verify/required_tables.hpp"
#include "dbsafe/verify/sqlite_checks.hpp"
#include "dbsafe/verify/verifier.hpp"

namespace dbsafe {

enum class check_level { full, quick, none };

// Whether SQLite's check recorded at a backup's creation stands for the check of `level`
// now: integrity_check stands for both, quick_check only for quick_check; anything else
// (no record, a check this version does not know) for neither.
inline bool creation_check_covers(const std::optional<verification_record>& verified,
                                  check_level level) {
    if (!verified || level == check_level::none) return false;
    if (verified->checks == "integrity_check") return true;
    return verified->checks == "quick_check" && level == check_level::quick;
}

struct standard_checks {
    check_level level = check_level::full;
    std::vector<std::string> required{};  // table names
    bool checksum = true;
    bool memory_mapped = false;  // SQLite's checks read through a memory map (sqlite_checks.hpp)
    // Run SQLite's check even on a backup that passed it at creation (the CLI's --full-check):
    // off, such a backup is re-hashed only (relies_on_creation_check).
    bool full_check = false;

    // The trust chain. A backup whose manifest records that it passed SQLite's check at this
    // level (or a stronger one) when it was taken, and whose xxh3-128 checksum still matches,
    // holds the very bytes that were checked: running the check again would find what it found
    // then. So verify() re-hashes it (512 MiB: 0.1 s) and relies on the recorded check, where
    // integrity_check takes 1.5 s. The checksum detects accidental damage (bit rot, truncation,
    // a torn copy), not a deliberate edit of data and manifest together: that is the SHA-256
    // seal's job, checked on its own (docs/reliability.md). Without a record (an older dbsafe,
    // --verify none, a safety backup, a lone file) the check runs.
    [[nodiscard]] bool relies_on_creation_check(const backup_file& f) const {
        return !full_check && checksum && f.description != nullptr && !f.checksum_fresh &&
               creation_check_covers(f.description->verified, level);
    }

    // What verify() checked, for the manifest of a backup that passed (verifier.hpp).
    [[nodiscard]] std::string attested_checks() const {
        switch (level) {
            case check_level::full:
                return "integrity_check";
            case check_level::quick:
                return "quick_check";
            case check_level::none:
                break;
        }
        return {};
    }

    // The connection level: the SQLite check of `level`, then the required tables. After a
    // restore (check_subject::restored_live, restored_file) the SQLite check is quick_check
    // whatever the level: the backup was checked at `level` moments before, the copy into the
    // database is SQLite's own page copy, and quick_check still catches a copy gone wrong (a
    // bad page, a broken b-tree), where integrity_check would double the time of a large
    // restore (1 GiB: 6.3 s against 1.3 s, measured) only to re-check index contents the
    // backup already proved. `none` keeps that quick_check too: the check decides whether the
    // live database goes back to its safety backup, and a restore never skips it.
    [[nodiscard]] result<void> check(const checked_database& d) const {
        DBSAFE_TRYV(sqlite_check(d));
        return required_tables{required}.check(d);
    }

    // A fresh snapshot: verify() hashes nothing (the checksum is fresh) and runs check() on
    // the opened copy, which check() on the source's read transaction does as well
    // (verifier.hpp).
    [[nodiscard]] static constexpr bool needs_file_of_fresh_snapshot() noexcept { return false; }

    [[nodiscard]] result<void> verify(const backup_file& f) const {
        // Restore's byte copy of a database SQLite could not open (file_copy_method) is no
        // SQLite image by design: its checksum, proving the copy faithful, is all to check.
        if (f.description != nullptr && f.description->method == file_copy_method) {
            return checksum_matches{}.verify(f);
        }
        if (relies_on_creation_check(f)) {
            DBSAFE_TRYV(checksum_matches{}.verify(f));
            if (required.empty()) return success();
            return standard_checks{.level = check_level::none, .required = required}.check_opened(
                f);
        }
        // The checksum (I/O and xxh3) runs on a second thread while SQLite walks the b-trees:
        // on 512 MiB that hides its 0.1 s behind the check. A mismatch is reported first: it
        // says more precisely what happened to the file.
        const bool hash = checksum && f.description != nullptr && !f.checksum_fresh;
        std::future<result<void>> hashed;
        if (hash && level != check_level::none) {
            // Progress is the check's alone: one callback, never called from two threads.
            backup_file unreported = f;
            unreported.on_progress = {};
            try {
                hashed = std::async(std::launch::async, [unreported = std::move(unreported)] {
                    return checksum_matches{}.verify(unreported);
                });
            } catch (const std::system_error&) {  // no thread to be had: hash inline instead
                DBSAFE_TRYV(checksum_matches{}.verify(f));
            }
        }
        result<void> checked = success();
        if (hash && level == check_level::none) checked = checksum_matches{}.verify(f);
        if (checked && (level != check_level::none || !required.empty())) {
            checked = check_opened(f);
        }
        if (hashed.valid()) DBSAFE_TRYV(hashed.get());
        return checked;
    }

    [[nodiscard]] result<void> sqlite_check(const checked_database& d) const {
        const bool restored =
            d.subject == check_subject::restored_live || d.subject == check_subject::restored_file;
        // A restored file proven to hold the verified backup's bytes: quick_check would only
        // re-read, through SQLite, what the backup's check already judged.
        if (restored && d.same_image_as_backup) return success();
        if (restored || level == check_level::quick) {
            return quick_check{.max_messages = 10, .memory_mapped = memory_mapped}.check(d);
        }
        if (level == check_level::full) {
            return integrity_check{.max_messages = 10, .memory_mapped = memory_mapped}.check(d);
        }
        return success();
    }

    // The backup opened read-only for check(): one connection serves the SQLite check and the
    // tables. A file SQLite cannot open fails the SQLite check, as that check says it.
    [[nodiscard]] result<void> check_opened(const backup_file& f) const {
        auto db = detail::open_database(f.path, detail::open_mode::read_only, 5000,
                                        detail::fast_read_vfs());
        if (!db) {
            if (db.error().is(errc::not_found) || level == check_level::none) {
                return db.as_failure();
            }
            return detail::check_pragma_failed(
                level == check_level::full ? "integrity_check" : "quick_check", f.path.string(),
                subject_of(f), db.error().message);
        }
        return check(checked_database{db.value().get(), f.path.string(), subject_of(f),
                                      f.description, false, f.on_progress});
    }
};

}  // namespace dbsafe
