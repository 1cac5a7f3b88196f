// A verifier whose check() takes a raw sqlite3* would silently never run on a restored database:
// the vault rejects it and names the signature restore calls.
// expect: Verifier has a check\(\) member that does not match .result<void> check\(const checked
#include "dbsafe/dbsafe.hpp"

struct raw_check {
    [[nodiscard]] dbsafe::result<void> verify(const dbsafe::backup_file&) const {
        return dbsafe::success();
    }
    [[nodiscard]] dbsafe::result<void> check(sqlite3*) const { return dbsafe::success(); }
};

dbsafe::basic_vault<dbsafe::online_backup, raw_check, dbsafe::keep_all, dbsafe::local_directory> v;
