// A retention policy without plan() is rejected with a sentence naming it.
// expect: Retention must provide .std::vector<retention_decision> plan
#include "dbsafe/dbsafe.hpp"

struct keep_forever {};

dbsafe::basic_vault<dbsafe::online_backup, dbsafe::standard_checks, keep_forever,
                    dbsafe::local_directory>
    v;
