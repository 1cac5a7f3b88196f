// any_schema: a schema policy chosen at run time, for the CLI's
// `--schema user_version|migrations:TABLE[:COLUMN]|sql:QUERY`. Programs that know their policy
// at compile time name the model directly and pay for no variant.
#pragma once

#include <sqlite3.h>

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "dbsafe/error.hpp"
#include "dbsafe/schema/migration_table.hpp"
#include "dbsafe/schema/schema_version.hpp"
#include "dbsafe/schema/sql_query.hpp"
#include "dbsafe/schema/user_version.hpp"

namespace dbsafe {

struct any_schema {
    std::variant<user_version, migration_table, sql_query> policy{};

    [[nodiscard]] result<schema_info> read(sqlite3* db) const {
        return std::visit([&](const auto& p) { return p.read(db); }, policy);
    }
    [[nodiscard]] bool newer(const schema_info& a, const schema_info& b) const {
        return std::visit([&](const auto& p) { return p.newer(a, b); }, policy);
    }
    [[nodiscard]] std::string name() const {
        return std::visit([](const auto& p) { return p.name(); }, policy);
    }
};

static_assert(schema_version_policy<any_schema>);

// Parses the CLI spelling; the inverse of name().
inline result<any_schema> parse_schema_policy(std::string_view spec) {
    if (spec == "user_version") return any_schema{user_version{}};
    if (spec.starts_with("migrations:")) {
        std::string rest(spec.substr(11));
        const auto colon = rest.find(':');
        migration_table t;
        t.table = rest.substr(0, colon);
        if (colon != std::string::npos) t.column = rest.substr(colon + 1);
        if (!t.table.empty() && !t.column.empty()) return any_schema{std::move(t)};
    } else if (spec.starts_with("sql:") && spec.size() > 4) {
        return any_schema{sql_query{std::string(spec.substr(4))}};
    }
    return error(errc::invalid_argument,
                 "unknown schema policy '" + std::string(spec) +
                     "': use user_version, migrations:TABLE[:COLUMN] (e.g. "
                     "migrations:knex_migrations) or sql:QUERY (a SELECT returning an integer)");
}

}  // namespace dbsafe
