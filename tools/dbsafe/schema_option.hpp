// What `restore` and `migrate` share: the vault type with a run-time schema policy, and the
// --schema option that fills it.
#pragma once

#include <string>

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

}  // namespace dbsafe::cli
