// The schema_version_policy concept: read a comparable schema version from a connection, and
// say whether one version is newer than another. Restore refuses a backup whose schema is newer
// than the live database's: an application at schema N cannot run on the
// tables of schema N+1, and a silent "successful" restore would break it at its next query.
//
// Models: user_version (PRAGMA user_version), migration_table (the rows of a migration tool's
// bookkeeping table, e.g. knex_migrations) and sql_query (any SELECT returning an integer);
// any_schema picks one of them at run time (the CLI's --schema).
//
// The concept is named schema_version_policy, not schema_version, so it does not read like the
// manifest's `schema_version` number it produces.
#pragma once

#include <sqlite3.h>

#include <concepts>
#include <cstdint>
#include <string>
#include <vector>

#include "dbsafe/error.hpp"

namespace dbsafe {

// What a policy read from one database.
struct schema_info {
    std::int64_t version = 0;               // comparable number (migration count for tables)
    std::vector<std::string> migrations{};  // applied migrations, oldest first (tables only)

    // "user_version 3" style text for messages, given the policy's name.
    [[nodiscard]] std::string describe() const {
        std::string out = std::to_string(version);
        if (!migrations.empty()) {
            out += " (" + std::to_string(migrations.size()) + " migrations, last " +
                   migrations.back() + ")";
        }
        return out;
    }
};

template <class S>
concept schema_version_policy = requires(const S& s, sqlite3* db, const schema_info& a,
                                         const schema_info& b) {
    { s.read(db) } -> std::same_as<result<schema_info>>;
    // True when `a` is newer than `b`: the database described by `b` lacks something `a` has.
    { s.newer(a, b) } -> std::same_as<bool>;
    // Recorded in the manifest's schema_policy ("user_version", "migrations:TABLE", ...).
    { s.name() } -> std::convertible_to<std::string>;
};

}  // namespace dbsafe
