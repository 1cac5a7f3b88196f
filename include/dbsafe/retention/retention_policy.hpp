// The retention_policy concept: a pure function from the manifests in a backup directory and
// a given `now` to a decision, with reasons, for every backup. Pure so it can be tested with a
// fixed clock and shown with --dry-run before anything is deleted.
#pragma once

#include <chrono>
#include <concepts>
#include <span>
#include <string>
#include <vector>

#include "dbsafe/manifest.hpp"

namespace dbsafe {

struct retention_decision {
    std::string id;
    bool keep = true;
    std::vector<std::string> reasons;  // "kept: newest", "deleted: older than 30 days", ...
    // Kept by a rule that a size cap (max_total_size) must not override, e.g. keep_kinds: a
    // pre_migration backup the user pinned is worth more than the disk budget.
    bool pinned = false;
};

template <class R>
concept retention_policy = requires(const R& r, std::span<const manifest> backups,
                                    std::chrono::system_clock::time_point now) {
    { r.plan(backups, now) } -> std::same_as<std::vector<retention_decision>>;
};

// Keeps everything: the policy of a vault that never prunes.
struct keep_all {
    [[nodiscard]] std::vector<retention_decision> plan(
        std::span<const manifest> backups, std::chrono::system_clock::time_point) const {
        std::vector<retention_decision> out;
        out.reserve(backups.size());
        for (const auto& m : backups) out.push_back({m.id, true, {"kept: keep_all"}});
        return out;
    }
};

}  // namespace dbsafe
