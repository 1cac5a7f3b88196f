// max_total_size{bytes}: a disk budget. While the backups a plan keeps occupy more than `bytes`
// on disk, the oldest of them is deleted ("deleted: over the 10.0 GiB size cap, oldest first").
// It is a limit (see retention_limit.hpp), not a keep rule: in `keep_within{30 days} |
// max_total_size{10 GiB}` the cap trims what keep_within keeps.
//
// Two kinds of backup are exempt, because a budget must not destroy what matters most:
//  - the newest backup: a cap never leaves a directory without a backup;
//  - pinned keeps (keep_kinds, e.g. pre_migration): the user named them as must-keep.
// When the exempt backups alone exceed the budget the plan says so in their reasons ("kept:
// exempt from the 10.0 GiB size cap: newest backup") and `dbsafe health` reports the overrun.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dbsafe/detail/format_bytes.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/retention/newest_first.hpp"
#include "dbsafe/retention/retention_limit.hpp"
#include "dbsafe/retention/retention_policy.hpp"

namespace dbsafe {

struct max_total_size {
    std::uint64_t bytes = 0;

    void limit(std::span<const manifest> backups,
               std::vector<retention_decision>& decisions) const {
        const std::string cap = detail::format_bytes(bytes);
        const auto order = detail::newest_first(backups);
        std::uint64_t total = 0;
        for (std::size_t i = 0; i < backups.size(); ++i) {
            if (decisions[i].keep) total += detail::disk_bytes(backups[i]);
        }
        for (auto it = order.rbegin(); it != order.rend() && total > bytes; ++it) {
            auto& d = decisions[*it];
            if (!d.keep || d.pinned || *it == order.front()) continue;
            std::string overridden;
            for (const auto& r : d.reasons) overridden += (overridden.empty() ? "" : "; ") + r;
            d.keep = false;
            d.reasons = {"deleted: over the " + cap + " size cap, oldest first" +
                         (overridden.empty() ? "" : " (overrides " + overridden + ")")};
            total -= detail::disk_bytes(backups[*it]);
        }
        if (total <= bytes) return;
        for (std::size_t i = 0; i < backups.size(); ++i) {
            auto& d = decisions[i];
            if (!d.keep) continue;
            d.reasons.push_back("kept: exempt from the " + cap +
                                " size cap: " + (d.pinned ? "pinned" : "newest backup"));
        }
    }

    [[nodiscard]] std::vector<retention_decision> plan(
        std::span<const manifest> backups, std::chrono::system_clock::time_point) const {
        std::vector<retention_decision> out;
        out.reserve(backups.size());
        for (const auto& m : backups) out.push_back({m.id, true, {}, false});
        limit(backups, out);
        for (auto& d : out) {
            if (d.keep && d.reasons.empty()) {
                d.reasons.push_back("kept: within the " + detail::format_bytes(bytes) +
                                    " size cap");
            }
        }
        return out;
    }
};

static_assert(retention_limit<max_total_size>);

}  // namespace dbsafe
