// migration_table: the schema is the set of migrations recorded in a migration tool's table
// (knex's `knex_migrations(name)`, Rails' `schema_migrations(version)`, ...).
//
// "Newer" is a set question, not a count: a backup is newer when it records a migration the
// live database does not have. Counting would call a database with migrations {1,2,4} older
// than one with {1,2,3,4} but equal to {1,2,3}, and restoring {1,2,3} under code that expects
// 4 breaks that code at its first query, which is why restore refuses a newer backup. A
// database without the table has no migrations.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/schema/schema_version.hpp"

namespace dbsafe {

namespace detail {

// "name" -> "\"name\"" with embedded quotes doubled: any table name is safe inside SQL.
inline std::string quote_identifier(const std::string& name) {
    std::string out = "\"";
    for (char c : name) {
        out += c;
        if (c == '"') out += '"';
    }
    return out + "\"";
}

// Whether `sql`, with ?1 and ?2 bound to `a` and `b`, counts any row.
inline result<bool> any_row(sqlite3* db, const char* sql, const std::string& a,
                            const std::string& b) {
    DBSAFE_TRY(auto st, prepare(db, sql));
    sqlite3_bind_text(st.get(), 1, a.c_str(), static_cast<int>(a.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st.get(), 2, b.c_str(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
    const int rc = sqlite3_step(st.get());
    if (rc != SQLITE_ROW) {
        return sqlite_error(
            rc, "cannot read the schema of " + database_name(db) + ": " + describe(db, rc));
    }
    return sqlite3_column_int64(st.get(), 0) > 0;
}

}  // namespace detail

struct migration_table {
    std::string table = "knex_migrations";
    std::string column = "name";

    [[nodiscard]] result<schema_info> read(sqlite3* db) const {
        if (table.empty() || column.empty()) {
            return error(errc::invalid_argument,
                         "migration_table needs a table and a column name (e.g. "
                         "knex_migrations, name)");
        }
        schema_info out;
        DBSAFE_TRY(const bool exists,
                   detail::any_row(db,
                                   "SELECT count(*) FROM sqlite_schema WHERE type='table' AND "
                                   "name=?1 AND ?2=?2",
                                   table, column));
        if (!exists) return out;
        // Checked, not left to the query: SQLite reads a double-quoted name that matches no
        // column as a string literal, so a wrong column would "work" and return its own name.
        DBSAFE_TRY(const bool has_column,
                   detail::any_row(db, "SELECT count(*) FROM pragma_table_info(?1) WHERE name=?2",
                                   table, column));
        if (!has_column) {
            return error(errc::invalid_argument,
                         "migration table " + table + " of " + detail::database_name(db) +
                             " has no column `" + column +
                             "`; name the column that holds the migration names "
                             "(migration_table::column)");
        }
        const std::string from = " FROM " + detail::quote_identifier(table);
        const std::string select = "SELECT " + detail::quote_identifier(column) + from;
        // rowid order is the order the tool applied them; WITHOUT ROWID tables fall back to
        // the column's own order.
        auto names = detail::query_column(db, select + " ORDER BY rowid");
        if (!names) names = detail::query_column(db, select + " ORDER BY 1");
        if (!names) {
            return names.error().within(
                "cannot read migrations from table " + table + " of " + detail::database_name(db),
                " (check the table name given to migration_table and "
                "that column `" +
                    column + "` exists)");
        }
        out.migrations = std::move(names).value();
        out.version = static_cast<std::int64_t>(out.migrations.size());
        return out;
    }

    [[nodiscard]] bool newer(const schema_info& a, const schema_info& b) const {
        return std::any_of(a.migrations.begin(), a.migrations.end(), [&](const std::string& m) {
            return std::find(b.migrations.begin(), b.migrations.end(), m) == b.migrations.end();
        });
    }

    [[nodiscard]] std::string name() const {
        return "migrations:" + table + (column == "name" ? "" : ":" + column);
    }
};

static_assert(schema_version_policy<migration_table>);

}  // namespace dbsafe
