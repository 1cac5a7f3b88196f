// basic_vault: the one object users hold. It composes a snapshot strategy, a verifier, a
// retention policy and a storage target (all values, configured with designated initialisers)
// and runs the backup pipeline:
//   free-space guard -> stage -> snapshot -> checksum (+ the verifier's record(), if any)
//   -> verify -> publish (commit protocol).
// Into a page repository, when the snapshot is the database file itself, the pages go to the
// target as they are read and the checksum, description and check happen on the source
// connection inside the same read transaction (snapshot_sink.hpp): no staged copy at all.
// A backup that fails verification is never published, and nothing half-written survives.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "dbsafe/backup_id.hpp"
#include "dbsafe/backup_kind.hpp"
#include "dbsafe/checksum.hpp"
#include "dbsafe/database_ref.hpp"
#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/free_space.hpp"
#include "dbsafe/health.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/migration_record.hpp"
#include "dbsafe/progress.hpp"
#include "dbsafe/prune.hpp"
#include "dbsafe/restore.hpp"
#include "dbsafe/retention/retention_policy.hpp"
#include "dbsafe/schema/schema_version.hpp"
#include "dbsafe/schema/user_version.hpp"
#include "dbsafe/snapshot/snapshot_strategy.hpp"
#include "dbsafe/source_identity.hpp"
#include "dbsafe/storage/storage_target.hpp"
#include "dbsafe/vault_like.hpp"
#include "dbsafe/vault_options.hpp"
#include "dbsafe/verify/database_verifier.hpp"
#include "dbsafe/verify/verifier.hpp"
#include "dbsafe/version.hpp"

namespace dbsafe {

// Schema is a fifth, defaulted parameter so every existing four-argument spelling keeps its
// meaning (user_version), while a vault that tracks knex_migrations says so in its type.
template <class Snapshot, class Verifier, class Retention, class Storage,
          class Schema = user_version>
struct basic_vault {
    static_assert(snapshot_strategy<Snapshot>,
                  "Snapshot must provide `result<snapshot_info> copy(sqlite3*, const path&, const "
                  "snapshot_context&) const` and `method_name()` (see snapshot_strategy.hpp)");
    static_assert(verifier<Verifier>,
                  "Verifier must provide `result<void> verify(const backup_file&) const` (see "
                  "verify/verifier.hpp)");
    static_assert(!has_unusable_record<Verifier>,
                  "Verifier has a record() member that does not match `result<void> "
                  "record(const std::filesystem::path&, manifest&)`, so backup() would never call "
                  "it (see verify/verifier.hpp)");
    static_assert(!has_unusable_check<Verifier>,
                  "Verifier has a check() member that does not match `result<void> check(const "
                  "checked_database&) const`, so restore would never apply it to the restored "
                  "database (see verify/database_verifier.hpp)");
    static_assert(retention_policy<Retention>,
                  "Retention must provide `std::vector<retention_decision> plan(span<const "
                  "manifest>, time_point) const` (see retention/retention_policy.hpp)");
    static_assert(schema_version_policy<Schema>,
                  "Schema must provide `result<schema_info> read(sqlite3*) const`, `bool "
                  "newer(const schema_info&, const schema_info&) const` and `name()` (see "
                  "schema/schema_version.hpp)");
    static_assert(storage_target<Storage>,
                  "Storage must provide location(), stage(), commit(), discard() noexcept, list(), "
                  "open(), remove() and remove_debris() (see storage/storage_target.hpp)");

    Storage storage{};
    [[no_unique_address]] Snapshot snapshot{};
    [[no_unique_address]] Verifier verification{};
    [[no_unique_address]] Retention retention{};
    vault_options options{};
    [[no_unique_address]] Schema schema{};

    [[nodiscard]] std::chrono::system_clock::time_point now() const {
        return options.clock ? options.clock() : std::chrono::system_clock::now();
    }

    // Takes a verified backup of `source` and publishes it; returns its manifest.
    result<manifest> backup(const database_ref& source, const backup_options& opts = {}) {
        const auto started = std::chrono::steady_clock::now();
        const auto timeout_ms = static_cast<int>(options.busy_timeout.count());
        DBSAFE_TRY(auto src, detail::open_source(source, timeout_ms));
        if (!src.file.empty()) {
            DBSAFE_TRYV(check_free_space(src.file, storage.location(), options.space_factor,
                                         options.free_space));
        }
        const auto created = now();
        DBSAFE_TRY(const staged_backup staged, stage_new(created, opts.kind));
        struct discard_unless_published {
            Storage& storage;
            const staged_backup& staged;
            bool published = false;
            ~discard_unless_published() {
                if (!published) storage.discard(staged);
            }
        } cleanup{storage, staged};

        manifest m;
        m.id = staged.id;
        m.kind = opts.kind;
        m.created_at = created;
        if (src.file.empty()) {
            m.source_path = detail::database_name(src.db);
        } else {
            record_source(m, src.file);
        }
        m.sqlite_version = sqlite3_libversion();
        m.method = std::string(snapshot.method_name());
        m.dbsafe_version = version_string;
        const auto failed_check = [&](const error& e) {
            const bool source_damaged = e.is(errc::verification_failed);
            return e.within("backup of " + m.source_path +
                            (source_damaged ? " was not published: the SOURCE database is damaged"
                                            : " failed verification and was not published"));
        };

        snapshot_context ctx{opts.on_progress, opts.stop, src.private_connection, staged.fsynced,
                             options.busy_timeout};
        // A target that stores pages as they are read (snapshot_sink.hpp) gets them straight
        // from the database file when the snapshot is the file, with no staged copy: the
        // snapshot is then described and checked on the source connection, inside the read
        // transaction the pages were read in, so the check judges exactly the stored image.
        // Only for a verifier that needs no file for it (verifier.hpp).
        if (staged.sink && !detail::fresh_snapshot_needs_file(verification)) {
            ctx.sink = staged.sink.get();
            ctx.sink->source(m.source_path);
            ctx.while_reading = [&](sqlite3* db, const snapshot_info& info) -> result<void> {
                m.page_size = info.page_size;
                m.page_count = info.page_count;
                m.size_bytes = static_cast<std::uint64_t>(info.page_size) *
                               static_cast<std::uint64_t>(info.page_count);
                m.checksum = *info.content_checksum;
                DBSAFE_TRYV(describe_schema_of(db, m));
                if (!opts.verify) return success();
                auto checked = detail::check_if_any(
                    verification, checked_database{db, m.source_path, check_subject::fresh_snapshot,
                                                   &m, false, opts.on_progress});
                if (!checked) return failed_check(checked.error());
                return success();
            };
        }
        DBSAFE_TRY(const snapshot_info info, snapshot.copy(src.db, staged.path, ctx));

        if (!info.into_sink) {
            m.page_size = info.page_size;
            m.page_count = info.page_count;
            m.size_bytes = detail::file_size_or_zero(staged.path);
            if (info.content_checksum) {
                m.checksum = *info.content_checksum;
            } else {
                DBSAFE_TRY(m.checksum, hash_file(staged.path, opts.on_progress));
            }
            // Read from the copy, not the live database: the numbers describe this snapshot.
            DBSAFE_TRYV(describe_schema(staged.path, m));
            // Optional evidence (a SHA-256 seal), taken from the uncompressed copy like the
            // checksum and before verify, which then checks it too.
            if (auto recorded = detail::record_if_any(verification, staged.path, m); !recorded) {
                return recorded.error().within("backup of " + m.source_path + " was not published");
            }
            if (opts.verify) {
                if (auto checked =
                        verification.verify(backup_file{staged.path, &m, true, opts.on_progress});
                    !checked) {
                    return failed_check(checked.error());
                }
            }
        }
        // The check that passed, in the manifest: a later verify or restore of this backup may
        // rely on it while the checksum still matches (verify/standard_checks.hpp).
        if (auto checks = detail::attested_checks_if_any(verification);
            opts.verify && !checks.empty()) {
            m.verified = verification_record{std::move(checks), now()};
        }
        m.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        announce_phase(opts.on_progress, progress_phase::store);
        DBSAFE_TRY(auto published, storage.commit(staged, std::move(m)));
        cleanup.published = true;
        if (opts.on_progress) {
            const auto pages = static_cast<std::uint64_t>(published.page_count);
            opts.on_progress(progress{.pages_done = pages,
                                      .pages_total = pages,
                                      .page_size = static_cast<std::uint64_t>(published.page_size),
                                      .phase = progress_phase::store});
        }
        if (options.prune_after_backup.enabled) prune_after(published.id);
        return published;
    }

    [[nodiscard]] result<listing> list() const { return storage.list(); }

    // Applies the retention policy and sweeps old debris (see prune.hpp); dry_run changes nothing.
    result<prune_report> prune(const prune_options& opts = {}) {
        return dbsafe::prune(storage, retention, opts.now.value_or(now()), opts);
    }

    // "Are my backups healthy?" (see health.hpp): every finding, each with a message.
    [[nodiscard]] result<health_report> health(const health_options& opts = {}) const {
        return check_health(storage, verification, opts.now.value_or(now()), opts);
    }

    // Re-checks a published backup with this vault's verifier; returns its manifest.
    // `on_progress` is told how its unpacking (a compressed or page backup), checksum and SQLite
    // check advance (progress_phase).
    [[nodiscard]] result<manifest> verify(std::string_view id,
                                          const progress_callback& on_progress = {}) const {
        DBSAFE_TRY(auto readable, open_with_progress(storage, id, on_progress));
        DBSAFE_TRYV(verification.verify(
            backup_file{readable.path, &readable.description, false, on_progress}));
        return readable.description;
    }

    // Puts backup `opts.id` back into `live` (a path or the caller's connection), with a safety
    // backup first and automatic recovery from it; see restore.hpp for the steps. It also ends
    // an interrupted guarded migration of `live` (migration_record.hpp): refused while one is
    // running, its record removed once the restore succeeded.
    result<restore_report> restore(const database_ref& live, const restore_options& opts) {
        return detail::run_restore_clearing_records(*this, live, opts);
    }

    // Finishes a guarded migration of `live` that a crash interrupted: when the backup
    // directory holds its record, rolls `live` back to the pre-migration backup (a restore,
    // safety backup included) and removes the record. Nothing to do is a success too
    // (report.rolled_back == false). migration_guard::open() calls it first.
    result<recovery_report> recover(const database_ref& live) {
        return detail::run_recover(*this, live);
    }

    // Writes backup `opts.id` to the new file `to` (refused if anything stands there), through
    // a temporary file beside it; touches no live database. Compressed backups are decompressed.
    // opts.required_tables and opts.after_restore are checked on the new file.
    result<restore_report> restore_to(const std::filesystem::path& to,
                                      const restore_options& opts) {
        return detail::run_restore_to(*this, to, opts);
    }

    // Checks any SQLite file (no manifest: no checksum to compare).
    [[nodiscard]] result<void> verify_file(const std::filesystem::path& path,
                                           const progress_callback& on_progress = {}) const {
        if (std::error_code ec; !std::filesystem::is_regular_file(path, ec)) {
            return error(errc::not_found, "cannot verify " + path.string() + ": no such file");
        }
        return verification.verify(backup_file{path, nullptr, false, on_progress});
    }

  private:
    void prune_after(const std::string& just_taken) {
        prune_options opts = options.prune_after_backup.options;
        opts.protected_ids.push_back(just_taken);
        const auto pruned = prune(opts);
        if (options.prune_after_backup.on_done) options.prune_after_backup.on_done(pruned);
    }

    result<staged_backup> stage_new(std::chrono::system_clock::time_point created,
                                    backup_kind kind) {
        // Ids carry a random tail; a collision (two processes, same millisecond, same tail)
        // is caught by O_EXCL and simply retried with a new id.
        for (int attempt = 0;; ++attempt) {
            auto staged = storage.stage(make_backup_id(created, kind));
            if (staged || attempt >= 8 || staged.error().code != std::errc::file_exists) {
                return staged;
            }
        }
    }

    result<void> describe_schema(const std::filesystem::path& copy, manifest& m) const {
        DBSAFE_TRY(auto db, detail::open_database(copy, detail::open_mode::read_only));
        return describe_schema_of(db.get(), m);
    }

    // `db` is the snapshot: the copy, or the source inside the read transaction it was read in.
    result<void> describe_schema_of(sqlite3* db, manifest& m) const {
        DBSAFE_TRY(m.user_version, detail::query_int(db, "PRAGMA user_version"));
        DBSAFE_TRY(auto info, schema.read(db));
        m.schema_version = info.version;
        m.migrations = std::move(info.migrations);
        m.schema_policy = schema.name();
        return success();
    }
};

}  // namespace dbsafe
