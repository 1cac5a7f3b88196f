// standard_checks: the verifier chosen at run time (the CLI's --verify full|quick|none and
// --require-table), and the vault's default: checksum, then quick or integrity check, then the
// required tables.
#pragma once

#include <string>
#include <vector>

#include "dbsafe/error.hpp"
#include "dbsafe/verify/checksum_matches.hpp"
#include "dbsafe/verify/required_tables.hpp"
#include "dbsafe/verify/sqlite_checks.hpp"
#include "dbsafe/verify/verifier.hpp"

namespace dbsafe {

enum class check_level { full, quick, none };

struct standard_checks {
    check_level level = check_level::full;
    std::vector<std::string> required{};  // table names
    bool checksum = true;
    bool memory_mapped = false;  // SQLite's checks read through a memory map (sqlite_checks.hpp)

    [[nodiscard]] result<void> verify(const backup_file& f) const {
        if (checksum) DBSAFE_TRYV(checksum_matches{}.verify(f));
        switch (level) {
            case check_level::full:
                DBSAFE_TRYV(integrity_check{.max_messages = 10, .memory_mapped = memory_mapped}.verify(f));
                break;
            case check_level::quick:
                DBSAFE_TRYV(quick_check{.max_messages = 10, .memory_mapped = memory_mapped}.verify(f));
                break;
            case check_level::none:
                break;
        }
        return required_tables{required}.verify(f);
    }
};

}  // namespace dbsafe
