// The names dbsafe creates in a backup directory, and nothing else. A backup directory may hold
// files dbsafe did not create (the live database kept beside its backups, notes, another tool's
// JSON): those are never listed, never called debris, never removed. A name is dbsafe's only
// when it is a generated backup id (backup_id.hpp) followed by one of these suffixes:
//
//   .json                          the manifest (a backup exists exactly when it does)
//   .db  .db.zst                   the data file, plain or zstd-compressed
//   .pages                         the data file of a page snapshot (its snapshot object; the
//                                  pages themselves live in pages/, the page repository)
//   .db-journal .db-wal .db-shm    SQLite's side files of a data file
//   .db.tmp                        the staged snapshot (local_directory::stage)
//   .db.tmp-journal/-wal/-shm      SQLite's side files of the staged snapshot
//   .json.tmp  .db.zst.tmp         a manifest or archive being published
//   .pages.tmp                     a snapshot object being published
//   .unpacked-<pid>-<n>.tmp        an archive decompressed for reading (zstd_archive::open),
//                                  and its -journal/-wal/-shm
//   .migration.tmp                 a migration record being published (migration_record.hpp)
// A published migration record, <id>.migration, is dbsafe's too but is no part of a backup and
// never debris: it is listed, locked and removed only by migration_record.hpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dbsafe/backup_id.hpp"

namespace dbsafe {

// <pre-migration backup id>.migration: an interrupted (or running) guarded migration.
inline constexpr const char* migration_record_suffix = ".migration";

}  // namespace dbsafe

namespace dbsafe::detail {

enum class backup_file_role {
    manifest,   // <id>.json
    data,       // <id>.db, <id>.db.zst, <id>.pages and SQLite's side files of <id>.db
    temporary,  // everything ending in .tmp (or the side file of one): an unfinished write
};

struct backup_file_name {
    std::string id;
    backup_file_role role;
};

// Splits a file name into a generated id and a suffix dbsafe writes; nullopt for any other name.
inline std::optional<backup_file_name> parse_backup_file_name(std::string_view name) {
    const auto parts = parse_id_prefix(name);
    if (!parts) return std::nullopt;
    std::string_view suffix = name.substr(parts->length);
    const std::string id(name.substr(0, parts->length));
    for (const std::string_view side : {"-journal", "-wal", "-shm"}) {
        if (suffix.ends_with(side)) {
            suffix.remove_suffix(side.size());
            if (suffix == ".db") return backup_file_name{id, backup_file_role::data};
            if (suffix == ".db.tmp" ||
                (suffix.starts_with(".unpacked-") && suffix.ends_with(".tmp"))) {
                break;  // checked below like the file it belongs to
            }
            return std::nullopt;
        }
    }
    if (suffix == ".json") return backup_file_name{id, backup_file_role::manifest};
    if (suffix == ".db" || suffix == ".db.zst" || suffix == ".pages")
        return backup_file_name{id, backup_file_role::data};
    if (suffix == ".db.tmp" || suffix == ".json.tmp" || suffix == ".db.zst.tmp" ||
        suffix == ".pages.tmp" || suffix == ".migration.tmp") {
        return backup_file_name{id, backup_file_role::temporary};
    }
    // .unpacked-<pid>-<counter>.tmp
    constexpr std::string_view scratch = ".unpacked-";
    if (suffix.starts_with(scratch) && suffix.ends_with(".tmp")) {
        const std::string_view numbers =
            suffix.substr(scratch.size(), suffix.size() - scratch.size() - 4);
        const auto dash = numbers.find('-');
        const auto digits = [](std::string_view s) {
            return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
        };
        if (dash != std::string_view::npos && digits(numbers.substr(0, dash)) &&
            digits(numbers.substr(dash + 1))) {
            return backup_file_name{id, backup_file_role::temporary};
        }
    }
    return std::nullopt;
}

}  // namespace dbsafe::detail
