// A vault whose snapshot strategy has no copy() is rejected with a sentence naming it.
// expect: Snapshot must provide .result<snapshot_info> copy
#include "dbsafe/dbsafe.hpp"

struct no_copy {
    [[nodiscard]] std::string_view method_name() const noexcept { return "none"; }
};

dbsafe::basic_vault<no_copy, dbsafe::standard_checks, dbsafe::keep_all, dbsafe::local_directory> v;
