// migration_guard: a schema migration that cannot lose the database.
//
//   DBSAFE_TRY(auto guard, dbsafe::migration_guard::open(vault, db));  // pre_migration backup
//   ... run the migration on db ...                                     // may throw, return early
//   DBSAFE_TRYV(guard.commit());                                        // keep it
//
// open() first finishes an interrupted migration of the database (vault.recover), then takes a
// verified `pre_migration` backup; when that fails there is no guard, and the migration must
// not run (a migration that breaks the data without a backup has no way back). Then it publishes
// a migration record beside the backup (migration_record.hpp), durably, before the migration may
// change anything: a crash at any moment until commit() has returned leaves the record, and the
// next open(), vault.restore(), vault.recover() or `dbsafe recover` rolls the database back.
// Leaving the scope without commit() — an exception, an early return, a forgotten commit —
// rolls back: an open transaction on the connection is rolled back, then the pre-migration
// backup is restored into the connection (safety backup and automatic recovery included) and
// the database returns to its journal mode; then the record is removed.
// The destructor is noexcept: a failed rollback goes to options.on_rollback_failure (or, with
// no callback, to stderr: it must never pass silently); an explicit rollback() returns it and
// rollback_error() keeps it. A failed rollback keeps the record, so `dbsafe recover` retries.
//
// ATTACH and DETACH (and so VACUUM INTO) are refused on a guarded connection (an authorizer,
// installed for the guard's life): only the main database is backed up and rolled back, so a
// migration that wrote to an attached database could not be undone. SQLite cannot tell the previous
// authorizer, so the guard cannot chain to it: a connection with its own authorizer loses it
// when the guard is opened (it is removed, not restored, when the guard ends).
//
// The guard is type-erased over the vault (one std::function holding the restore), so it is
// one plain type whatever policies the vault has: it can be a member, returned, stored.
// The vault must outlive the guard.
#pragma once

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dbsafe/backup_kind.hpp"
#include "dbsafe/database_ref.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/migration_record.hpp"
#include "dbsafe/restore.hpp"
#include "dbsafe/vault_like.hpp"

namespace dbsafe {

struct migration_guard_options {
    std::vector<std::string> required_tables{};  // checked on the database after a rollback
    // Called when the destructor's rollback fails (the destructor cannot return it).
    std::function<void(const error&)> on_rollback_failure{};
    // Called after every rollback that succeeded (logging, metrics).
    std::function<void(const restore_report&)> on_rollback{};
    // Called when open() rolled back an earlier migration that a crash interrupted.
    std::function<void(const recovery_report&)> on_recovery{};
};

class migration_guard {
  public:
    enum class state { active, committed, rolled_back, rollback_failed };

    // Takes the pre-migration backup of `db` (the caller's connection, or a path). Open the
    // guard before BEGIN: a backup of a connection inside a transaction would miss it.
    template <class Vault>
    static result<migration_guard> open(Vault& vault, const database_ref& db,
                                        migration_guard_options options = {}) {
        detail::require_vault_like<Vault>();
        const std::string name = db.connection() != nullptr ? detail::database_name(db.connection())
                                                            : db.file().string();
        if (db.connection() != nullptr && sqlite3_get_autocommit(db.connection()) == 0) {
            return error(errc::in_transaction, "migration of " + name +
                                                   " blocked: the connection is inside a "
                                                   "transaction; open the guard before BEGIN");
        }
        const auto blocked = [&](const error& e, const std::string& why) {
            return e.within("migration of " + name + " blocked" + (why.empty() ? "" : ": ") + why);
        };
        auto recovered = detail::run_recover(vault, db);
        if (!recovered) return blocked(recovered.error(), "");
        if (recovered.value().rolled_back && options.on_recovery) {
            options.on_recovery(recovered.value());
        }
        auto mode = detail::journal_mode_of(db, vault.options.busy_timeout);
        if (!mode) return blocked(mode.error(), "");
        auto taken =
            vault.backup(db, {.kind = backup_kind::pre_migration, .on_progress = {}, .stop = {}});
        if (!taken) {
            return blocked(taken.error(),
                           "no pre-migration backup could be taken, so the migration must not "
                           "run");
        }
        const std::string directory = vault.storage.location().string();
        migration_record record{.database = detail::canonical_database(db),
                                .backup_id = taken.value().id,
                                .journal_mode = mode.value(),
                                .pid = static_cast<long long>(::getpid()),
                                .host = detail::host_name(),
                                .started_at = std::chrono::system_clock::now()};
        detail::held_record held;
        if (!record.database.empty()) {  // an in-memory database does not outlive a crash
            auto published = detail::publish_migration_record(directory, record);
            if (!published) {
                return blocked(published.error(),
                               "the migration record (which lets a crash be rolled back) could "
                               "not be written");
            }
            held = std::move(published).value();
        }
        // The rollback: the backup, then the journal mode the database had before the
        // migration (restore keeps the mode the database is in, which the migration may have
        // changed), waiting for locks as long as the vault says.
        restore_fn restore = [v = &vault, journal_mode = mode.value()](
                                 const database_ref& target,
                                 const restore_options& o) -> result<restore_report> {
            // not vault.restore: we hold the record
            DBSAFE_TRY(auto report, detail::run_restore(*v, target, o));
            DBSAFE_TRYV(
                detail::return_to_journal_mode(target, journal_mode, v->options.busy_timeout));
            return report;
        };
        return migration_guard(db, std::move(taken).value(), directory, std::move(restore),
                               std::move(options), std::move(held));
    }

    migration_guard(migration_guard&& other) noexcept
        : target_(std::move(other.target_)),
          backup_(std::move(other.backup_)),
          directory_(std::move(other.directory_)),
          restore_(std::move(other.restore_)),
          options_(std::move(other.options_)),
          record_(std::move(other.record_)),
          attach_(std::move(other.attach_)),
          state_(std::exchange(other.state_, state::committed)),  // the moved-from guard is inert
          rollback_error_(std::move(other.rollback_error_)) {}
    migration_guard& operator=(migration_guard&&) = delete;
    migration_guard(const migration_guard&) = delete;
    migration_guard& operator=(const migration_guard&) = delete;

    ~migration_guard() noexcept {
        if (state_ != state::active) return;
        try {
            auto rolled = rollback();
            if (!rolled) {
                if (options_.on_rollback_failure) {
                    options_.on_rollback_failure(rolled.error());
                } else {
                    std::fprintf(stderr, "dbsafe: migration_guard: %s\n",
                                 rolled.error().message.c_str());
                }
            }
        } catch (...) {  // a throwing callback or bad_alloc: the destructor still must not throw
            state_ = state::rollback_failed;
        }
    }

    // Keeps the migrated database. Refused while the migration's own transaction is open:
    // committing the guard would otherwise keep a transaction the connection may still roll
    // back, and the backup would no longer be the only copy of the old state.
    result<void> commit() {
        if (state_ != state::active) {
            return error(errc::invalid_argument,
                         "migration_guard::commit(): the guard is " + std::string(state_name()));
        }
        if (sqlite3* db = target_.connection(); db != nullptr && sqlite3_get_autocommit(db) == 0) {
            return error(errc::in_transaction,
                         "migration_guard::commit(): the migration's transaction on " +
                             detail::database_name(db) +
                             " is still open; COMMIT it before committing the guard");
        }
        // Only once the record is gone is the migration kept: a crash before this line rolls
        // it back, after it the migrated database stays. Either way, never a mix.
        if (record_.fd) {
            if (auto removed = detail::remove_migration_record(record_); !removed) {
                return removed.error().within(
                    "migration_guard::commit(): the migration record could not be removed, so "
                    "the migration is not kept (the guard rolls it back)");
            }
        }
        stop_refusing_attach();
        state_ = state::committed;
        return success();
    }

    // Rolls back now and says how it went (the destructor does the same, silently).
    result<restore_report> rollback() {
        if (state_ != state::active) {
            return error(errc::invalid_argument,
                         "migration_guard::rollback(): the guard is " + std::string(state_name()));
        }
        if (sqlite3* db = target_.connection(); db != nullptr) release_connection(db);
        stop_refusing_attach();
        restore_options o;
        o.id = backup_.id;
        // The pre-migration backup was taken from this database minutes ago: "newer" is moot.
        o.allow_newer_schema = true;
        o.required_tables = options_.required_tables;
        auto restored = restore_(target_, o);
        if (!restored) {
            state_ = state::rollback_failed;
            rollback_error_ = restored.error().within(
                "rollback of the migration failed",
                "; the pre-migration backup " + backup_.id + " is in " + directory_ +
                    ": once the cause is fixed, call vault.recover() on the database (or restore "
                    "the backup: vault.restore with restore_options::id = \"" +
                    backup_.id + "\")");
            record_.fd.reset();  // the record stays, unlocked: recover may act on it now
            return *rollback_error_;
        }
        if (record_.fd) {
            if (auto removed = detail::remove_migration_record(record_); !removed) {
                state_ = state::rollback_failed;
                rollback_error_ = removed.error().within(
                    "the migration was rolled back (the database is as it was before), but its "
                    "record could not be removed",
                    "; remove " + record_.path.string() +
                        " (a later recovery would restore the same pre-migration backup again)");
                record_.fd.reset();
                return *rollback_error_;
            }
        }
        state_ = state::rolled_back;
        if (options_.on_rollback) options_.on_rollback(restored.value());
        return restored;
    }

    [[nodiscard]] const manifest& backup() const noexcept { return backup_; }
    [[nodiscard]] const std::string& directory() const noexcept { return directory_; }
    [[nodiscard]] state status() const noexcept { return state_; }
    [[nodiscard]] const std::optional<error>& rollback_error() const noexcept {
        return rollback_error_;
    }
    // Whether the migration tried to ATTACH or DETACH (and was refused).
    [[nodiscard]] bool attach_refused() const noexcept { return attach_ && attach_->refused; }
    // The migration record (empty path for an in-memory database).
    [[nodiscard]] const std::filesystem::path& record_path() const noexcept { return record_.path; }

  private:
    using restore_fn =
        std::function<result<restore_report>(const database_ref&, const restore_options&)>;

    migration_guard(const database_ref& target, manifest backup, std::string directory,
                    restore_fn restore, migration_guard_options options, detail::held_record record)
        : target_(target),
          backup_(std::move(backup)),
          directory_(std::move(directory)),
          restore_(std::move(restore)),
          options_(std::move(options)),
          record_(std::move(record)) {
        if (sqlite3* db = target_.connection(); db != nullptr) {
            attach_ = std::make_unique<attach_state>();
            sqlite3_set_authorizer(db, &refuse_attach, attach_.get());
        }
    }

    struct attach_state {
        bool refused = false;
    };

    // VACUUM attaches a temporary database ('' as the file name) to rebuild into: allowed, as
    // is any temporary database (nothing in it outlives the connection). VACUUM INTO 'file'
    // attaches its target and is refused with ATTACH.
    static int refuse_attach(void* state, int action, const char* file, const char* /*arg2*/,
                             const char* /*database*/, const char* /*trigger*/) {
        if (action != SQLITE_ATTACH && action != SQLITE_DETACH) return SQLITE_OK;
        if (action == SQLITE_ATTACH && file != nullptr && *file == '\0') return SQLITE_OK;
        static_cast<attach_state*>(state)->refused = true;
        return SQLITE_DENY;
    }

    void stop_refusing_attach() noexcept {
        if (sqlite3* db = target_.connection(); db != nullptr && attach_) {
            sqlite3_set_authorizer(db, nullptr, nullptr);
        }
    }

    // A migration that failed halfway may leave a transaction open or a statement mid-step
    // (an exception thrown inside a row loop): both hold locks the restore needs.
    static void release_connection(sqlite3* db) noexcept {
        for (sqlite3_stmt* st = sqlite3_next_stmt(db, nullptr); st != nullptr;
             st = sqlite3_next_stmt(db, st)) {
            if (sqlite3_stmt_busy(st) != 0) sqlite3_reset(st);
        }
        if (sqlite3_get_autocommit(db) == 0) {
            sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        }
    }

    [[nodiscard]] const char* state_name() const noexcept {
        switch (state_) {
            case state::active:
                return "active";
            case state::committed:
                return "already committed";
            case state::rolled_back:
                return "already rolled back";
            case state::rollback_failed:
                return "already rolled back (and the rollback failed)";
        }
        return "?";
    }

    database_ref target_;
    manifest backup_;
    std::string directory_;
    restore_fn restore_;
    migration_guard_options options_;
    detail::held_record record_;            // locked while the guard is active
    std::unique_ptr<attach_state> attach_;  // the authorizer's state: stable across moves
    state state_ = state::active;
    std::optional<error> rollback_error_;
};

// The function form: runs `migration(db)` under a guard. `migration` returns void (and may
// throw) or a result<...>; success commits, an error, an exception or an open transaction
// left behind rolls back and yields errc::migration_failed. Returns the pre-migration backup.
template <class Vault, class Migration>
result<manifest> run_guarded(Vault& vault, sqlite3* db, Migration&& migration,
                             migration_guard_options options = {}) {
    DBSAFE_TRY(auto guard, migration_guard::open(vault, db, std::move(options)));
    std::optional<error> failure;
    try {
        using returned = std::invoke_result_t<Migration&, sqlite3*>;
        if constexpr (std::is_void_v<returned>) {
            migration(db);
        } else {
            auto r = migration(db);
            if (!r) {
                if constexpr (std::is_same_v<std::decay_t<decltype(r.error())>, error>) {
                    failure = r.error();
                } else {
                    failure = error(r.error().code, r.error().message);
                }
            }
        }
    } catch (const std::exception& e) {
        failure = error(errc::migration_failed, std::string("the migration threw: ") + e.what());
    } catch (...) {
        failure = error(errc::migration_failed, "the migration threw a non-standard exception");
    }
    if (!failure) {
        if (auto committed = guard.commit(); committed)
            return guard.backup();
        else
            failure = committed.error();
    }
    if (guard.attach_refused()) {
        failure = error(errc::unsupported,
                        failure->message +
                            " (ATTACH, DETACH and VACUUM INTO are refused inside a guarded "
                            "migration: only the main database is backed up and rolled back; "
                            "migrate each database with its own guard)")
                      .because(*failure);
    }
    auto rolled = guard.rollback();
    if (rolled) {
        return error(errc::migration_failed,
                     "migration of " + detail::database_name(db) + " failed: " + failure->message +
                         "; rolled back: the database is as it was before "
                         "(pre-migration backup " +
                         guard.backup().id + " kept in " + guard.directory() + ")")
            .because(*failure);
    }
    // As a failed restore's: why it failed, under a recovery_failed naming the backup to go back
    // to.
    const error rollback_failure =
        error(errc::recovery_failed, rolled.error().message, guard.backup().data_path.string())
            .because(*failure);
    return error(errc::migration_failed, "migration of " + detail::database_name(db) + " failed: " +
                                             failure->message + "; " + rolled.error().message)
        .because(rollback_failure);
}

}  // namespace dbsafe
