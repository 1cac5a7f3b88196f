// default_retention: the policy a vault prunes with unless told otherwise — delete backups older
// than 30 days (a month of history to go back to), never a pre_migration backup (the way back
// from a migration), always keep the newest (a prune never leaves a database without a backup):
//     keep_within{30 days} | keep_kinds{pre_migration} | keep_last{1}
// It is that very union (a keep_any_of), so `default_retention{} | max_total_size{...}` adds a
// disk budget to it.
#pragma once

#include <chrono>
#include <tuple>

#include "dbsafe/backup_kind.hpp"
#include "dbsafe/retention/keep_any_of.hpp"
#include "dbsafe/retention/keep_kinds.hpp"
#include "dbsafe/retention/keep_last.hpp"
#include "dbsafe/retention/keep_within.hpp"

namespace dbsafe {

struct default_retention : keep_any_of<keep_within, keep_kinds, keep_last> {
    default_retention()
        : keep_any_of<keep_within, keep_kinds, keep_last>{
              std::tuple{keep_within{std::chrono::days{30}}, keep_kinds{backup_kind::pre_migration},
                         keep_last{1}}} {}
};

static_assert(retention_policy<default_retention>);

}  // namespace dbsafe
