// A verifier with the wrong verify() signature is rejected with a sentence naming the right one.
// expect: Verifier must provide .result<void> verify\(const backup_file&\) const
#include "dbsafe/dbsafe.hpp"

struct wrong_verifier {
    bool verify(const std::filesystem::path&) const { return true; }
};

dbsafe::basic_vault<dbsafe::online_backup, wrong_verifier, dbsafe::keep_all,
                    dbsafe::local_directory>
    v;
