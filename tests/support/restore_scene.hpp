// The stage of a restore loop: a live database in its old state, a backup directory holding one
// backup of a different (new) state, and reset() to go back to exactly that before each try
// (each restore adds a safety backup, and a failed one may leave the live database either way).
#pragma once

#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/sqlite_fixtures.hpp"

namespace dbsafe::test {

// Replaces `to` (and its journal, WAL and shm: stale ones would be replayed) by a copy of `from`.
inline void copy_database(const std::filesystem::path& from, const std::filesystem::path& to) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        std::filesystem::remove(to.string() + suffix);
    }
    std::filesystem::copy_file(from, to);
}

struct restore_scene {
    std::filesystem::path db;        // the live database
    std::filesystem::path dir;       // the backup directory
    std::filesystem::path pristine;  // the old state, copied over `db` by reset()
    std::string id;                  // the backup to restore (the new state)
    std::vector<std::string> old_rows;
    std::vector<std::string> new_rows;

    // Builds it all under `root`. With fault_vfs in use, construct its scope first: this takes
    // a backup.
    restore_scene(const std::filesystem::path& root, const std::string& journal_mode)
        : db(root / "live.db"), dir(root / "backups"), pristine(root / "pristine.db") {
        std::filesystem::create_directories(root);
        create_sample_db(pristine, 60, journal_mode);
        old_rows = dump_rows(pristine);
        copy_database(pristine, db);
        exec(db, "DELETE FROM orders WHERE id % 2 = 0; UPDATE customers SET name = upper(name)");
        new_rows = dump_rows(db);
        vault v{.storage = local_directory{dir}};
        auto made = v.backup(db);
        if (!made) throw std::runtime_error(made.error().message);
        id = made.value().id;
        reset();
    }

    void reset() const {
        copy_database(pristine, db);
        local_directory storage{dir};
        const auto listed = storage.list().value();  // named: a temporary would die first
        for (const auto& m : listed.backups) {
            if (m.id != id) (void)storage.remove(m.id).value();
        }
        for (const auto& d : listed.leftovers) (void)storage.remove_debris(d).value();
    }
};

}  // namespace dbsafe::test
