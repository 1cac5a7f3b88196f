// keep_any_of<Rules...>, written `a | b | c`: a backup is kept if any keep rule keeps it; its
// reasons are those of every rule that kept it (or, when deleted, of every rule that did not).
// Limits (max_total_size) are applied after the union, wherever they stand in the expression:
// `|` is commutative and associative, and `(a | b) | c` flattens to keep_any_of<A, B, C>.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dbsafe/manifest.hpp"
#include "dbsafe/retention/retention_limit.hpp"
#include "dbsafe/retention/retention_policy.hpp"

namespace dbsafe {

namespace detail {

// Unites the plans of several keep rules over the same backups, matching decisions by id so a
// rule may list them in any order.
class plan_union {
  public:
    explicit plan_union(std::span<const manifest> backups) : backups_(backups) {
        entries_.resize(backups.size());
        for (std::size_t i = 0; i < backups.size(); ++i) index_.emplace(backups[i].id, i);
    }

    void add(const std::vector<retention_decision>& plan) {
        any_rule_ = true;
        for (const auto& d : plan) {
            const auto found = index_.find(d.id);
            if (found == index_.end()) continue;  // a rule that invents ids cannot delete them
            auto& e = entries_[found->second];
            e.decided = true;
            auto& into = d.keep ? e.kept : e.deleted;
            into.insert(into.end(), d.reasons.begin(), d.reasons.end());
            e.keep = e.keep || d.keep;
            e.pinned = e.pinned || (d.keep && d.pinned);
        }
    }

    // Without any keep rule (only limits, or nothing) the union keeps everything; a backup no
    // rule decided on is kept too: deleting needs a reason.
    [[nodiscard]] std::vector<retention_decision> decisions() const {
        std::vector<retention_decision> out;
        out.reserve(backups_.size());
        for (std::size_t i = 0; i < backups_.size(); ++i) {
            const auto& e = entries_[i];
            if (!any_rule_) {
                out.push_back({backups_[i].id, true, {}, false});
            } else if (!e.decided) {
                out.push_back({backups_[i].id, true, {"kept: no rule decided on it"}, false});
            } else {
                out.push_back({backups_[i].id, e.keep, e.keep ? e.kept : e.deleted, e.pinned});
            }
        }
        return out;
    }

  private:
    struct entry {
        bool decided = false;
        bool keep = false;
        bool pinned = false;
        std::vector<std::string> kept{};
        std::vector<std::string> deleted{};
    };
    std::span<const manifest> backups_;
    std::unordered_map<std::string, std::size_t> index_;
    std::vector<entry> entries_;
    bool any_rule_ = false;
};

// Kept backups that no rule gave a reason (the union of nothing, then a limit) say why.
inline void explain_unruled_keeps(std::vector<retention_decision>& decisions) {
    for (auto& d : decisions) {
        if (d.keep && d.reasons.empty()) d.reasons.emplace_back("kept: no keep rule given");
    }
}

}  // namespace detail

template <retention_policy... Rules>
struct keep_any_of {
    using keep_any_of_tag = void;  // marks unions (and types derived from them) for flattening
    std::tuple<Rules...> rules;

    [[nodiscard]] std::vector<retention_decision> plan(
        std::span<const manifest> backups, std::chrono::system_clock::time_point now) const {
        detail::plan_union all(backups);
        std::apply(
            [&](const auto&... r) {
                (
                    [&] {
                        if constexpr (!retention_limit<std::remove_cvref_t<decltype(r)>>) {
                            all.add(r.plan(backups, now));
                        }
                    }(),
                    ...);
            },
            rules);
        auto out = all.decisions();
        std::apply(
            [&](const auto&... r) {
                (
                    [&] {
                        if constexpr (retention_limit<std::remove_cvref_t<decltype(r)>>) {
                            r.limit(backups, out);
                        }
                    }(),
                    ...);
            },
            rules);
        detail::explain_unruled_keeps(out);
        return out;
    }
};

namespace detail {

template <class R>
auto rules_of(R r) {
    if constexpr (requires { typename R::keep_any_of_tag; }) {
        return std::move(r.rules);
    } else {
        return std::tuple<R>{std::move(r)};
    }
}

template <class... Rules>
keep_any_of<Rules...> make_keep_any_of(std::tuple<Rules...> rules) {
    return keep_any_of<Rules...>{std::move(rules)};
}

}  // namespace detail

template <retention_policy A, retention_policy B>
auto operator|(A a, B b) {
    return detail::make_keep_any_of(
        std::tuple_cat(detail::rules_of(std::move(a)), detail::rules_of(std::move(b))));
}

}  // namespace dbsafe
