// A storage target that cannot publish is rejected with a sentence listing what it must have.
// expect: Storage must provide location\(\), stage\(\), commit\(\)
#include "dbsafe/dbsafe.hpp"

struct write_only_storage {
    [[nodiscard]] std::filesystem::path location() const { return "/tmp"; }
};

dbsafe::basic_vault<dbsafe::online_backup, dbsafe::standard_checks, dbsafe::keep_all,
                    write_only_storage>
    v;
