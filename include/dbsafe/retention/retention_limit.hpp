// The retention_limit concept: a rule that removes backups from a plan instead of keeping them
// (max_total_size). Inside `a | b | limit` the keep rules are united first and every limit is
// then applied to that union, wherever it stands in the expression: a limit that merely "kept"
// what fits under it would, united with the other rules, never delete anything, and the cap
// would be a cap in name only.
#pragma once

#include <concepts>
#include <span>
#include <vector>

#include "dbsafe/manifest.hpp"
#include "dbsafe/retention/retention_policy.hpp"

namespace dbsafe {

// `decisions[i]` is the decision for `backups[i]`; limit() may only turn keeps into deletes.
template <class L>
concept retention_limit = retention_policy<L> &&
    requires(const L& l, std::span<const manifest> backups,
             std::vector<retention_decision>& decisions) {
    { l.limit(backups, decisions) } -> std::same_as<void>;
};

}  // namespace dbsafe
