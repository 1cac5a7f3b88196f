// migration_guard: a schema migration that cannot lose the database.
//
//   DBSAFE_TRY(auto guard, dbsafe::migration_guard::open(vault, db));  // pre_migration backup
//   ... run the migration on db ...                                     // may throw, return early
//   DBSAFE_TRYV(guard.commit());                                        // keep it
//
// open() takes a verified `pre_migration` backup first; when that fails there is no guard, and
// the migration must not run (the seed's rule: no migration without a backup). Leaving the
// scope without commit() — an exception, an early return, a forgotten commit — rolls back: an
// open transaction on the connection is rolled back, then the pre-migration backup is restored
// into the connection with vault.restore() (safety backup and automatic recovery included).
// The destructor is noexcept: a failed rollback goes to options.on_rollback_failure (or, with
// no callback, to stderr: it must never pass silently); an explicit rollback() returns it and
// rollback_error() keeps it.
//
// The guard is type-erased over the vault (one std::function holding `vault.restore`), so it
// is one plain type whatever policies the vault has: it can be a member, returned, stored.
// The vault must outlive the guard.
#pragma once

#include <sqlite3.h>

#include <cstdio>
#include <exception>
#include <functional>
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
#include "dbsafe/restore.hpp"

namespace dbsafe {

struct migration_guard_options {
    std::vector<std::string> required_tables{};  // checked on the database after a rollback
    // Called when the destructor's rollback fails (the destructor cannot return it).
    std::function<void(const error&)> on_rollback_failure{};
    // Called after every rollback that succeeded (logging, metrics).
    std::function<void(const restore_report&)> on_rollback{};
};

class migration_guard {
  public:
    enum class state { active, committed, rolled_back, rollback_failed };

    // Takes the pre-migration backup of `db` (the caller's connection, or a path). Open the
    // guard before BEGIN: a backup of a connection inside a transaction would miss it.
    template <class Vault>
    static result<migration_guard> open(Vault& vault, const database_ref& db,
                                        migration_guard_options options = {}) {
        const std::string name = db.connection() != nullptr ? detail::database_name(db.connection())
                                                            : db.file().string();
        if (db.connection() != nullptr && sqlite3_get_autocommit(db.connection()) == 0) {
            return error(errc::in_transaction, "migration of " + name +
                                                   " blocked: the connection is inside a "
                                                   "transaction; open the guard before BEGIN");
        }
        auto taken =
            vault.backup(db, {.kind = backup_kind::pre_migration, .on_progress = {}, .stop = {}});
        if (!taken) {
            return error(taken.error().code, "migration of " + name +
                                                 " blocked: no pre-migration backup could be "
                                                 "taken, so the migration must not run: " +
                                                 taken.error().message);
        }
        restore_fn restore = [v = &vault](const database_ref& target, const restore_options& o) {
            return v->restore(target, o);
        };
        return migration_guard(db, std::move(taken).value(), vault.storage.location().string(),
                               std::move(restore), std::move(options));
    }

    migration_guard(migration_guard&& other) noexcept
        : target_(std::move(other.target_)),
          backup_(std::move(other.backup_)),
          directory_(std::move(other.directory_)),
          restore_(std::move(other.restore_)),
          options_(std::move(other.options_)),
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
        restore_options o;
        o.id = backup_.id;
        // The pre-migration backup was taken from this database minutes ago: "newer" is moot.
        o.allow_newer_schema = true;
        o.required_tables = options_.required_tables;
        auto restored = restore_(target_, o);
        if (!restored) {
            state_ = state::rollback_failed;
            rollback_error_ =
                error(restored.error().code,
                      "rollback of the migration failed: " + restored.error().message +
                          "; the pre-migration backup " + backup_.id + " is in " + directory_ +
                          ": restore it with `dbsafe restore DB --dir " + directory_ + " --id " +
                          backup_.id + "`");
            return *rollback_error_;
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

  private:
    using restore_fn =
        std::function<result<restore_report>(const database_ref&, const restore_options&)>;

    migration_guard(const database_ref& target, manifest backup, std::string directory,
                    restore_fn restore, migration_guard_options options)
        : target_(target),
          backup_(std::move(backup)),
          directory_(std::move(directory)),
          restore_(std::move(restore)),
          options_(std::move(options)) {}

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
            if (!r) failure = error(r.error().code, r.error().message);
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
    auto rolled = guard.rollback();
    if (rolled) {
        return error(errc::migration_failed,
                     "migration of " + detail::database_name(db) + " failed: " + failure->message +
                         "; rolled back: the database is as it was before "
                         "(pre-migration backup " +
                         guard.backup().id + " kept in " + guard.directory() + ")");
    }
    return error(errc::migration_failed, "migration of " + detail::database_name(db) + " failed: " +
                                             failure->message + "; " + rolled.error().message);
}

}  // namespace dbsafe
