// vacuum_into: a compacted, defragmented copy via `VACUUM INTO`. Smaller than a page copy when
// the database has free pages, but it rebuilds every index (slower) and SQLite neither fsyncs
// its output nor allows it inside a transaction; the storage target does the fsync, and an open
// transaction is reported up front.
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/snapshot/snapshot_strategy.hpp"

namespace dbsafe {

struct vacuum_into {
    [[nodiscard]] std::string_view method_name() const noexcept { return "vacuum-into"; }

    [[nodiscard]] result<snapshot_info> copy(sqlite3* source, const std::filesystem::path& target,
                                             const snapshot_context& ctx) const {
        if (sqlite3_get_autocommit(source) == 0) {
            return error(errc::in_transaction,
                         "VACUUM INTO cannot run on " + detail::database_name(source) +
                             " while its connection has an open transaction: commit or roll "
                             "back first, or use the online_backup strategy");
        }
        // The progress handler is the only hook inside VACUUM: it serves cancellation.
        struct handler_reset {
            sqlite3* db;
            ~handler_reset() { sqlite3_progress_handler(db, 0, nullptr, nullptr); }
        } reset{source};
        if (ctx.stop.stop_possible()) {
            sqlite3_progress_handler(
                source, 1000,
                [](void* p) -> int {
                    return static_cast<const std::stop_token*>(p)->stop_requested() ? 1 : 0;
                },
                const_cast<std::stop_token*>(&ctx.stop));
        }
        DBSAFE_TRY(auto st, detail::prepare(source, "VACUUM INTO ?1"));
        // A path, never a URI: see detail::sqlite_filename.
        const std::string name = detail::sqlite_filename(target).string();
        sqlite3_bind_text(st.get(), 1, name.c_str(), static_cast<int>(name.size()),
                          SQLITE_TRANSIENT);
        const int rc = sqlite3_step(st.get());
        if (rc != SQLITE_DONE) {
            if ((rc & 0xff) == SQLITE_INTERRUPT && ctx.stop.stop_requested()) {
                return error(errc::cancelled, "VACUUM INTO of " + detail::database_name(source) +
                                                  " cancelled; no backup was written");
            }
            return sqlite_error(rc, "VACUUM INTO " + name + " from " +
                                        detail::database_name(source) +
                                        " failed: " + detail::describe(source, rc));
        }
        st.reset();
        DBSAFE_TRY(auto copy, detail::open_database(target, detail::open_mode::read_only));
        snapshot_info info;
        DBSAFE_TRY(info.page_size, detail::query_int(copy.get(), "PRAGMA page_size"));
        DBSAFE_TRY(info.page_count, detail::query_int(copy.get(), "PRAGMA page_count"));
        copy.reset();
        return detail::finish_snapshot(target, info, ctx);
    }
};

}  // namespace dbsafe
