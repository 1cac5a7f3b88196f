// A verifier whose record() has another signature would publish unsealed backups: rejected.
// expect: Verifier has a record\(\) member that does not match
#include "dbsafe/dbsafe.hpp"

struct sealing_verifier {
    [[nodiscard]] dbsafe::result<void> verify(const dbsafe::backup_file&) const {
        return dbsafe::success();
    }
    void record(const std::filesystem::path&) {}  // no manifest: backup() could not call it
};

dbsafe::basic_vault<dbsafe::online_backup, sealing_verifier, dbsafe::keep_all,
                    dbsafe::local_directory>
    v;
