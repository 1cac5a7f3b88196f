// keep_within{period}: keeps every backup created at most `period` before now ("kept: within 30
// days"); older ones get "deleted: older than 30 days". A backup dated after now (a clock that
// jumped back) counts as young: skew must never make a fresh backup look deletable.
#pragma once

#include <chrono>
#include <span>
#include <vector>

#include "dbsafe/manifest.hpp"
#include "dbsafe/parse_units.hpp"
#include "dbsafe/retention/retention_policy.hpp"

namespace dbsafe {

struct keep_within {
    std::chrono::seconds period{std::chrono::days{30}};

    [[nodiscard]] std::vector<retention_decision> plan(
        std::span<const manifest> backups, std::chrono::system_clock::time_point now) const {
        const std::string span_text = format_duration(period);
        std::vector<retention_decision> out;
        out.reserve(backups.size());
        for (const auto& m : backups) {
            const bool keep = now - m.created_at <= period;
            out.push_back(
                {m.id,
                 keep,
                 {keep ? "kept: within " + span_text : "deleted: older than " + span_text},
                 false});
        }
        return out;
    }
};

static_assert(retention_policy<keep_within>);

}  // namespace dbsafe
