// A migration guard needs the whole vault (storage, verifier, schema, options, clock), not only
// backup(): a type with backup() alone is rejected with the list of what is missing.
// expect: the vault argument must be vault_like: .result<manifest> backup
#include "dbsafe/dbsafe.hpp"

struct backup_only {
    dbsafe::result<dbsafe::manifest> backup(const dbsafe::database_ref&,
                                            const dbsafe::backup_options&) {
        return dbsafe::manifest{};
    }
};

void migrate(backup_only& b) {
    (void)dbsafe::migration_guard::open(b, dbsafe::database_ref("app.db"));
}
