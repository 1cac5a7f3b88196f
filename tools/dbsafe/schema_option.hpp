// What `restore` and `migrate` share: the vault type with a run-time schema policy, and the
// --schema option that fills it.
#pragma once

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <variant>

#include "cli.hpp"

namespace dbsafe::cli {

using schema_vault = basic_vault<online_backup, standard_checks, keep_all, cli_storage, any_schema>;

// --schema user_version|migrations:TABLE[:COLUMN]|sql:QUERY; a bad spelling is a usage error.
inline CLI::Option* add_schema_option(CLI::App* cmd, std::string& spec) {
    return cmd
        ->add_option("--schema", spec,
                     "How to read the schema version: user_version (default), "
                     "migrations:TABLE[:COLUMN] (e.g. migrations:knex_migrations) or "
                     "sql:QUERY (a SELECT returning an integer)")
        ->check([](const std::string& s) {
            auto parsed = parse_schema_policy(s);
            return parsed ? std::string() : parsed.error().message;
        });
}

// --schema migrations:TABLE names a table. The library reads a missing table as "no migrations
// yet" (a fresh database); the tool, where the name is typed, treats one that is nowhere to be
// found as a typo: it would turn restore's schema check off without a word (issue 13).
inline std::string migration_table_name(const any_schema& s) {
    const auto* t = std::get_if<migration_table>(&s.policy);
    return t != nullptr ? t->table : std::string();
}

// true when `db` has the policy's migration table, or the policy has none.
inline result<bool> migration_table_present(sqlite3* db, const any_schema& s) {
    const auto* t = std::get_if<migration_table>(&s.policy);
    if (t == nullptr) return true;
    sqlite3_stmt* raw = nullptr;
    const int prepared = sqlite3_prepare_v2(
        db, "SELECT count(*) FROM sqlite_schema WHERE type='table' AND name=?1", -1, &raw, nullptr);
    const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
    int rc = prepared;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(raw, 1, t->table.c_str(), static_cast<int>(t->table.size()),
                          SQLITE_TRANSIENT);
        rc = sqlite3_step(raw);
        if (rc == SQLITE_ROW) return sqlite3_column_int64(raw, 0) > 0;
    }
    return sqlite_error(rc, "cannot read the schema of " + database_name(db) + ": " +
                                sqlite3_errmsg(db) + " (" + sqlite3_errstr(rc) + ")");
}

inline error missing_migration_table(sqlite3* db, const any_schema& s, const std::string& when) {
    return error(errc::missing_tables,
                 "--schema " + s.name() + ": " + database_name(db) + " has no table " +
                     migration_table_name(s) + " " + when +
                     "; check the table name (the tables are listed by `sqlite3 DB .tables`)");
}

// `restore`: the live database must have the table, unless it has no table at all (fresh or
// emptied: nothing to compare) or cannot be read (restore reports that itself). Without the
// table every backup would compare as "not newer" and the schema check would never refuse.
inline result<void> require_live_migration_table(const std::string& database, const any_schema& s,
                                                 int busy_timeout_ms) {
    if (migration_table_name(s).empty()) return success();
    auto opened = open_database(database, open_mode::read_only, busy_timeout_ms);
    if (!opened) return success();
    sqlite3* db = opened.value().get();
    auto present = migration_table_present(db, s);
    if (!present || present.value()) return success();
    auto tables = query_int(db, "SELECT count(*) FROM sqlite_schema WHERE type='table'");
    if (!tables || tables.value() == 0) return success();
    return missing_migration_table(db, s,
                                   "although it has other tables, so the schema check would "
                                   "compare nothing (if it really has none yet, pass "
                                   "--allow-newer-schema); nothing was restored");
}

// Whether `sql` mentions `name` (case-insensitive), e.g. the CREATE TABLE of a first migration.
inline bool mentions(const std::string& sql, const std::string& name) {
    const auto lower = [](unsigned char c) { return std::tolower(c); };
    return std::search(sql.begin(), sql.end(), name.begin(), name.end(), [&](char x, char y) {
               return lower(static_cast<unsigned char>(x)) == lower(static_cast<unsigned char>(y));
           }) != sql.end();
}

}  // namespace dbsafe::cli
