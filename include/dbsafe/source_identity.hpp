// source_identity: "is this backup a backup of that database?", decided in one place (restore's
// guard, `restore --latest`, and the `--db` filters of list, health and prune).
//
// A manifest records its source database as
//  - source_path: the canonical absolute path (weakly_canonical of the absolute path: symlinked
//    directories resolved, "." and ".." gone), so `app.db`, `./app.db` and `/srv/app.db`
//    (with /srv -> /vol) are one database;
//  - source_device, source_inode: the file's identity when the backup was taken.
// A backup is OF a database when the canonical paths are equal. The file identity is only a
// hint for messages ("the same file, moved or renamed"): it survives a rename inside one file
// system but not a copy or a move to another, and an inode number is reused once a file is
// deleted, so matching by it could pair a backup with an unrelated new database. A database
// that was moved therefore matches none of its old backups until the user says so
// (restore_options::allow_other_database, `--allow-other-database`). dbsafe writes no id into
// the database: the header's application_id belongs to the application, and header bytes
// 72-91 are reserved by SQLite.
//
// dbsafe 0.1 stored the path as given. An absolute one is canonicalized now, by the same rule
// (as the file system is today). A relative one lost the working directory it was relative to,
// so it matches by file name only: `notes.db` matches /srv/notes.db, never /srv/app.db. A
// source with no file (":memory:", empty) matches no database.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/storage/storage_target.hpp"

namespace dbsafe {

// The canonical absolute form of a database path, as manifests record it.
inline std::string canonical_source_path(const std::filesystem::path& database) {
    std::error_code ec;
    auto absolute = std::filesystem::absolute(database, ec);
    if (ec) return database.lexically_normal().string();
    auto canonical = std::filesystem::weakly_canonical(absolute, ec);
    return (ec ? absolute.lexically_normal() : canonical).string();
}

// Records `database` (a file) as the source of `m`.
inline void record_source(manifest& m, const std::filesystem::path& database) {
    m.source_path = canonical_source_path(database);
    if (const auto id = detail::identity_of(database)) {
        m.source_device = id->device;
        m.source_inode = id->inode;
    }
}

// Whether backup `m` is a backup of the database file `database` (see the top of this file).
inline bool is_backup_of(const manifest& m, const std::filesystem::path& database) {
    const std::filesystem::path source(m.source_path);
    if (m.source_path.empty() || m.source_path == ":memory:") return false;
    if (source.is_absolute()) {
        return canonical_source_path(source) == canonical_source_path(database);
    }
    return source.filename() == database.filename();  // a 0.1 manifest's relative path
}

// The key retention groups backups by when it keeps the newest of each database (prune.hpp):
// equal keys are one database, by the rule above. A 0.1 manifest's relative path is its own
// group (it cannot be placed more precisely without the working directory it was taken in).
inline std::string source_key(const manifest& m) {
    if (m.source_path.empty() || !std::filesystem::path(m.source_path).is_absolute()) {
        return m.source_path;
    }
    return canonical_source_path(m.source_path);
}

namespace detail {

// Drops from `l` the backups of every database but `database` (the `--db` filters).
inline void keep_backups_of(listing& l, const std::filesystem::path& database) {
    std::erase_if(l.backups, [&](const manifest& m) { return !is_backup_of(m, database); });
}

}  // namespace detail

// keep_backups_of(listing, database): drops from a listing the backups of every other database
// (by source path and identity, as restore judges them), e.g. to list one database's backups.
using detail::keep_backups_of;

// Restore's guard: success when `m` is a backup of `database` or the caller overrides;
// otherwise an error naming both databases and the override.
inline result<void> require_backup_of(const manifest& m, const std::filesystem::path& database,
                                      bool allow_other_database) {
    if (allow_other_database || is_backup_of(m, database)) return success();
    const std::string live = canonical_source_path(database);
    std::string hint;
    const auto now = detail::identity_of(database);
    if (m.source_device && m.source_inode && now &&
        *now == detail::file_identity{*m.source_device, *m.source_inode}) {
        hint = " (" + live +
               " is the same file the backup was taken from, by device and inode: it was "
               "probably moved or renamed)";
    }
    const std::string source = m.source_path.empty() ? "an unknown database" : m.source_path;
    return error(errc::other_database,
                 "not restoring backup " + m.id + " into " + live + ": it is a backup of " +
                     source + ", not of " + live + hint +
                     ". Restoring it would replace this database's content with another "
                     "database's. Pick a backup of " +
                     live + " (vault.list() filtered by source_path), or, if " + live +
                     " really is that database moved or renamed, set "
                     "restore_options::allow_other_database (the live database was not "
                     "changed)",
                 live);
}

}  // namespace dbsafe
