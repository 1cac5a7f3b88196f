// user_version: the schema version is SQLite's `PRAGMA user_version`, the integer many
// migration tools (and hand-written upgrade code) bump after each change.
#pragma once

#include <sqlite3.h>

#include <string>

#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/schema/schema_version.hpp"

namespace dbsafe {

struct user_version {
    [[nodiscard]] result<schema_info> read(sqlite3* db) const {
        schema_info out;
        DBSAFE_TRY(out.version, detail::query_int(db, "PRAGMA user_version"));
        return out;
    }
    [[nodiscard]] bool newer(const schema_info& a, const schema_info& b) const noexcept {
        return a.version > b.version;
    }
    [[nodiscard]] std::string name() const { return "user_version"; }
};

static_assert(schema_version_policy<user_version>);

}  // namespace dbsafe
