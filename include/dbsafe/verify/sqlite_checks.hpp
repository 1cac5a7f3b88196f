// quick_check and integrity_check: SQLite's own consistency checks, on an open database
// (database_verifier.hpp) or on a backup file opened read-only. quick_check is O(N) and skips
// index-content checks (1 GiB: 1.3 s vs 6.3 s for integrity_check, measured); use it where the
// check runs often or the database is large.
//
// memory_mapped: the check reads the file through a memory map (PRAGMA mmap_size; SQLite maps
// at most 2 GiB, the rest is read as usual) instead of one pread per page, which halves its
// time (512 MiB: quick_check 0.8 s -> 0.4 s, integrity_check 1.2 s -> 0.8 s, measured). The
// price: a read error of the disk, or another process truncating the file during the check,
// arrives as SIGBUS instead of an error result. So it is off in the library (a host
// application's signals are its own) and on in the `dbsafe` tool, which turns SIGBUS into an
// error message and exit code.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbsafe/detail/fast_copy_vfs.hpp"
#include "dbsafe/detail/read_meter.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/progress.hpp"
#include "dbsafe/verify/database_verifier.hpp"
#include "dbsafe/verify/verifier.hpp"

namespace dbsafe {

namespace detail {

// The error of a failed SQLite check, saying what the damage means for what was checked.
inline error check_pragma_failed(std::string_view pragma, const std::string& name,
                                 check_subject subject, const std::string& why) {
    if (subject == check_subject::restored_live || subject == check_subject::restored_file) {
        return error(errc::verification_failed,
                     std::string(pragma) + " failed on " + name + " after the copy: " + why);
    }
    // fresh_snapshot: the vault is checking the snapshot it just took (a page-for-page copy of
    // the source), so the damage is the source database's, and a new backup would copy it again.
    return error(errc::verification_failed,
                 std::string(pragma) + " failed on " + name + ": " + why +
                     (subject == check_subject::fresh_snapshot
                          ? " (this is the snapshot just taken, a page-for-page copy of the "
                            "SOURCE database: the source database is damaged, and a new "
                            "backup would copy the same damage. Confirm with `sqlite3 DB "
                            "'PRAGMA integrity_check'`, then restore the database from a "
                            "previous backup (a restore keeps the damaged file as a safety "
                            "backup) or salvage it with sqlite3's `.recover`)"
                          : " (this backup is damaged: do not restore it; take a new backup "
                            "or use an older one)"));
}

// Measures a check on a connection that reads through dbsafe's reading shim (detail/
// fast_copy_vfs.hpp: the backup files dbsafe opens, a backup's source): the pages read, for
// d.on_progress, and no read-ahead meanwhile (it doubled a check's time). On another
// connection (the caller's own) the check is only announced and, when it passes, finished:
// nothing in between is claimed that was not measured.
class check_meter {
  public:
    explicit check_meter(const checked_database& d) : d_(d) {}
    check_meter(const check_meter&) = delete;
    check_meter& operator=(const check_meter&) = delete;
    ~check_meter() {
        if (attached_) detach_read_meter(d_.db);
    }

    // Announces the check and reads the file's size for the total. A failed read here fails
    // the check like any of its own reads: an I/O error is never passed over.
    result<void> start() {
        announce_phase(d_.on_progress, progress_phase::check);
        if (!d_.on_progress && !reads_through_shim(d_.db)) return success();  // nothing to do
        DBSAFE_TRY(const auto pages, query_int(d_.db, "PRAGMA page_count"));
        DBSAFE_TRY(const auto free_pages, query_int(d_.db, "PRAGMA freelist_count"));
        DBSAFE_TRY(const auto page_size, query_int(d_.db, "PRAGMA page_size"));
        if (pages < free_pages || pages < 0 || page_size <= 0) return success();  // no total
        meter_.emplace(static_cast<std::uint64_t>(pages),
                       static_cast<std::uint64_t>(pages - free_pages),
                       static_cast<std::uint64_t>(page_size), d_.on_progress);
        attached_ = attach_read_meter(d_.db, &*meter_);
        return success();
    }

    // The check passed: 100 %.
    void passed() {
        if (attached_) detach_read_meter(d_.db);
        attached_ = false;
        if (meter_) {
            meter_->finished();
        } else if (d_.on_progress) {
            d_.on_progress(progress{
                .pages_done = 1, .pages_total = 1, .page_size = 0, .phase = progress_phase::check});
        }
    }

  private:
    const checked_database& d_;
    std::optional<read_meter> meter_;
    bool attached_ = false;
};

// The one place that maps a check's reads: the connection may be the caller's (restore into
// their connection), so its own mmap_size is put back afterwards.
inline result<void> run_check_pragma(const checked_database& d, std::string_view pragma,
                                     int max_messages, bool memory_mapped) {
    const auto fail = [&](const std::string& why) {
        return check_pragma_failed(pragma, d.name, d.subject, why);
    };
    check_meter meter(d);
    if (auto started = meter.start(); !started) return fail(started.error().message);
    std::int64_t mapped_before = 0;
    if (memory_mapped) {
        auto before = query_int(d.db, "PRAGMA mmap_size");
        if (!before) return fail(before.error().message);
        mapped_before = before.value();
        if (auto mapped = exec(d.db, map_whole_file); !mapped) return fail(mapped.error().message);
    }
    const std::string sql =
        "PRAGMA " + std::string(pragma) + "(" + std::to_string(max_messages) + ")";
    auto rows = query_column(d.db, sql, static_cast<std::size_t>(max_messages));
    if (memory_mapped) (void)exec(d.db, "PRAGMA mmap_size=" + std::to_string(mapped_before));
    if (!rows) return fail(rows.error().message);
    if (rows.value().size() == 1 && rows.value().front() == "ok") {
        meter.passed();
        return success();
    }
    const std::string joined = join_messages(rows.value());
    return fail(joined.empty() ? "no result" : joined);
}

// The file level: the same check on the backup opened read-only. A file SQLite cannot open
// fails the check too; only a missing one keeps its not_found.
inline result<void> run_check_pragma(const backup_file& f, std::string_view pragma,
                                     int max_messages, bool memory_mapped) {
    auto db = open_database(f.path, open_mode::read_only, 5000, fast_read_vfs());
    if (!db) {
        if (db.error().is(errc::not_found)) return db.as_failure();
        return check_pragma_failed(pragma, f.path.string(), subject_of(f), db.error().message);
    }
    return run_check_pragma(checked_database{db.value().get(), f.path.string(), subject_of(f),
                                             f.description, false, f.on_progress},
                            pragma, max_messages, memory_mapped);
}

}  // namespace detail

struct quick_check {
    int max_messages = 10;       // SQLite's first messages are kept in the error
    bool memory_mapped = false;  // see the top of this header
    [[nodiscard]] result<void> check(const checked_database& d) const {
        return detail::run_check_pragma(d, "quick_check", max_messages, memory_mapped);
    }
    [[nodiscard]] result<void> verify(const backup_file& f) const {
        return detail::run_check_pragma(f, "quick_check", max_messages, memory_mapped);
    }
    // check() judges a fresh snapshot as verify() would (verifier.hpp).
    [[nodiscard]] static constexpr bool needs_file_of_fresh_snapshot() noexcept { return false; }
};

struct integrity_check {
    int max_messages = 10;
    bool memory_mapped = false;
    [[nodiscard]] result<void> check(const checked_database& d) const {
        return detail::run_check_pragma(d, "integrity_check", max_messages, memory_mapped);
    }
    [[nodiscard]] result<void> verify(const backup_file& f) const {
        return detail::run_check_pragma(f, "integrity_check", max_messages, memory_mapped);
    }
    // check() judges a fresh snapshot as verify() would (verifier.hpp).
    [[nodiscard]] static constexpr bool needs_file_of_fresh_snapshot() noexcept { return false; }
};

}  // namespace dbsafe
