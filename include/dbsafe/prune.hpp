// prune: applies a retention plan to a backup directory and sweeps what crashes left behind.
//
//  - The plan comes from the retention policy alone (pure: manifests + now). Backups the policy
//    does not mention, and `protected_ids`, are kept: deleting needs a reason. So is the newest
//    backup of each source database (and its newest non-safety one) unless
//    `allow_delete_newest`: no policy can empty a directory by accident.
//  - Only backups whose manifests passed their checks are planned (listing::backups): a damaged
//    manifest's created_at or size never decides anything, and it is never deleted.
//  - Each deletion goes through Storage::remove, which removes the manifest first and the data
//    second: a crash in between leaves a data file without manifest (debris, which list and
//    verify report and the next prune sweeps), never a manifest pointing at nothing.
//  - Debris (only names dbsafe creates: storage/backup_file_names.hpp) is swept once untouched
//    for `debris_grace` (see storage/debris_triage.hpp for why the grace period protects a backup
//    in progress). Damaged backups (a manifest that does not parse or fails its checks) are
//    reported as left_foreign, never deleted: a person must look. Other files are never seen.
//  - A storage target whose backups share data (a page repository: each page stored once for
//    every snapshot holding it) frees that data only by a garbage collection
//    (storage/garbage_collection.hpp): prune runs it last, after its removals and the debris
//    sweep, so what the removed backups alone needed is freed by the same run. Its report
//    joins prune's; a failed collection never undoes the removals (they are each whole), it
//    is reported and the next prune collects.
//  - `dry_run` computes and reports everything and changes nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/parse_units.hpp"
#include "dbsafe/retention/newest_first.hpp"
#include "dbsafe/retention/retention_policy.hpp"
#include "dbsafe/source_identity.hpp"
#include "dbsafe/storage/backup_file_names.hpp"
#include "dbsafe/storage/debris_triage.hpp"
#include "dbsafe/storage/garbage_collection.hpp"
#include "dbsafe/storage/storage_target.hpp"

namespace dbsafe {

struct prune_options {
    bool dry_run = false;
    // Debris younger than this may belong to a backup in progress. It must exceed the longest
    // backup (copy + verify; integrity_check alone runs at about 6 s/GiB).
    std::chrono::seconds debris_grace{std::chrono::hours{24}};
    std::optional<std::chrono::system_clock::time_point> now{};  // empty: the vault's clock
    std::vector<std::string> protected_ids{};                    // kept whatever the policy says
    // Only the backups of this database (source_identity.hpp); empty: every backup. Debris is
    // swept either way: it belongs to no database.
    std::filesystem::path database{};
    // Every prune keeps the newest backup of each source database (source_key()), and its
    // newest non-safety backup (what `restore --latest` picks), whatever the policy says: a
    // zero-length window, a lone --keep-kind or a --now far ahead must never empty the
    // directory. Only this flag (CLI: --allow-delete-newest) lets the policy delete them too.
    bool allow_delete_newest = false;
};

struct pruned_backup {
    manifest backup;
    retention_decision decision;
    bool removed = false;            // deleted by this run (never in a dry run)
    std::optional<error> failure{};  // why the deletion failed
};

enum class debris_action {
    removed,       // swept by this run
    would_remove,  // a dry run would sweep it
    left_recent,   // younger than the grace period: may be a backup in progress
    left_foreign,  // a damaged backup (listing::damaged): a person must look
    failed,        // sweeping it failed (see note)
};

constexpr std::string_view to_string(debris_action a) noexcept {
    switch (a) {
        case debris_action::removed:
            return "removed";
        case debris_action::would_remove:
            return "would_remove";
        case debris_action::left_recent:
            return "left_recent";
        case debris_action::left_foreign:
            return "left_foreign";
        case debris_action::failed:
            return "failed";
    }
    return "failed";
}

struct swept_debris {
    debris item;
    debris_action action = debris_action::left_foreign;
    std::string note;  // why it was left, or why sweeping failed
};

struct prune_report {
    std::chrono::system_clock::time_point now{};
    bool dry_run = false;
    std::vector<pruned_backup> backups{};  // every backup, newest first, with its decision
    std::vector<swept_debris> debris{};
    std::uint64_t bytes_freed = 0;  // or, in a dry run, that would be freed
    // The storage's garbage collection, when it has one (collects_garbage): what it removed
    // (its bytes_freed() is in bytes_freed too), or why it failed.
    std::optional<gc_report> garbage{};
    std::optional<error> garbage_failure{};

    // True when every planned deletion and sweep succeeded.
    [[nodiscard]] bool complete() const noexcept {
        if (garbage_failure || (garbage && !garbage->failures.empty())) return false;
        for (const auto& b : backups) {
            if (b.failure) return false;
        }
        for (const auto& d : debris) {
            if (d.action == debris_action::failed) return false;
        }
        return true;
    }
    [[nodiscard]] std::size_t deletions() const noexcept {
        std::size_t n = 0;
        for (const auto& b : backups) n += b.decision.keep ? 0 : 1;
        return n;
    }
};

// Pruning after every successful backup (vault_options::prune_after_backup). The backup just
// taken is always protected, and a failed prune never fails the backup that triggered it (that
// backup is safely published; retrying it would only add another): the outcome goes to on_done.
struct auto_prune {
    bool enabled = false;
    prune_options options{};
    std::function<void(const result<prune_report>&)> on_done{};
};

namespace detail {

// What removing the backup's own files frees. A page snapshot's own file is its snapshot
// object; the pages it alone held are freed (and counted) by the garbage collection.
inline std::uint64_t removal_bytes(const manifest& m) {
    return m.pages ? m.pages->object_size : disk_bytes(m);
}

inline swept_debris sweep_one(const debris& d, std::chrono::system_clock::time_point now,
                              const prune_options& opts, auto&& remove) {
    swept_debris out{d, debris_action::left_foreign, {}};
    auto age = untouched_for(d.path, now);
    if (!age) {
        // Gone since the listing (a concurrent prune or a backup that just published): fine.
        if (age.error().code == std::errc::no_such_file_or_directory) {
            out.action = debris_action::removed;
            out.note = "already gone";
            return out;
        }
        out.action = debris_action::failed;
        out.note = age.error().message;
        return out;
    }
    if (age.value() < opts.debris_grace) {
        out.action = debris_action::left_recent;
        out.note = "modified " + format_duration(age.value()) + " ago, within the " +
                   format_duration(opts.debris_grace) +
                   " grace period: it may belong to a backup in progress";
        return out;
    }
    if (opts.dry_run) {
        out.action = debris_action::would_remove;
        return out;
    }
    if (auto removed = remove(d); !removed) {
        out.action = debris_action::failed;
        out.note = removed.error().message;
        return out;
    }
    out.action = debris_action::removed;
    return out;
}

}  // namespace detail

template <retention_policy Retention, storage_target Storage>
result<prune_report> prune(Storage& storage, const Retention& policy,
                           std::chrono::system_clock::time_point now,
                           const prune_options& opts = {}) {
    DBSAFE_TRY(listing listed, storage.list());
    if (!opts.database.empty()) detail::keep_backups_of(listed, opts.database);
    prune_report report;
    report.now = now;
    report.dry_run = opts.dry_run;

    const auto plan = policy.plan(listed.backups, now);
    std::unordered_map<std::string, const retention_decision*> by_id;
    for (const auto& d : plan) by_id.emplace(d.id, &d);

    std::set<std::string> seen_sources;     // of which the newest backup was met
    std::set<std::string> seen_restorable;  // of which the newest non-safety backup was met
    for (const std::size_t i : detail::newest_first(listed.backups)) {
        manifest& m = listed.backups[i];
        retention_decision decision{m.id, true, {"kept: the retention policy gave no decision"}};
        if (const auto found = by_id.find(m.id); found != by_id.end()) {
            decision = *found->second;
        }
        for (const auto& id : opts.protected_ids) {
            if (id == m.id && !decision.keep) {
                decision.keep = true;
                decision.reasons = {"kept: protected (the backup just taken, or in use)"};
            }
        }
        // An interrupted migration's record names this backup: recover() needs it to roll the
        // database back (migration_record.hpp), so no policy may delete it first.
        if (!decision.keep &&
            detail::is_regular_no_follow(storage.location() / (m.id + migration_record_suffix))) {
            decision.keep = true;
            decision.reasons = {
                "kept: a migration record points at it (recovering the database settles the "
                "record)"};
        }
        // Newest first, so the first backup met of a source is its newest.
        const std::string source = source_key(m);
        const bool newest = seen_sources.insert(source).second;
        const bool newest_restorable =
            m.kind != backup_kind::safety && seen_restorable.insert(source).second;
        if ((newest || newest_restorable) && !decision.keep && !opts.allow_delete_newest) {
            decision.keep = true;
            decision.reasons = {std::string("kept: the newest ") +
                                (newest ? "backup" : "non-safety backup") + " of " +
                                (source.empty() ? std::string("its database") : source) +
                                " (every prune keeps it, unless asked to delete the newest "
                                "too)"};
        }
        report.backups.push_back({std::move(m), std::move(decision)});
    }

    for (auto& b : report.backups) {
        if (b.decision.keep) continue;
        if (opts.dry_run) {
            report.bytes_freed += detail::removal_bytes(b.backup);
            continue;
        }
        auto removed = storage.remove(b.backup.id);
        if (!removed && !removed.error().is(errc::not_found)) {  // not_found: someone was faster
            b.failure = removed.error();
            continue;
        }
        b.removed = true;
        report.bytes_freed += detail::removal_bytes(b.backup);
    }

    for (const auto& d : listed.leftovers) {
        report.debris.push_back(detail::sweep_one(
            d, now, opts, [&](const debris& x) { return storage.remove_debris(x); }));
    }
    for (const auto& d : listed.damaged) {
        report.debris.push_back({d, debris_action::left_foreign,
                                 "a damaged backup, not debris: prune never deletes it; inspect "
                                 "it and remove it by hand"});
    }
    if constexpr (collects_garbage<Storage>) {
        gc_options gc{.dry_run = opts.dry_run, .debris_grace = opts.debris_grace, .now = now};
        if (opts.dry_run) {
            for (const auto& b : report.backups) {
                if (!b.decision.keep) gc.assume_removed.push_back(b.backup.id);
            }
        }
        auto collected = storage.collect_garbage(gc);
        if (collected) {
            report.bytes_freed += collected.value().bytes_freed();
            report.garbage = std::move(collected).value();
        } else {
            report.garbage_failure = collected.error();
        }
    }
    return report;
}

}  // namespace dbsafe
