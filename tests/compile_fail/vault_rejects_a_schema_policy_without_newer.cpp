// A schema policy that cannot compare versions is rejected with a sentence naming newer().
// expect: Schema must provide .result<schema_info> read\(sqlite3\*\) const., .bool newer
#include "dbsafe/dbsafe.hpp"

struct read_only_schema {
    [[nodiscard]] dbsafe::result<dbsafe::schema_info> read(sqlite3*) const { return {}; }
    [[nodiscard]] std::string name() const { return "read-only"; }
};

dbsafe::basic_vault<dbsafe::online_backup, dbsafe::standard_checks, dbsafe::keep_all,
                    dbsafe::local_directory, read_only_schema>
    v;
