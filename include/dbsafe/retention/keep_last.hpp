// keep_last{n}: keeps the n newest backups, whatever their age or kind ("kept: newest",
// "kept: among the newest 5"). keep_last{1} is how the default policy guarantees that pruning
// never leaves a directory without a backup.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "dbsafe/manifest.hpp"
#include "dbsafe/retention/newest_first.hpp"
#include "dbsafe/retention/retention_policy.hpp"

namespace dbsafe {

struct keep_last {
    std::size_t count = 1;

    [[nodiscard]] std::vector<retention_decision> plan(
        std::span<const manifest> backups, std::chrono::system_clock::time_point) const {
        std::vector<retention_decision> out;
        out.reserve(backups.size());
        for (const auto& m : backups) out.push_back({m.id, false, {}, false});
        const auto order = detail::newest_first(backups);
        const std::string n = std::to_string(count);
        for (std::size_t rank = 0; rank < order.size(); ++rank) {
            auto& d = out[order[rank]];
            d.keep = rank < count;
            if (d.keep) {
                d.reasons.push_back(rank == 0 ? "kept: newest" : "kept: among the newest " + n);
            } else {
                d.reasons.push_back(count == 1 ? "deleted: not the newest"
                                               : "deleted: not among the newest " + n);
            }
        }
        return out;
    }
};

static_assert(retention_policy<keep_last>);

}  // namespace dbsafe
