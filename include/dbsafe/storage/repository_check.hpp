// Checking a storage target's shared data (a page repository's packs, index and page lists):
// whether every backup can still be put back, and when not, which backups a damaged object
// takes down. A damaged pack is shared by many snapshots; saying only "pack X is damaged"
// would leave the user to work out which backups are still good, so each problem names them.
// health() reports the problems when the storage has this check (`checks_repository`); the
// core knows only this vocabulary, never a backend.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dbsafe/error.hpp"

namespace dbsafe {

enum class check_depth {
    structure,  // every object exists, parses and agrees with the others; no page is read
    read_data,  // also every page of every snapshot is read, decompressed and hashed
};

constexpr std::string_view to_string(check_depth d) noexcept {
    return d == check_depth::read_data ? "read_data" : "structure";
}

struct repository_problem {
    std::string object;                  // the file (or snapshot) that is wrong
    std::string what;                    // what is wrong with it, and what to do
    std::vector<std::string> snapshots;  // ids of the backups it makes unrestorable, sorted
};

struct check_report {
    check_depth depth = check_depth::structure;
    std::uint64_t snapshots = 0;  // page snapshots checked
    std::uint64_t packs = 0;
    std::uint64_t pages = 0;       // distinct pages the snapshots need
    std::uint64_t pages_read = 0;  // read_data: pages decompressed and hashed
    std::vector<repository_problem> problems{};

    [[nodiscard]] bool ok() const noexcept { return problems.empty(); }
    // Every backup some problem affects, sorted and unique.
    [[nodiscard]] std::vector<std::string> affected() const {
        std::vector<std::string> out;
        for (const auto& p : problems)
            out.insert(out.end(), p.snapshots.begin(), p.snapshots.end());
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return out;
    }
};

// A storage target that can check the data its backups share.
template <class S>
concept checks_repository = requires(const S& s, check_depth d) {
    { s.check(d) } -> std::same_as<result<check_report>>;
};

}  // namespace dbsafe
