// migration_record: the mark a guarded migration leaves in the backup directory while it runs,
// so that a crash (kill -9, power loss) at any moment is repaired by rolling the database back
// to its pre-migration backup, never left half-migrated.
//
//   <dir>/<pre-migration backup id>.migration     (JSON, see docs/format.md)
//
// Lifecycle (migration_guard.hpp):
//   open():     pre-migration backup -> record published (locked, fsynced, directory fsynced)
//               -> only then may the migration change the database;
//   commit():   record removed (directory fsynced) -> only then is success reported;
//   rollback(): backup restored -> record removed. A failed rollback keeps the record.
// A crash therefore leaves a record exactly when the database may hold anything but the old
// or the fully committed state. A crash between the migration's COMMIT and the record's
// removal leaves a fully migrated database with a record: recovery rolls it back to the old
// state (the migration is lost, but it was never reported as done, and no state is mixed).
//
// The migrating process holds an exclusive flock() on the record for the guard's lifetime,
// taken on the temporary file before it gets its final name, so no other process ever sees an
// unlocked record of a live migration. recover() acts only on a record it can lock itself (and
// still finds under its name after locking): a running migration in another process — or in
// this one — is never "recovered" under it. flock locks belong to the open file, so the kernel
// releases them when the process dies, whatever way it dies.
#pragma once

#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "dbsafe/database_ref.hpp"
#include "dbsafe/detail/iso8601.hpp"
#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/restore.hpp"
#include "dbsafe/storage/backup_file_names.hpp"
#include "dbsafe/storage/file_operations.hpp"
#include "dbsafe/storage/local_directory.hpp"
#include "dbsafe/vault_like.hpp"

namespace dbsafe {

struct migration_record {
    std::string database;      // canonical absolute path of the migrated database
    std::string backup_id;     // its pre-migration backup
    std::string journal_mode;  // the database's journal mode before the migration
    long long pid = 0;         // the migrating process
    std::string host;
    std::chrono::system_clock::time_point started_at{};
};

// What vault.recover() did.
struct recovery_report {
    bool rolled_back = false;             // false: no interrupted migration of this database
    migration_record record{};            // the interrupted migration (when rolled_back)
    std::filesystem::path record_path{};  // removed after the rollback
    restore_report restore{};             // the rollback (its safety backup holds what was there)
};

namespace detail {

inline nlohmann::json to_json(const migration_record& r) {
    return {{"format", "dbsafe-migration-record"},   {"format_version", 1},
            {"database", to_valid_utf8(r.database)}, {"backup_id", r.backup_id},
            {"journal_mode", r.journal_mode},        {"pid", r.pid},
            {"host", to_valid_utf8(r.host)},         {"started_at", format_iso8601(r.started_at)}};
}

inline result<migration_record> parse_migration_record(const std::string& text,
                                                       const std::filesystem::path& origin) {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    const auto bad = [&](const std::string& why) {
        return error(errc::invalid_manifest,
                     "migration record " + origin.string() + " is unreadable (" + why +
                         "); it marks a migration that may have been interrupted: check the "
                         "database it names, restore its pre-migration backup if needed, then "
                         "remove the record");
    };
    if (!j.is_object() || j.value("format", "") != "dbsafe-migration-record") {
        return bad("not a dbsafe migration record");
    }
    migration_record r;
    try {
        r.database = j.at("database").get<std::string>();
        r.backup_id = j.at("backup_id").get<std::string>();
        r.journal_mode = j.value("journal_mode", "");
        r.pid = j.value("pid", 0LL);
        r.host = j.value("host", "");
        const auto started = parse_iso8601(j.value("started_at", ""));
        if (started) r.started_at = *started;
    } catch (const nlohmann::json::exception& e) {
        return bad(e.what());
    }
    if (r.database.empty() || validate_id(r.backup_id).has_error()) {
        return bad("no database path or no valid backup id");
    }
    return r;
}

// The name records use for a database: absolute, symlinks resolved, so `app.db`, `./app.db`
// and a symlink to it are the same database. Empty for an in-memory or temporary database,
// which no record can describe (it does not outlive its process anyway).
inline std::string canonical_database(const database_ref& db) {
    const std::filesystem::path file = db.file();
    if (file.empty()) return {};
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(std::filesystem::absolute(file, ec), ec);
    return ec ? std::filesystem::absolute(file).lexically_normal().string() : canonical.string();
}

inline std::string host_name() {
    char buf[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
    return buf;
}

inline std::string describe(const migration_record& r) {
    return "the migration of " + r.database + " started by pid " + std::to_string(r.pid) + " on " +
           r.host + " at " + format_iso8601(r.started_at) + " (pre-migration backup " +
           r.backup_id + ")";
}

// A record file this process holds the lock of; closing it releases the lock.
struct held_record {
    std::filesystem::path path;
    unique_fd fd;
    migration_record record;
};

// Takes the lock on `fd` without waiting. false: another open file holds it.
inline result<bool> try_lock(int fd, const std::filesystem::path& p) {
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        if (errno == EWOULDBLOCK) return false;
        return os_error(errno, "cannot lock migration record", p);
    }
    return true;
}

// Publishes `r` as `<dir>/<backup id>.migration`, locked by the returned handle. Like
// publish_small_file (tmp, fsync, rename without replacing, directory fsync), except that the
// lock is taken on the temporary file before it gets its name and is kept.
inline result<held_record> publish_migration_record(const std::filesystem::path& dir,
                                                    const migration_record& r) {
    held_record held;
    held.path = dir / (r.backup_id + migration_record_suffix);
    held.record = r;
    auto tmp = held.path;
    tmp += ".tmp";
    DBSAFE_TRY(held.fd, create_exclusive(tmp));
    const std::string text = to_json(r).dump(2) + "\n";
    // Nobody else can know the temporary name yet, so the lock cannot be taken.
    result<void> written = success();
    if (auto locked = try_lock(held.fd.get(), tmp); !locked || !locked.value()) {
        written = locked ? error(errc::io_error, "cannot lock " + tmp.string()) : locked.error();
    }
    if (written) written = write_all(held.fd.get(), std::as_bytes(std::span(text)), tmp);
    if (written) written = sync_fd(held.fd.get(), tmp);
    if (written) written = rename_no_replace(tmp, held.path);
    if (!written) {
        (void)remove_file(tmp);
        return written.as_failure();
    }
    DBSAFE_TRYV(sync_directory(dir));
    return held;
}

// Removes a held record durably, then releases its lock.
inline result<void> remove_migration_record(held_record& held) {
    DBSAFE_TRYV(remove_file(held.path));
    DBSAFE_TRYV(sync_directory(held.path.parent_path()));
    held.fd.reset();
    return success();
}

// The records in `dir` that name `database`, oldest first (ids start with their time). Records
// of other databases are not read further; an unreadable record is an error, since it may be
// this database's.
inline result<std::vector<std::filesystem::path>> records_of(const std::filesystem::path& dir,
                                                             const std::string& database) {
    std::vector<std::filesystem::path> out;
    std::error_code ec;
    if (database.empty() || !std::filesystem::is_directory(dir, ec)) return out;
    std::vector<std::filesystem::path> candidates;
    for (auto it = std::filesystem::directory_iterator(dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        // Only regular files: a FIFO or device planted under this name must not hang us, and
        // dbsafe never writes a record through a symlink.
        std::error_code type_ec;
        if (it->path().filename().string().ends_with(migration_record_suffix) &&
            it->symlink_status(type_ec).type() == std::filesystem::file_type::regular) {
            candidates.push_back(it->path());
        }
    }
    if (ec) {
        return errno_error(ec.value(), "cannot list backup directory " + dir.string() +
                                           " to look for interrupted migrations: " + ec.message());
    }
    std::sort(candidates.begin(), candidates.end());
    for (const auto& p : candidates) {
        auto text = file_ops::read_small_file(p, max_manifest_bytes);
        if (!text) {
            if (text.error().is(errc::not_found)) continue;  // removed meanwhile: finished
            return text.as_failure();
        }
        DBSAFE_TRY(const auto r, parse_migration_record(text.value(), p));
        if (r.database == database) out.push_back(p);
    }
    return out;
}

// Locks the record at `p`. nullopt: it vanished (its migration or recovery finished). An error
// (errc::migration_running) when another process — or another guard of this one — holds it.
inline result<std::optional<held_record>> lock_record(const std::filesystem::path& p) {
    auto opened = open_for_read(p);
    if (!opened) {
        if (opened.error().is(errc::not_found)) return std::optional<held_record>();
        return opened.as_failure();
    }
    held_record held;
    held.path = p;
    held.fd = std::move(opened).value();
    DBSAFE_TRY(auto text, file_ops::read_small_file(p, max_manifest_bytes));
    DBSAFE_TRY(held.record, parse_migration_record(text, p));
    DBSAFE_TRY(const bool locked, try_lock(held.fd.get(), p));
    if (!locked) {
        return error(errc::migration_running,
                     describe(held.record) + " is still running (its record " + p.string() +
                         " is locked by a live process: the migration itself, or a recovery of "
                         "it); wait for it to finish, then retry");
    }
    // Locked, but is it still the record? Its owner may have removed it after we opened it.
    struct stat by_fd {
    }, by_name{};
    if (::fstat(held.fd.get(), &by_fd) != 0) return os_error(errno, "cannot stat", p);
    if (::lstat(p.c_str(), &by_name) != 0 || by_fd.st_ino != by_name.st_ino ||
        by_fd.st_dev != by_name.st_dev) {
        return std::optional<held_record>();
    }
    return std::optional<held_record>(std::move(held));
}

// Locks every record of `database` in `dir` (oldest first): the caller then owns them.
inline result<std::vector<held_record>> lock_records(const std::filesystem::path& dir,
                                                     const std::string& database) {
    std::vector<held_record> out;
    DBSAFE_TRY(const auto paths, records_of(dir, database));
    for (const auto& p : paths) {
        DBSAFE_TRY(auto held, lock_record(p));
        if (held) out.push_back(std::move(*held));
    }
    return out;
}

// The journal mode a database is in ("wal", "delete", ...), read on the caller's connection
// or on a short read-only one that waits `busy_timeout` for locks, like the rest.
inline result<std::string> journal_mode_of(const database_ref& db,
                                           std::chrono::milliseconds busy_timeout) {
    if (db.connection() != nullptr) return query_text(db.connection(), "PRAGMA journal_mode");
    DBSAFE_TRY(auto c, open_database(db.file(), open_mode::read_only,
                                     static_cast<int>(busy_timeout.count())));
    const polling_busy_wait prompt_waits(c.get(), busy_timeout);  // as restore's (restore.hpp)
    return query_text(c.get(), "PRAGMA journal_mode");
}

// Puts back the journal mode the database had before the migration (restore keeps the mode
// the database is in, which the migration may have changed).
inline result<void> return_to_journal_mode(const database_ref& db, const std::string& mode,
                                           std::chrono::milliseconds busy_timeout) {
    if (db.connection() != nullptr) return return_to_journal_mode(db.connection(), mode);
    DBSAFE_TRY(auto c, open_database(db.file(), open_mode::read_write,
                                     static_cast<int>(busy_timeout.count())));
    const polling_busy_wait prompt_waits(c.get(), busy_timeout);  // as restore's (restore.hpp)
    return return_to_journal_mode(c.get(), mode);
}

// Rolls `db` back to the pre-migration backup of each interrupted migration recorded for it
// (normally one; with several, the oldest backup wins and the others are cleared with it).
template <vault_like Vault>
result<recovery_report> run_recover(Vault& vault, const database_ref& db) {
    recovery_report report;
    const auto dir = std::filesystem::path(vault.storage.location());
    DBSAFE_TRY(auto held, lock_records(dir, canonical_database(db)));
    if (held.empty()) return report;
    const migration_record& r = held.front().record;
    restore_options o;
    o.id = r.backup_id;
    o.allow_newer_schema = true;  // the backup is the state before the migration: older or equal
    auto restored = run_restore(vault, db, o);
    if (!restored) {
        // About the record that stays (its path), so a program can tell this failure apart.
        error failed = restored.error().within(
            describe(r) + " was interrupted, and rolling it back failed",
            ". The database may be half-migrated; the record " + held.front().path.string() +
                " is kept. Fix the cause and recover again (vault.recover()), or restore another "
                "backup (vault.restore(), which clears the record once it succeeded)");
        failed.path = held.front().path.string();
        return failed;
    }
    report.restore = std::move(restored).value();
    if (auto mode = return_to_journal_mode(db, r.journal_mode, vault.options.busy_timeout); !mode) {
        return mode.error().within(describe(r) + " was rolled back (safety backup " +
                                   report.restore.safety.id + "), but");
    }
    report.rolled_back = true;
    report.record = r;
    report.record_path = held.front().path;
    for (auto& h : held) DBSAFE_TRYV(remove_migration_record(h));
    return report;
}

// vault.restore: the database will hold a whole backup, which ends any interrupted migration
// of it as surely as a rollback does, even when its pre-migration backup is gone. So restore
// holds the records of `live` while it runs (a live migration blocks it) and removes them once
// it succeeded; a failed restore leaves them (its recovery put the previous state back).
template <vault_like Vault>
result<restore_report> run_restore_clearing_records(Vault& vault, const database_ref& live,
                                                    const restore_options& opts) {
    auto locked =
        lock_records(std::filesystem::path(vault.storage.location()), canonical_database(live));
    if (!locked) {
        return locked.error().within(
            "not restoring backup " + opts.id + " into " +
                (live.file().empty() ? std::string("the database") : live.file().string()),
            " (the live database was not changed)");
    }
    auto held = std::move(locked).value();
    DBSAFE_TRY(auto report, run_restore(vault, live, opts));
    for (auto& h : held) {
        if (auto removed = remove_migration_record(h); !removed) {
            return removed.error().within(
                "backup " + report.restored.id + " was restored into " + report.database +
                    ", but the record of an interrupted migration could not be removed",
                "; remove " + h.path.string() +
                    " yourself, or a later recovery (vault.recover()) would roll the database "
                    "back");
        }
    }
    return report;
}

}  // namespace detail
}  // namespace dbsafe
