// backup_async of something that is no vault names the backup() member it needs.
// expect: the vault argument must provide .result<manifest> backup\(const database_ref&
#include "dbsafe/backup_async.hpp"
#include "dbsafe/dbsafe.hpp"

struct not_a_vault {
    int backup() { return 0; }
};

void start(not_a_vault& nv) { (void)dbsafe::backup_async(nv, dbsafe::database_ref("app.db")); }
