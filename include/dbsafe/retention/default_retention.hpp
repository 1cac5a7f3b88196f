// default_retention: the seed's FR-024 as a policy value — delete backups older than 30 days,
// never a pre_migration backup, always keep the newest:
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
