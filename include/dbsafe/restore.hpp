// Restore: put a backup back into the live database without ever losing the live data.
//
// Steps (basic_vault::restore calls detail::run_restore); each of 1-4 stops with an error
// before the live database is touched:
//   1. open and verify the backup with the vault's verifier (checksum, SQLite checks, tables);
//   2. schema check with the vault's schema policy: a backup newer than the live database is
//      refused, since the application running on it would not understand it;
//   3. page size and journal mode: a backup whose page size differs from a WAL database's is
//      copied with the database out of WAL for the copy (see leave_wal_for_page_size); the
//      live database keeps its journal mode (return_to_journal_mode), and takes the backup's
//      page size and auto_vacuum, which are part of the content;
//   4. a `safety` backup of the live database (free-space guard included): the recovery
//      point, so a restore that goes wrong can always put the old content back. Checksummed,
//      not checked by SQLite: it must hold the live database exactly as it is, and refusing
//      to restore over a damaged database would refuse the very repair a restore is for;
//   5. copy the backup INTO the live connection with SQLite's backup API. The destination's
//      write transaction spans the whole copy, so SQLite's journal (rollback or WAL) makes it
//      atomic: a kill -9 at any moment leaves the old or the new content, other connections see
//      the new content after the commit (the backup API bumps the schema cookie), and the
//      application needs no restart;
//   6. check the live database: the vault's own verifier at the connection level
//      (verify/database_verifier.hpp; quick_check when it has none), the required tables, the
//      caller's hook (check_restored). When the live file, read back, holds exactly the
//      backup's image (verify/same_image.hpp), SQLite's checks of it are skipped (by
//      standard_checks, and the quick_check of a verifier without a connection level): the
//      bytes are the ones the backup's check judged. A user's own check still runs;
//   7. if 5 or 6 fails after the copy committed, copy the safety backup back the same way and
//      return errc::restore_failed carrying both the original failure and the recovery's
//      outcome: the caller is never left with a database that failed its checks.
// Restore has no stop_token, only progress: stopping between the copy's commit and its check
// would leave a database nobody checked, and stopping the recovery would leave the broken one.
//
// Known window: writes other connections commit between step 4 and step 5 are in neither the
// safety backup nor the restored database. Restoring is an operator's action; quiesce writers.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dbsafe/backup_kind.hpp"
#include "dbsafe/database_ref.hpp"
#include "dbsafe/detail/backup_steps.hpp"
#include "dbsafe/detail/fast_copy_vfs.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/progress.hpp"
#include "dbsafe/restore_file.hpp"
#include "dbsafe/schema/schema_version.hpp"
#include "dbsafe/source_identity.hpp"
#include "dbsafe/vault_like.hpp"
#include "dbsafe/verify/checksum_matches.hpp"
#include "dbsafe/verify/database_verifier.hpp"
#include "dbsafe/verify/required_tables.hpp"
#include "dbsafe/verify/same_image.hpp"
#include "dbsafe/verify/sqlite_checks.hpp"
#include "dbsafe/verify/verifier.hpp"

namespace dbsafe {

struct restore_options {
    std::string id{};                 // the backup to restore (see vault.list())
    bool allow_newer_schema = false;  // off: code breaks on newer tables; on for downgrades
    std::vector<std::string> required_tables{};  // the live database must have them afterwards
    // Extra check on the live connection after the copy (e.g. the application's own smoke
    // query). A failure triggers the automatic recovery from the safety backup.
    std::function<result<void>(sqlite3*)> after_restore{};
    // The safety backup's copy (phase safety_backup), then the pages copied into the live
    // database (phase copy_in): each starts with a report of 0 of 0 pages (it has begun, its
    // size is not known yet) and ends with pages_done == pages_total.
    progress_callback on_progress{};
    int pages_per_step = 1024;  // progress granularity; the copy stays one transaction
    // Only for a vault whose verifier has no connection-level check (checksum_matches alone, or
    // a verifier of your own with only verify()): the quick_check restore then runs on the
    // restored database reads through a memory map, about 3x faster, but a disk read error
    // arrives as SIGBUS (see verify/sqlite_checks.hpp). Otherwise the verifier's own
    // memory_mapped decides (standard_checks::memory_mapped, on in the `dbsafe` tool).
    bool memory_mapped_check = false;
    // A backup of another database (source_identity.hpp) is refused unless this is set: e.g.
    // the live database was moved or renamed since the backup was taken.
    bool allow_other_database = false;
    // A live database damaged beyond opening (truncated, page 1 overwritten, not an SQLite
    // file) cannot be restored in place. Set, its file is replaced instead, after a byte copy
    // of it is kept as the safety backup (restore_file.hpp). Stop the application
    // first: a process that still has the file open would go on writing to the old one.
    bool replace_damaged = false;
};

struct restore_report {
    manifest restored;  // the backup now in the live database
    manifest safety;    // the live database as it was, kept as a backup of kind `safety`
                        // (empty id: there was none, the restore wrote a new file)
    std::string database;
    double verify_seconds = 0;  // verifying the backup, schema and page-size checks
    double safety_seconds = 0;  // taking and verifying the safety backup
    double copy_seconds = 0;    // the copy into the live database
    double check_seconds = 0;   // the verifier, required tables and hook on the live database
    // The live file was read back after the copy and holds exactly the backup's image
    // (verify/same_image.hpp), so SQLite's check of it was skipped; false: it ran.
    bool image_proven = false;
    double total_seconds = 0;
};

namespace detail {

// The live database as a connection dbsafe may write through: the caller's own (so an
// exclusive-locking or in-memory database works and their connection sees the result at once),
// or one dbsafe opens on a path.
struct live_database {
    connection owned;
    sqlite3* db = nullptr;
    std::string name;
};

inline result<live_database> open_live(const database_ref& ref, int busy_timeout_ms) {
    live_database live;
    if (ref.connection() != nullptr) {
        live.db = ref.connection();
        live.name = database_name(live.db);
        if (sqlite3_get_autocommit(live.db) == 0) {
            return error(errc::in_transaction,
                         "cannot restore into " + live.name +
                             ": the connection has an open transaction; COMMIT or ROLLBACK it "
                             "first");
        }
    } else {
        const auto path = ref.file();
        live.name = path.string();
        // Writes gathered into large ones, in SQLite's order (detail/fast_copy_vfs.hpp): the
        // copy's journal or WAL frames and pages take 64 KiB system calls, not 4 KiB ones.
        auto opened =
            open_and_probe(path, open_mode::read_write, busy_timeout_ms, live_write_vfs());
        if (!opened) return opened.error().within("cannot restore into " + live.name);
        live.owned = std::move(opened).value();
        live.db = live.owned.get();
        // The gathering VFS relies on it (a WAL commit's xSync writes its frames out, and can
        // fail, before they are published); a restore is durable when it returns anyway.
        DBSAFE_TRYV(exec(live.db, "PRAGMA synchronous=FULL"));
    }
    if (sqlite3_db_readonly(live.db, "main") == 1) {
        return error(std::error_code(SQLITE_READONLY, sqlite_category()),
                     "cannot restore into " + live.name +
                         ": it is open read-only; give a read-write connection or path");
    }
    return live;
}

// Copies the main database of `src` (a backup opened read-only: restoring never changes a
// backup) into the main database of `dest`, as one write transaction on `dest`.
inline result<void> copy_into_live(sqlite3* dest, sqlite3* src,
                                   const progress_callback& on_progress, int pages_per_step,
                                   std::chrono::milliseconds busy_timeout,
                                   bool* committed = nullptr) {
    const std::string what = "copy of " + database_name(src) + " into " + database_name(dest);
    backup_steps steps{
        .pages_per_step = pages_per_step,
        .max_restarts = std::numeric_limits<int>::max(),
        .busy_timeout = busy_timeout,
        .page_size = 0,
        .on_progress = on_progress,
        .stop = {},
        // Other connections' locks: readers block the final commit of a rollback-journal
        // database, a writer blocks the start.
        .timed_out =
            [&](std::chrono::milliseconds waited) {
                return error(errc::busy_timeout,
                             "the " + what + " waited " + std::to_string(waited.count()) +
                                 " ms for other connections' locks; close or finish them "
                                 "(long reads, open transactions) and retry, or wait longer "
                                 "(vault_options::busy_timeout)");
            },
        .failed =
            [&](int rc) {
                return sqlite_error(rc, "the " + what + " failed: " + describe(dest, rc));
            },
        .cancelled = {}};
    DBSAFE_TRY(steps.page_size, query_int(src, "PRAGMA page_size"));
    backup_handle backup(sqlite3_backup_init(dest, "main", src, "main"));
    if (!backup) {
        const int rc = sqlite3_errcode(dest);
        return sqlite_error(rc, "cannot start the " + what + ": " + describe(dest, rc) +
                                    " (a statement of this connection may still be running: "
                                    "reset or finalize it first)");
    }
    // The step that returns DONE commits. Until then every failure leaves `dest` as it was:
    // the backup's finish rolls its write transaction back.
    DBSAFE_TRYV(run_backup_steps(backup.get(), steps));
    if (committed != nullptr) *committed = true;
    // finish() reports what step() did not (e.g. a commit error); the RAII owner would drop it.
    if (const int rc = sqlite3_backup_finish(backup.release()); rc != SQLITE_OK) {
        return sqlite_error(rc, "the " + what + " failed to finish: " + describe(dest, rc));
    }
    // A WAL database now holds every page in its WAL. Move them into the file, so the check
    // that follows (and every later reader) reads the file, not frame by frame through the
    // WAL index: a quick_check of 512 MiB takes 2.2 s before, 1.2 s after (measured). PASSIVE
    // never waits; in rollback-journal mode this is a no-op.
    (void)exec(dest, "PRAGMA wal_checkpoint(PASSIVE)");
    return success();
}

// The backup API copies a backup with another page size into a database in a rollback-journal
// mode (the page size changes with the copy), but not into a WAL database: there
// sqlite3_backup_step fails with SQLITE_READONLY (SQLite's documentation of the backup API).
// So a WAL database whose page size differs leaves WAL for the copy; switching journal modes
// changes no content, and the copy stays one atomic transaction under the rollback journal.
// Returns the live database's journal mode, for return_to_journal_mode after the copy.
inline result<std::string> leave_wal_for_page_size(sqlite3* dest, sqlite3* src) {
    DBSAFE_TRY(const auto mode, query_text(dest, "PRAGMA journal_mode"));
    DBSAFE_TRY(const auto backup_page, query_int(src, "PRAGMA page_size"));
    DBSAFE_TRY(const auto live_page, query_int(dest, "PRAGMA page_size"));
    if (backup_page == live_page || mode != "wal") return mode;
    DBSAFE_TRY(const auto left, query_text(dest, "PRAGMA journal_mode=DELETE"));
    if (left != "delete") {
        return error(errc::busy_timeout,
                     "its page size " + std::to_string(backup_page) + " differs from the live " +
                         "database's " + std::to_string(live_page) + ", and SQLite copies " +
                         "another page size only into a database out of WAL mode; leaving WAL " +
                         "needs every other connection to it closed: close them and retry");
    }
    return mode;
}

// After a copy the live database is back in the journal mode it had: a backup taken of a WAL
// database may carry WAL's mark in its header, and a WAL database left WAL for the copy.
inline result<void> return_to_journal_mode(sqlite3* db, const std::string& mode) {
    if (mode.empty() || mode == "memory") return success();
    DBSAFE_TRY(const auto now, query_text(db, "PRAGMA journal_mode"));
    if (now == mode) return success();
    DBSAFE_TRY(const auto set, query_text(db, "PRAGMA journal_mode=" + mode));
    if (set != mode) {
        return error(errc::busy_timeout,
                     "the content of " + database_name(db) + " was copied, but it stays in " +
                         "journal mode " + set + " instead of " + mode + ": close the other " +
                         "connections to it and run `PRAGMA journal_mode=" + mode + "` on it");
    }
    return success();
}

// The database a restore wrote (the live one after the copy, or a new file), before the
// restore says it succeeded: the vault's own verifier at the connection level, so a check of
// your own (check_with, a database_verifier) holds for the restored database too, not only for
// backups; then restore_options::required_tables and the caller's after_restore hook. The
// backup was checked at the file level moments before, so the verifier may choose a cheaper
// check here (standard_checks runs quick_check: integrity_check would double a 1 GiB restore,
// 6.3 s against 1.3 s). A verifier with no connection level (checksum_matches, a seal, your
// own with only verify()) still gets the quick_check every restore has always run.
template <class Verifier>
result<void> check_restored(const Verifier& verifier, const checked_database& d,
                            const restore_options& opts) {
    if constexpr (database_verifier<Verifier>) {
        DBSAFE_TRYV(verifier.check(d));
    } else if (!d.same_image_as_backup) {
        DBSAFE_TRYV(
            (quick_check{.max_messages = 10, .memory_mapped = opts.memory_mapped_check}.check(d)));
    }
    DBSAFE_TRYV(required_tables{opts.required_tables}.check(d));
    if (opts.after_restore) {
        if (auto ok = opts.after_restore(d.db); !ok) {
            return ok.error().within("post-restore check on " + d.name + " failed");
        }
    }
    return success();
}

inline std::string missing_migrations(const schema_info& backup, const schema_info& live) {
    std::string out;
    int shown = 0;
    for (const auto& m : backup.migrations) {
        if (std::find(live.migrations.begin(), live.migrations.end(), m) != live.migrations.end()) {
            continue;
        }
        if (++shown > 5) return out + ", ...";
        out += (out.empty() ? "" : ", ") + m;
    }
    return out;
}

inline double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The copy into the live database failed before it committed (a lock timeout, a full disk):
// the live database is exactly as it was, so there is nothing to recover and the message says
// so (it used to say "RECOVERY ALSO FAILED" when the recovery met the same lock).
inline error copy_not_committed(const error& e, const std::string& id, const std::string& target,
                                const std::string& safety_id,
                                const std::filesystem::path& location) {
    return e.within("not restoring backup " + id + " into " + target,
                    " (the live database was not changed: the copy is one transaction and it did "
                    "not commit; safety backup " +
                        safety_id + " was kept in " + location.string() + ")");
}

// A missing live database, or `restore --to`: the verified backup becomes the new file
// `target` (restore_file.hpp), checked like a live database after a copy.
// `replace` only for replace_damaged_live.
template <class Verifier>
result<restore_report> restore_new_file(const Verifier& verifier, const readable_backup& chosen,
                                        const std::filesystem::path& target,
                                        const restore_options& opts, restore_report& report,
                                        std::chrono::steady_clock::time_point started, bool replace,
                                        bool wal_mode = false) {
    const std::string what = replace ? "the damaged database" : "a database that was there";
    DBSAFE_TRYV(refuse_journal_beside(target, what));
    report.verify_seconds = seconds_since(started);
    const auto check_new = [&](sqlite3* db) {
        return check_restored(verifier,
                              checked_database{db, database_name(db), check_subject::restored_file,
                                               &chosen.description, false, opts.on_progress},
                              opts);
    };
    const auto copy_started = std::chrono::steady_clock::now();
    auto written =
        write_database_file(chosen.path, chosen.description.checksum, target, chosen.description.id,
                            replace, new_file_checks{check_new, wal_mode}, chosen.movable());
    if (!written) {
        return written.error().within(
            "not restoring backup " + chosen.description.id + " into " + target.string(),
            " (" + target.string() + " was not changed)");
    }
    report.copy_seconds = seconds_since(copy_started);
    report.database = target.string();
    report.total_seconds = seconds_since(started);
    return report;
}

// The live database cannot be opened as one (truncated, page 1 damaged, not an SQLite file):
// with opts.replace_damaged, keep a byte copy of it as the safety backup and replace it.
template <vault_like Vault>
result<restore_report> replace_damaged_live(Vault& vault, const readable_backup& chosen,
                                            const std::filesystem::path& target,
                                            const restore_options& opts, restore_report& report,
                                            std::chrono::steady_clock::time_point started,
                                            const error& damage) {
    const std::string& id = chosen.description.id;
    const std::string dir = vault.storage.location().string();
    if (!opts.replace_damaged) {
        return error(errc::not_a_database,
                     "not restoring backup " + id + " into " + target.string() + ": " +
                         damage.message +
                         ". A database SQLite cannot open cannot be restored "
                         "in place. If it is your damaged database, stop the application and "
                         "restore again with restore_options::replace_damaged set: a byte copy "
                         "of the damaged file is kept as a safety backup, then the file is "
                         "replaced. Or write the backup to a new file with vault.restore_to() "
                         "(the live database was not changed)",
                     target.string())
            .because(damage);
    }
    DBSAFE_TRYV(refuse_journal_beside(target, "the damaged database"));
    const bool wal_mode = is_wal_file(target);
    const auto safety_started = std::chrono::steady_clock::now();
    auto kept = keep_damaged_copy(vault, target);
    if (!kept) {
        return kept.error().within("not restoring backup " + id + " into " + target.string() +
                                       ": the byte copy of the damaged file could not be kept as "
                                       "a safety backup",
                                   " (the live database was not changed)");
    }
    report.safety = std::move(kept).value();
    report.safety_seconds = seconds_since(safety_started);
    auto done =
        restore_new_file(vault.verification, chosen, target, opts, report, started, true, wal_mode);
    if (!done) {
        return done.error().within("", "; the damaged file's byte copy is safety backup " +
                                           report.safety.id + " in " + dir);
    }
    return done;
}

template <vault_like Vault>
result<restore_report> run_restore(Vault& vault, const database_ref& live,
                                   const restore_options& opts) {
    const auto started = std::chrono::steady_clock::now();
    const auto busy = vault.options.busy_timeout;
    restore_report report;
    if (opts.id.empty()) {
        return error(errc::invalid_argument,
                     "restore needs the id of a backup (restore_options::id; vault.list() "
                     "shows them)");
    }

    const std::string& id = opts.id;
    const std::string target =
        live.file().empty() ? std::string("the database") : live.file().string();
    const auto untouched = [&](const error& e, const std::string& why) {
        return e.within("not restoring backup " + id + " into " + target + why,
                        " (the live database was not changed)");
    };

    // 1. The backup: exists, and passes the vault's verifier. A manifest that cannot be read
    // (a missing id, an I/O error) is reported as a restore that did not start, like the rest.
    auto opened_backup = open_with_progress(vault.storage, id, opts.on_progress);
    if (!opened_backup) return untouched(opened_backup.error(), "");
    auto chosen = std::move(opened_backup).value();
    report.restored = chosen.description;
    if (!live.file().empty()) {
        DBSAFE_TRYV(require_backup_of(chosen.description, live.file(), opts.allow_other_database));
    }
    if (auto ok = vault.verification.verify(
            backup_file{chosen.path, &chosen.description, false, opts.on_progress});
        !ok) {
        return untouched(ok.error(), ": it failed verification");
    }
    if (live.connection() == nullptr && !exists_nofollow(live.file())) {
        return restore_new_file(vault.verification, chosen, live.file(), opts, report, started,
                                false);
    }

    auto opened = open_live(live, static_cast<int>(busy.count()));
    if (!opened && opened.error().is(errc::not_a_database) && live.connection() == nullptr) {
        return replace_damaged_live(vault, chosen, live.file(), opts, report, started,
                                    opened.error());
    }
    if (!opened) return untouched(opened.error(), "");
    live_database dest = std::move(opened).value();
    report.database = dest.name;
    // On restore's own connection, every lock is asked for every 250 us up to the busy timeout
    // (detail/polling_busy_wait.hpp): beside a writer committing back to back in rollback-
    // journal mode the copy's RESERVED and EXCLUSIVE are free only between its commits, and
    // SQLite's default handler (sleeps growing to 100 ms) missed those gaps until a 10 s
    // timeout ran out (`dbsafe restore` of 512 MiB, bench/notes.md). A caller's connection
    // keeps its own busy handler.
    std::optional<polling_busy_wait> prompt_waits;
    if (dest.owned) prompt_waits.emplace(dest.db, busy);
    // The copy is one transaction larger than any page cache: each time the cache fills,
    // SQLite spills dirty pages into the file, and in rollback-journal mode every spill first
    // fsyncs the journal. The default 2 MB cache spills ~130 times for 256 MiB; 16 MiB cuts
    // that eightfold (rollback copy 2.9 s -> 2.2 s for 256 MiB, measured; WAL unchanged).
    // Only on restore's own connection: a caller's keeps its settings.
    if (dest.owned) (void)exec(dest.db, "PRAGMA cache_size=-16384");

    // 2 and 3. Schema and page size, read from the backup file itself, not its manifest: the
    // file is what will be copied. The connection stays open until the copy: if the safety
    // backup's auto-prune deletes this backup meanwhile, the open file is still readable.
    // Read ahead: the backup API reads the backup front to back (detail/fast_copy_vfs.hpp).
    auto backup_db = open_database(chosen.path, open_mode::read_only,
                                   static_cast<int>(busy.count()), fast_read_vfs());
    if (!backup_db) return untouched(backup_db.error(), "");
    std::string live_journal_mode;
    {
        auto live_schema = vault.schema.read(dest.db);
        if (!live_schema) return untouched(live_schema.error(), "");
        auto backup_schema = vault.schema.read(backup_db.value().get());
        if (!backup_schema) return untouched(backup_schema.error(), "");
        if (!opts.allow_newer_schema &&
            vault.schema.newer(backup_schema.value(), live_schema.value())) {
            const auto lacking = missing_migrations(backup_schema.value(), live_schema.value());
            return error(errc::schema_newer,
                         "not restoring backup " + id + " into " + target + ": its schema (" +
                             vault.schema.name() + " " + backup_schema.value().describe() +
                             ") is newer than the live database's (" +
                             live_schema.value().describe() + ")" +
                             (lacking.empty() ? "" : "; the live database lacks " + lacking) +
                             ". The application running on this database would not understand "
                             "it; restore an older backup, or upgrade the application first "
                             "(the live database was not changed)");
        }
        auto mode = leave_wal_for_page_size(dest.db, backup_db.value().get());
        if (!mode) return untouched(mode.error(), "");
        live_journal_mode = std::move(mode).value();
    }
    report.verify_seconds = seconds_since(started);

    // 4. The recovery point.
    const auto safety_started = std::chrono::steady_clock::now();
    announce_phase(opts.on_progress, progress_phase::safety_backup);
    auto safety = vault.backup(
        live, {.kind = backup_kind::safety,
               .on_progress = with_phase(opts.on_progress, progress_phase::safety_backup),
               .stop = {},
               .verify = false});
    if (!safety) {
        (void)return_to_journal_mode(dest.db, live_journal_mode);  // step 3 may have left WAL
        return untouched(safety.error(), ": the safety backup could not be taken");
    }
    report.safety = std::move(safety).value();
    report.safety_seconds = seconds_since(safety_started);

    // 5 and 6.
    const auto copy_started = std::chrono::steady_clock::now();
    bool committed = false;
    announce_phase(opts.on_progress, progress_phase::copy_in);
    auto outcome = copy_into_live(dest.db, backup_db.value().get(),
                                  with_phase(opts.on_progress, progress_phase::copy_in),
                                  opts.pages_per_step, busy, &committed);
    report.copy_seconds = seconds_since(copy_started);
    if (!committed)
        return copy_not_committed(outcome.error(), id, target, report.safety.id,
                                  vault.storage.location());
    if (outcome) {
        const auto check_started = std::chrono::steady_clock::now();
        report.image_proven = file_holds_backup(dest.db, chosen.path, chosen.description);
        outcome = check_restored(
            vault.verification,
            checked_database{dest.db, dest.name, check_subject::restored_live, &chosen.description,
                             report.image_proven, opts.on_progress},
            opts);
        report.check_seconds = seconds_since(check_started);
    }
    if (outcome) {
        if (auto mode = return_to_journal_mode(dest.db, live_journal_mode); !mode) {
            return mode.error().within("backup " + id + " was restored into " + target +
                                       " (safety backup " + report.safety.id + "), but");
        }
        report.total_seconds = seconds_since(started);
        return report;
    }

    // 7. Recovery: the safety backup, the same way (checksum first: cheap, and it is the last
    // good copy we have).
    const std::string& safety_id = report.safety.id;
    const auto recover = [&]() -> result<void> {
        DBSAFE_TRY(auto readable, vault.storage.open(safety_id));
        DBSAFE_TRYV(checksum_matches{}.verify(backup_file{readable.path, &readable.description}));
        DBSAFE_TRY(auto src, open_database(readable.path, open_mode::read_only,
                                           static_cast<int>(busy.count()), fast_read_vfs()));
        DBSAFE_TRYV(copy_into_live(dest.db, src.get(), {}, -1, busy));
        // quick_check only, as always: the safety backup is the live database as it was, which
        // need not pass the vault's checks or the caller's hook (it was restored over for a
        // reason), but the copy of it back must still be a sound database.
        DBSAFE_TRYV(quick_check{}.check(checked_database{
            dest.db, dest.name, check_subject::restored_live, &readable.description}));
        return return_to_journal_mode(dest.db, live_journal_mode);
    };
    // restore_failed keeps why as its cause (caused_by(errc::missing_tables), ...); when the
    // recovery failed too, a recovery_failed (naming the safety backup's file) stands between.
    const error& original = outcome.error();
    auto recovered = recover();
    if (recovered) {
        return error(errc::restore_failed,
                     "restore of backup " + id + " into " + target +
                         " failed: " + original.message + "; recovered: " + target +
                         " holds its previous content again (from safety backup " + safety_id +
                         ", kept in " + vault.storage.location().string() + ")")
            .because(original);
    }
    const error recovery_failure =
        error(errc::recovery_failed,
              "recovery from safety backup " + safety_id + " failed: " + recovered.error().message,
              report.safety.data_path.string())
            .because(original);
    return error(errc::restore_failed,
                 "restore of backup " + id + " into " + target + " failed: " + original.message +
                     "; RECOVERY ALSO FAILED: " + recovered.error().message +
                     ". The previous content is in safety backup " + safety_id + " in " +
                     vault.storage.location().string() +
                     ": stop the application and restore it (vault.restore with "
                     "restore_options::id = \"" +
                     safety_id + "\")")
        .because(recovery_failure);
}

// `restore --to`: the backup `opts.id` as the new file `to`; no live database is touched.
template <vault_like Vault>
result<restore_report> run_restore_to(Vault& vault, const std::filesystem::path& to,
                                      const restore_options& opts) {
    const auto started = std::chrono::steady_clock::now();
    if (opts.id.empty()) {
        return error(errc::invalid_argument,
                     "restore needs the id of a backup (restore_options::id; vault.list() "
                     "shows them)");
    }
    if (exists_nofollow(to)) {
        return error(std::make_error_code(std::errc::file_exists),
                     "not writing backup " + opts.id + " to " + to.string() +
                         ": it already exists, and restore_to writes a new file only. Choose a "
                         "new path, or restore into that database with vault.restore() (nothing "
                         "was changed)",
                     to.string());
    }
    restore_report report;
    DBSAFE_TRY(auto chosen, open_with_progress(vault.storage, opts.id, opts.on_progress));
    report.restored = chosen.description;
    if (auto ok = vault.verification.verify(
            backup_file{chosen.path, &chosen.description, false, opts.on_progress});
        !ok) {
        return ok.error().within("not writing backup " + opts.id + " to " + to.string() +
                                 ": it failed verification");
    }
    return restore_new_file(vault.verification, chosen, to, opts, report, started, false);
}

}  // namespace detail
}  // namespace dbsafe
