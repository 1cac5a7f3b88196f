// retention_rules: a policy assembled at run time (the CLI's --keep-* flags, a config file)
// with the same semantics as `a | b | c`: kept if any keep rule keeps it, then every limit.
// With no rule at all it keeps everything: an empty policy must never mean "delete all".
#pragma once

#include <chrono>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "dbsafe/manifest.hpp"
#include "dbsafe/retention/keep_any_of.hpp"
#include "dbsafe/retention/retention_limit.hpp"
#include "dbsafe/retention/retention_policy.hpp"

namespace dbsafe {

class retention_rules {
  public:
    template <retention_policy R>
    retention_rules& add(R rule) {
        if constexpr (retention_limit<R>) {
            limits_.emplace_back([r = std::move(rule)](std::span<const manifest> backups,
                                                       std::vector<retention_decision>& out) {
                r.limit(backups, out);
            });
        } else {
            keeps_.emplace_back([r = std::move(rule)](std::span<const manifest> backups,
                                                      std::chrono::system_clock::time_point now) {
                return r.plan(backups, now);
            });
        }
        return *this;
    }

    [[nodiscard]] bool has_keep_rules() const noexcept { return !keeps_.empty(); }
    [[nodiscard]] bool empty() const noexcept { return keeps_.empty() && limits_.empty(); }

    [[nodiscard]] std::vector<retention_decision> plan(
        std::span<const manifest> backups, std::chrono::system_clock::time_point now) const {
        detail::plan_union all(backups);
        for (const auto& keep : keeps_) all.add(keep(backups, now));
        auto out = all.decisions();
        for (const auto& limit : limits_) limit(backups, out);
        detail::explain_unruled_keeps(out);
        return out;
    }

  private:
    using keep_fn = std::function<std::vector<retention_decision>(
        std::span<const manifest>, std::chrono::system_clock::time_point)>;
    using limit_fn =
        std::function<void(std::span<const manifest>, std::vector<retention_decision>&)>;
    std::vector<keep_fn> keeps_;
    std::vector<limit_fn> limits_;
};

static_assert(retention_policy<retention_rules>);

}  // namespace dbsafe
