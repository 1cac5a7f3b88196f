// sql_query: the schema version is whatever a read-only query returns as an integer, for
// applications that keep it in their own table (`SELECT max(version) FROM schema_info`).
#pragma once

#include <sqlite3.h>

#include <string>

#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/schema/schema_version.hpp"

namespace dbsafe {

struct sql_query {
    std::string sql;

    [[nodiscard]] result<schema_info> read(sqlite3* db) const {
        DBSAFE_TRY(auto st, detail::prepare(db, sql));
        // The query runs on the live connection too: it must not be able to change it.
        if (sqlite3_stmt_readonly(st.get()) == 0) {
            return error(errc::invalid_argument,
                         "schema query `" + sql +
                             "` would write to the database; give a SELECT that returns the "
                             "schema version as an integer");
        }
        const int rc = sqlite3_step(st.get());
        if (rc == SQLITE_ROW && sqlite3_column_type(st.get(), 0) == SQLITE_INTEGER) {
            return schema_info{sqlite3_column_int64(st.get(), 0), {}};
        }
        if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
            return error(errc::invalid_argument,
                         "schema query `" + sql + "` returned " +
                             (rc == SQLITE_DONE ? std::string("no row") : "a non-integer") +
                             " on " + detail::database_name(db) +
                             "; it must return one integer (the schema version)");
        }
        return sqlite_error(rc, "schema query `" + sql + "` failed on " +
                                    detail::database_name(db) + ": " + detail::describe(db, rc));
    }

    [[nodiscard]] bool newer(const schema_info& a, const schema_info& b) const noexcept {
        return a.version > b.version;
    }

    [[nodiscard]] std::string name() const { return "sql:" + sql; }
};

static_assert(schema_version_policy<sql_query>);

}  // namespace dbsafe
