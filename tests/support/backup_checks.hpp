// The properties every reliability test checks after a fault, a crash or a race: the live
// database is intact (integrity_check ok, rows equal to a known state) and the backup
// directory holds only whole backups (each listed backup verifies; anything else is debris).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "support/sqlite_fixtures.hpp"

namespace dbsafe::test {

// Property 3: a failure names a file it failed on (one of `files`, or a path below one).
inline bool names_a_file(const std::string& message,
                         const std::vector<std::filesystem::path>& files) {
    return std::any_of(files.begin(), files.end(), [&](const auto& f) {
        return message.find(f.string()) != std::string::npos;
    });
}

inline std::string integrity(const std::filesystem::path& db) {
    db_handle h(db, SQLITE_OPEN_READONLY);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, nullptr) != SQLITE_OK) {
        return std::string("cannot run integrity_check: ") + sqlite3_errmsg(h);
    }
    std::string out;
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!out.empty()) out += "; ";
        out += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    if (rc != SQLITE_DONE) out += std::string(" (error: ") + sqlite3_errmsg(h) + ")";
    sqlite3_finalize(st);
    return out;
}

// Opens `db` read-write once, as the application would next: SQLite rolls back a hot journal
// (left when even the rollback of a failed write failed, e.g. a disk that stays full) or
// recovers the WAL here. A read-only opener cannot do that and would see an error instead.
inline void reopen_read_write(const std::filesystem::path& db) {
    db_handle h(db);
    (void)query_int(h, "SELECT count(*) FROM sqlite_schema");
}

// The live database passes integrity_check and holds exactly one of the `allowed` states.
inline ::testing::AssertionResult live_intact(
    const std::filesystem::path& db, const std::vector<std::vector<std::string>>& allowed) {
    const std::string check = integrity(db);
    if (check != "ok") return ::testing::AssertionFailure() << db << ": integrity_check: " << check;
    const auto rows = dump_rows(db);
    for (const auto& state : allowed) {
        if (rows == state) return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << db << " holds " << rows.size() << " rows matching none of the allowed states";
}

struct directory_state {
    std::vector<std::string> ids;     // listed (complete) backups
    std::vector<std::string> debris;  // everything else list() reported
};

// Every listed backup verifies with the full checks; returns what the directory holds.
inline directory_state check_directory(const std::filesystem::path& dir,
                                       ::testing::AssertionResult* verdict) {
    directory_state state;
    const vault v{.storage = local_directory{dir}};
    auto listed = v.list();
    if (!listed) {
        *verdict = ::testing::AssertionFailure() << "list failed: " << listed.error().message;
        return state;
    }
    for (const auto& m : listed.value().backups) {
        state.ids.push_back(m.id);
        if (auto r = v.verify(m.id); !r) {
            *verdict = ::testing::AssertionFailure()
                       << "listed backup " << m.id << " does not verify: " << r.error().message;
            return state;
        }
    }
    for (const auto& d : listed.value().leftovers) state.debris.push_back(d.path.string());
    *verdict = ::testing::AssertionSuccess();
    return state;
}

inline ::testing::AssertionResult only_whole_backups(const std::filesystem::path& dir) {
    ::testing::AssertionResult verdict = ::testing::AssertionSuccess();
    (void)check_directory(dir, &verdict);
    return verdict;
}

// Removes debris the way prune will: through the storage target, never by hand.
inline void sweep_debris(const std::filesystem::path& dir) {
    local_directory storage{dir};
    auto listed = storage.list();
    ASSERT_TRUE(listed) << listed.error().message;
    for (const auto& d : listed.value().leftovers) {
        auto r = storage.remove_debris(d);
        ASSERT_TRUE(r) << r.error().message;
    }
}

}  // namespace dbsafe::test
