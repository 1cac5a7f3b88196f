// checksum_matches: the data file hashes to the checksum its manifest recorded when the backup
// was taken. Catches bit rot and truncation that SQLite's checks can miss (a flipped byte in a
// free page, a changed value that still forms a valid b-tree).
#pragma once

#include "dbsafe/checksum.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/verify/verifier.hpp"

namespace dbsafe {

struct checksum_matches {
    // A fresh snapshot's checksum was computed from the very bytes moments ago: nothing to
    // compare, file or not (verifier.hpp).
    [[nodiscard]] static constexpr bool needs_file_of_fresh_snapshot() noexcept { return false; }
    [[nodiscard]] result<void> verify(const backup_file& f) const {
        if (f.description == nullptr) return success();  // a lone file has nothing to match
        if (f.checksum_fresh) return success();
        const manifest& m = *f.description;
        if (m.checksum.algorithm != "xxh3-128") {
            return error(errc::unsupported, "manifest of " + m.id + " uses checksum algorithm '" +
                                                m.checksum.algorithm +
                                                "', which this dbsafe cannot check");
        }
        DBSAFE_TRY(const checksum actual, hash_file(f.path, f.on_progress));
        if (actual.hex == m.checksum.hex) return success();
        return error(errc::checksum_mismatch,
                     "checksum mismatch for backup " + m.id + " (" + f.path.string() +
                         "): manifest says xxh3-128 " + m.checksum.hex + ", file hashes to " +
                         actual.hex +
                         " (the file changed after it was written: do not restore it)");
    }
};

}  // namespace dbsafe
