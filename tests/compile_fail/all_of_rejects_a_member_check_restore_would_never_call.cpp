// The same mistake inside all_of: the composite names the member's check() signature.
// expect: a member of all_of has a check\(\) member that does not match
#include "dbsafe/verify/all_of.hpp"
#include "dbsafe/verify/checksum_matches.hpp"

struct raw_check {
    [[nodiscard]] dbsafe::result<void> verify(const dbsafe::backup_file&) const {
        return dbsafe::success();
    }
    [[nodiscard]] dbsafe::result<void> check(sqlite3*) const { return dbsafe::success(); }
};

dbsafe::all_of<dbsafe::checksum_matches, raw_check> checks;
