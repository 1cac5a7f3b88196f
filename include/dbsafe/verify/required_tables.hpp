// required_tables: the backup must contain these tables (an empty database passes
// integrity_check; it is still not a backup of your application).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/verify/database_verifier.hpp"
#include "dbsafe/verify/verifier.hpp"

namespace dbsafe {

struct required_tables {
    std::vector<std::string> names;

    [[nodiscard]] result<void> check(const checked_database& d) const {
        if (names.empty()) return success();
        auto present = detail::query_column(
            d.db, "SELECT name FROM sqlite_schema WHERE type IN ('table','view')");
        if (!present) {
            return error(errc::verification_failed,
                         "cannot read the schema of " + d.name + ": " + present.error().message);
        }
        std::string missing;
        for (const auto& n : names) {
            if (std::find(present.value().begin(), present.value().end(), n) ==
                present.value().end()) {
                missing += missing.empty() ? n : ", " + n;
            }
        }
        if (missing.empty()) return success();
        if (d.subject == check_subject::restored_live ||
            d.subject == check_subject::restored_file) {
            return error(errc::missing_tables,
                         d.name + " lacks required table(s) after the copy: " + missing);
        }
        return error(errc::missing_tables, d.name + " lacks required table(s): " + missing +
                                               " (is this a backup of the right database?)");
    }

    [[nodiscard]] result<void> verify(const backup_file& f) const {
        if (names.empty()) return success();
        return check_backup_file(*this, f);
    }
    // check() judges a fresh snapshot as verify() would (verifier.hpp).
    [[nodiscard]] static constexpr bool needs_file_of_fresh_snapshot() noexcept { return false; }
};

}  // namespace dbsafe
