// all_of(a, b, ...): a verifier that runs each check in order and stops at the first failure,
// so the cheap checks (checksum) can guard the expensive ones (integrity_check). At backup time
// it forwards record() to the members that have one (sha256_seal), and on an open database
// check() to the members that have one (database_verifier.hpp: the SQLite checks, tables,
// check_with), so restore applies them to the database it restored; and the SQLite check that
// its verify() ran, for the manifest's `verified` record (attested_checks).
#pragma once

#include <filesystem>
#include <string>
#include <tuple>
#include <utility>

#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/verify/database_verifier.hpp"
#include "dbsafe/verify/verifier.hpp"

namespace dbsafe {

template <verifier... Checks>
struct all_of {
    static_assert((!has_unusable_check<Checks> && ...),
                  "a member of all_of has a check() member that does not match `result<void> "
                  "check(const checked_database&) const`, so restore would never apply it to the "
                  "restored database (see verify/database_verifier.hpp)");
    std::tuple<Checks...> checks;

    all_of() = default;
    explicit all_of(Checks... cs) : checks(std::move(cs)...) {}

    // The file is needed when any member needs it (verifier.hpp).
    [[nodiscard]] bool needs_file_of_fresh_snapshot() const {
        return std::apply(
            [](const auto&... c) { return (detail::fresh_snapshot_needs_file(c) || ...); }, checks);
    }

    [[nodiscard]] result<void> verify(const backup_file& f) const {
        result<void> out = success();
        std::apply(
            [&](const auto&... c) { (void)((out = c.verify(f), static_cast<bool>(out)) && ...); },
            checks);
        return out;
    }

    // An open database (database_verifier.hpp): every member that checks one does, in order,
    // until one fails; the file-only members (checksum, seal) have nothing to check there.
    [[nodiscard]] result<void> check(const checked_database& d) const
        requires(database_verifier<Checks> || ...) {
        result<void> out = success();
        std::apply(
            [&](const auto&... c) {
                (void)((out = detail::check_if_any(c, d), static_cast<bool>(out)) && ...);
            },
            checks);
        return out;
    }

    // Backup time (verifier.hpp): the SQLite check the first attesting member ran.
    [[nodiscard]] std::string attested_checks() const requires(attesting_verifier<Checks> || ...) {
        std::string out;
        std::apply(
            [&](const auto&... c) {
                (void)((out = detail::attested_checks_if_any(c), out.empty()) && ...);
            },
            checks);
        return out;
    }

    // Backup time (verifier.hpp): every member that records does, in order, until one fails.
    result<void> record(const std::filesystem::path& file,
                        manifest& m) requires(recording_verifier<Checks> || ...) {
        result<void> out = success();
        std::apply(
            [&](auto&... c) {
                (void)((out = detail::record_if_any(c, file, m), static_cast<bool>(out)) && ...);
            },
            checks);
        return out;
    }
};

template <class... Checks>
all_of(Checks...) -> all_of<Checks...>;

}  // namespace dbsafe
