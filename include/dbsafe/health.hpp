// health: "are my backups healthy?" as a list of findings, each a sentence a person can act on.
// Unhealthy when: there is no backup; the newest is older than max_age; the backups occupy more
// than max_total_size; the newest fails verification; a backup's manifest fails its checks; or
// debris is present; the storage's shared data (a page repository) fails its structure check
// (storage/repository_check.hpp), each problem naming the backups it affects. Everything is
// checked and every finding reported (a monitoring check should not hide the second problem
// behind the first).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbsafe/detail/format_bytes.hpp"
#include "dbsafe/detail/iso8601.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/parse_units.hpp"
#include "dbsafe/retention/newest_first.hpp"
#include "dbsafe/source_identity.hpp"
#include "dbsafe/storage/debris_triage.hpp"
#include "dbsafe/storage/repository_check.hpp"
#include "dbsafe/storage/storage_target.hpp"
#include "dbsafe/verify/verifier.hpp"

namespace dbsafe {

struct health_options {
    std::optional<std::chrono::seconds> max_age{};  // e.g. 26h for a daily schedule
    std::optional<std::uint64_t> max_total_size{};  // bytes on disk
    bool verify_newest = true;                      // run the vault's verifier on the newest
    std::chrono::seconds debris_grace{std::chrono::hours{24}};   // as prune_options: younger
                                                                 // debris may be a running backup
    std::optional<std::chrono::system_clock::time_point> now{};  // empty: the vault's clock
    std::filesystem::path database{};  // only this database's backups (source_identity.hpp)
    // When the storage shares data between backups (checks_repository): check its structure
    // (every object present, parsing and agreeing; no page is read, so it stays cheap).
    bool check_repository = true;
};

enum class health_check {
    no_backup,
    too_old,
    too_large,
    verification_failed,
    debris,
    damaged_backup,      // a manifest that fails its checks (listing::damaged)
    repository_damaged,  // the data backups share is missing or damaged (repository_check.hpp)
};

constexpr std::string_view to_string(health_check c) noexcept {
    switch (c) {
        case health_check::no_backup:
            return "no_backup";
        case health_check::too_old:
            return "too_old";
        case health_check::too_large:
            return "too_large";
        case health_check::verification_failed:
            return "verification_failed";
        case health_check::debris:
            return "debris";
        case health_check::damaged_backup:
            return "damaged_backup";
        case health_check::repository_damaged:
            return "repository_damaged";
    }
    return "debris";
}

struct health_finding {
    health_check check;
    std::string message;
};

struct health_report {
    std::vector<health_finding> findings{};
    std::size_t backup_count = 0;
    std::uint64_t total_bytes = 0;  // on disk, of the complete backups
    std::optional<manifest> newest{};

    [[nodiscard]] bool healthy() const noexcept { return findings.empty(); }
    [[nodiscard]] bool has(health_check c) const noexcept {
        for (const auto& f : findings) {
            if (f.check == c) return true;
        }
        return false;
    }
};

namespace detail {

// "3 days", "26 hours", "12 minutes": an age rounded down to a unit a person reads at a glance.
inline std::string describe_age(std::chrono::seconds age) {
    using namespace std::chrono;
    if (age >= days{2}) return format_duration(floor<days>(age));
    if (age >= hours{2}) return format_duration(floor<hours>(age));
    if (age >= minutes{1}) return format_duration(floor<minutes>(age));
    return format_duration(age);
}

// One finding per problem of the storage's shared data, naming the backups it takes down.
template <checks_repository Storage>
void add_repository_findings(const Storage& storage, health_report& report) {
    auto checked = storage.check(check_depth::structure);
    if (!checked) {
        report.findings.push_back({health_check::repository_damaged,
                                   "the repository in " +
                                       std::filesystem::path(storage.location()).string() +
                                       " cannot be checked: " + checked.error().message});
        return;
    }
    for (const auto& p : checked.value().problems) {
        std::string ids;
        for (const auto& id : p.snapshots) ids += (ids.empty() ? "" : ", ") + id;
        report.findings.push_back(
            {health_check::repository_damaged,
             p.object + ": " + p.what +
                 (ids.empty() ? std::string("; no backup needs it")
                              : "; backups that cannot be restored: " + ids)});
    }
}

}  // namespace detail

// Lists `storage` once and judges it. Fails only when the directory cannot be listed (then
// nothing can be said); every problem with the backups themselves is a finding.
template <storage_target Storage, verifier Verifier>
result<health_report> check_health(const Storage& storage, const Verifier& verification,
                                   std::chrono::system_clock::time_point now,
                                   const health_options& opts = {}) {
    DBSAFE_TRY(listing listed, storage.list());
    if (!opts.database.empty()) detail::keep_backups_of(listed, opts.database);
    const std::string where = std::filesystem::path(storage.location()).string();
    health_report report;
    report.backup_count = listed.backups.size();
    for (const auto& m : listed.backups) report.total_bytes += detail::disk_bytes(m);

    if (listed.backups.empty()) {
        report.findings.push_back(
            {health_check::no_backup, "no backup in " + where + ": take one"});
    } else {
        const manifest& newest = listed.backups[detail::newest_first(listed.backups).front()];
        report.newest = newest;
        const auto age = std::chrono::floor<std::chrono::seconds>(now - newest.created_at);
        if (opts.max_age && age > *opts.max_age) {
            report.findings.push_back(
                {health_check::too_old,
                 "the newest backup " + newest.id + " was taken " + detail::describe_age(age) +
                     " ago (" + detail::format_iso8601(newest.created_at) + "), more than the " +
                     format_duration(*opts.max_age) +
                     " allowed: backups have stopped; check the schedule or job that takes "
                     "them"});
        }
        // Restore's byte copy of a damaged database is no SQLite image: the newest backup
        // that is one is what a restore would use, so that is the one verified.
        const manifest* image = nullptr;
        for (const std::size_t i : detail::newest_first(listed.backups)) {
            if (listed.backups[i].method != file_copy_method) {
                image = &listed.backups[i];
                break;
            }
        }
        if (opts.verify_newest && image != nullptr) {
            const manifest& newest_image = *image;
            auto checked = [&]() -> result<void> {
                DBSAFE_TRY(auto readable, storage.open(newest_image.id));
                return verification.verify(backup_file{readable.path, &readable.description});
            }();
            if (!checked) {
                report.findings.push_back(
                    {health_check::verification_failed,
                     "the newest backup " + newest_image.id +
                         " fails verification: " + checked.error().message +
                         "; do not rely on it: take a new backup and find out what damaged it"});
            }
        }
    }
    if (opts.max_total_size && report.total_bytes > *opts.max_total_size) {
        report.findings.push_back(
            {health_check::too_large,
             "the " + std::to_string(report.backup_count) + " backups in " + where + " occupy " +
                 detail::format_bytes(report.total_bytes) + ", more than the " +
                 detail::format_bytes(*opts.max_total_size) +
                 " allowed: prune them (e.g. with a total-size limit in the retention policy) "
                 "or raise the limit"});
    }
    for (const auto& d : listed.damaged) {
        report.findings.push_back(
            {health_check::damaged_backup,
             d.path.string() + " is a damaged backup: " + d.reason +
                 "; prune leaves it alone: inspect it and remove its files by hand"});
    }
    for (const auto& d : listed.leftovers) {
        const auto age = detail::untouched_for(d.path, now);
        if (!age) {
            // Gone since the listing (a backup just published, or a prune swept it): fine.
            if (age.error().code == std::errc::no_such_file_or_directory) continue;
            report.findings.push_back({health_check::debris, age.error().message});
            continue;
        }
        if (age.value() < opts.debris_grace) continue;  // may be a backup in progress
        report.findings.push_back(
            {health_check::debris, d.path.string() + " is not a complete backup (" + d.reason +
                                       ", untouched for " + detail::describe_age(age.value()) +
                                       "): a prune removes it"});
    }
    if constexpr (checks_repository<Storage>) {
        if (opts.check_repository) detail::add_repository_findings(storage, report);
    }
    return report;
}

}  // namespace dbsafe
