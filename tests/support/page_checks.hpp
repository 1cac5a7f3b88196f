// What every reliability test of the page repository checks after a kill or a fault: each
// snapshot listed before (and not removed) restores to its exact checksum, the repository
// checks clean with every page read, and the next garbage collection finishes and leaves it
// clean again.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <dbsafe/backends/page_repository.hpp>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <map>
#include <string>

namespace dbsafe::test {

using page_vault = basic_vault<online_backup, standard_checks, keep_last, page_repository>;

inline page_vault page_vault_in(const std::filesystem::path& dir) {
    return page_vault{.storage = page_repository{dir},
                      .snapshot = {},
                      .verification = standard_checks{.level = check_level::quick},
                      .retention = keep_last{1},
                      .options = {}};
}

inline void copy_tree(const std::filesystem::path& from, const std::filesystem::path& to) {
    std::filesystem::remove_all(to);
    std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
}

// id -> the checksum its manifest records.
using snapshot_sums = std::map<std::string, std::string>;

inline snapshot_sums sums_of(const std::filesystem::path& dir) {
    snapshot_sums out;
    const page_repository storage{dir};
    const auto listed = storage.list();
    EXPECT_TRUE(listed) << listed.error().message;
    if (listed) {
        for (const auto& m : listed.value().backups) out[m.id] = m.checksum.hex;
    }
    return out;
}

// Every snapshot of `must` is listed with its checksum and restores to it (open() rebuilds it
// and compares); any other listed snapshot (one the killed backup finished) restores too; the
// repository checks clean at the deepest level.
inline void expect_repository_whole(const std::filesystem::path& dir, const snapshot_sums& must) {
    const page_repository storage{dir};
    const auto now = sums_of(dir);
    for (const auto& [id, sum] : must) {
        const auto it = now.find(id);
        ASSERT_NE(it, now.end()) << "snapshot " << id << " is no longer listed";
        ASSERT_EQ(it->second, sum) << "snapshot " << id << "'s manifest changed";
    }
    for (const auto& [id, sum] : now) {
        const auto opened = storage.open(id);
        ASSERT_TRUE(opened) << "snapshot " << id << " does not restore: " << opened.error().message;
        ASSERT_EQ(opened.value().description.checksum.hex, sum);
    }
    const auto checked = storage.check(check_depth::read_data);
    ASSERT_TRUE(checked) << checked.error().message;
    ASSERT_TRUE(checked.value().ok())
        << checked.value().problems.front().object << ": " << checked.value().problems.front().what;
}

// After the check: the next collection finishes, the repository stays whole, and debris of
// the kill (a staged copy, packs no index lists, temp files) is gone. Returns whether there
// was debris.
inline bool collect_and_recheck(const std::filesystem::path& dir, const snapshot_sums& must) {
    page_repository storage{dir};
    bool debris = false;
    const auto listed = storage.list().value();
    for (const auto& d : listed.leftovers) {
        debris = true;
        EXPECT_TRUE(storage.remove_debris(d));
    }
    const auto gc = storage.collect_garbage({.debris_grace = std::chrono::seconds(0)});
    EXPECT_TRUE(gc) << gc.error().message;
    if (gc) {
        debris = debris || gc.value().packs_removed > 0 || gc.value().temp_files_removed > 0;
        EXPECT_TRUE(gc.value().failures.empty());
    }
    expect_repository_whole(dir, must);
    return debris;
}

}  // namespace dbsafe::test
