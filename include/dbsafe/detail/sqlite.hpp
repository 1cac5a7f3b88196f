// RAII owners for sqlite3 handles and the few query helpers dbsafe needs. Users never name
// these; they are the only place that calls sqlite3_close/finalize/backup_finish.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dbsafe/detail/polling_busy_wait.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe::detail {

struct connection_closer {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct statement_finalizer {
    void operator()(sqlite3_stmt* st) const noexcept { sqlite3_finalize(st); }
};
struct backup_finisher {
    void operator()(sqlite3_backup* b) const noexcept { sqlite3_backup_finish(b); }
};

using connection = std::unique_ptr<sqlite3, connection_closer>;
using statement = std::unique_ptr<sqlite3_stmt, statement_finalizer>;
using backup_handle = std::unique_ptr<sqlite3_backup, backup_finisher>;

// "SQLite says: <errmsg> (<code name>)" for a connection's last error.
inline std::string describe(sqlite3* db, int rc) {
    std::string out = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    out += " (";
    out += sqlite3_errstr(rc);
    out += ")";
    return out;
}

inline bool is_busy(int rc) noexcept {
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

enum class open_mode { read_only, read_write, create };

// The name dbsafe hands SQLite for the file `path`: absolute, every directory resolved
// (symlinks included), the last component exactly as given. Every path dbsafe gives SQLite (an
// open, a VACUUM INTO target) goes through here, for two reasons:
//  - SQLite's unix VFS resolves symlinks itself and, under SQLITE_OPEN_NOFOLLOW, refuses a
//    symlink in ANY component (SQLITE_CANTOPEN_SYMLINK): a database under `/srv` -> a volume
//    could not be opened. dbsafe refuses a symlink only as the last component; with the
//    directories resolved here, SQLite finds no other.
//  - SQLite built with SQLITE_USE_URI=1 (Debian's) reads any name starting with "file:" as a
//    URI, whatever the open flags say: "file:other.db" would open other.db, and
//    "file:m.db?mode=memory" an empty in-memory database. An absolute name starts with "/",
//    so it is always read as a path, byte for byte ("?", "#" and "%" included).
inline std::filesystem::path sqlite_filename(const std::filesystem::path& path) {
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(path, ec);
    if (ec || absolute.filename().empty()) return absolute.empty() ? path : absolute;
    auto dir = std::filesystem::weakly_canonical(absolute.parent_path(), ec);
    if (ec) dir = absolute.parent_path();
    return dir / absolute.filename();
}

// Opens `path` without following a symlink in its last component (symlinked directories above
// it are fine). Missing files are an error unless `mode` is create: dbsafe never creates a
// database by accident. `vfs` names a registered VFS (nullptr: SQLite's default), e.g.
// detail::fast_read_vfs().
inline result<connection> open_database(const std::filesystem::path& path, open_mode mode,
                                        int busy_timeout_ms = 5000, const char* vfs = nullptr) {
    int flags = SQLITE_OPEN_NOFOLLOW;
    switch (mode) {
        case open_mode::read_only:
            flags |= SQLITE_OPEN_READONLY;
            break;
        case open_mode::read_write:
            flags |= SQLITE_OPEN_READWRITE;
            break;
        case open_mode::create:
            flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
            break;
    }
    std::error_code ec;
    if (mode != open_mode::create && !std::filesystem::exists(path, ec)) {
        return error(errc::not_found,
                     "database " + path.string() +
                         " does not exist: check the path (dbsafe never "
                         "creates a database it was asked to read)",
                     path.string());
    }
    if (std::filesystem::is_symlink(path, ec)) {
        const auto target = std::filesystem::read_symlink(path, ec);
        return error(errc::symlink_refused,
                     "cannot open " + path.string() + ": it is a symlink (to " + target.string() +
                         "); dbsafe opens a database only by its own name, never through a "
                         "symlink: give the path of the file itself");
    }
    sqlite3* raw = nullptr;
    // A path, never a URI (no SQLITE_OPEN_URI, and sqlite_filename() keeps SQLITE_USE_URI
    // builds from reading "file:..." as one).
    const int rc = sqlite3_open_v2(sqlite_filename(path).c_str(), &raw, flags, vfs);
    connection db(raw);
    if (rc != SQLITE_OK) {
        return sqlite_error(rc, "cannot open " + path.string() + ": " + describe(raw, rc),
                            path.string());
    }
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, busy_timeout_ms);
    return db;
}

inline result<statement> prepare(sqlite3* db, std::string_view sql) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
    statement st(raw);
    if (rc != SQLITE_OK) {
        return sqlite_error(rc, "cannot prepare `" + std::string(sql) + "` on " +
                                    sqlite3_db_filename(db, "main") + ": " + describe(db, rc));
    }
    return st;
}

inline std::string database_name(sqlite3* db) {
    const char* f = sqlite3_db_filename(db, "main");
    return (f != nullptr && *f != '\0') ? std::string(f) : std::string(":memory:");
}

inline result<void> exec(sqlite3* db, const std::string& sql) {
    char* msg = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
    if (rc != SQLITE_OK) {
        std::string text = msg != nullptr ? msg : sqlite3_errstr(rc);
        sqlite3_free(msg);
        return sqlite_error(rc,
                            "`" + sql + "` failed on " + database_name(db) + ": " + text + " (" +
                                sqlite3_errstr(rc) + ")",
                            database_name(db));
    }
    return success();
}

// First column of the first row as an integer (PRAGMA page_size, user_version, ...).
inline result<std::int64_t> query_int(sqlite3* db, std::string_view sql) {
    DBSAFE_TRY(auto st, prepare(db, sql));
    const int rc = sqlite3_step(st.get());
    if (rc == SQLITE_ROW) return static_cast<std::int64_t>(sqlite3_column_int64(st.get(), 0));
    if (rc == SQLITE_DONE) {
        return error(errc::invalid_argument,
                     "`" + std::string(sql) + "` returned no row on " + database_name(db));
    }
    return sqlite_error(
        rc, "`" + std::string(sql) + "` failed on " + database_name(db) + ": " + describe(db, rc));
}

inline result<std::string> query_text(sqlite3* db, std::string_view sql) {
    DBSAFE_TRY(auto st, prepare(db, sql));
    const int rc = sqlite3_step(st.get());
    if (rc == SQLITE_ROW) {
        const auto* t = sqlite3_column_text(st.get(), 0);
        return std::string(t != nullptr ? reinterpret_cast<const char*>(t) : "");
    }
    if (rc == SQLITE_DONE) return std::string();
    return sqlite_error(
        rc, "`" + std::string(sql) + "` failed on " + database_name(db) + ": " + describe(db, rc));
}

// Lets a check read the file through a memory map: SQLite maps at most this much (its
// SQLITE_MAX_MMAP_SIZE, just under 2 GiB) and reads the rest of a larger file as usual.
inline constexpr const char* map_whole_file = "PRAGMA mmap_size=2147418112";

// A check pragma's messages ("On tree page 3 ...") on one line.
inline std::string join_messages(const std::vector<std::string>& rows) {
    std::string joined;
    for (const auto& r : rows) joined += (joined.empty() ? "" : "; ") + r;
    return joined;
}

// Every row's first column as text, up to `limit` rows (integrity_check messages, names).
inline result<std::vector<std::string>> query_column(sqlite3* db, std::string_view sql,
                                                     std::size_t limit = SIZE_MAX) {
    DBSAFE_TRY(auto st, prepare(db, sql));
    std::vector<std::string> rows;
    int rc = SQLITE_OK;
    while (rows.size() < limit && (rc = sqlite3_step(st.get())) == SQLITE_ROW) {
        const auto* t = sqlite3_column_text(st.get(), 0);
        rows.emplace_back(t != nullptr ? reinterpret_cast<const char*>(t) : "");
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE && rc != SQLITE_OK) {
        return sqlite_error(rc, "`" + std::string(sql) + "` failed on " + database_name(db) + ": " +
                                    describe(db, rc));
    }
    return rows;
}

// Whether the file's header says WAL mode (bytes 18 and 19, the read and write versions, are 2).
inline bool is_wal_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    char header[20] = {};
    if (!in.read(header, sizeof header)) return false;
    return std::string_view(header, 16) == std::string_view("SQLite format 3\0", 16) &&
           header[18] == 2 && header[19] == 2;
}

// Maps SQLite's NOTADB (and a corrupt header) to our not_a_database, so a caller who points
// dbsafe at a text file gets "not an SQLite database", not "file is not a database (26)".
inline error classify_open_failure(const error& e, const std::filesystem::path& path) {
    const int rc = e.code.category() == sqlite_category() ? (e.code.value() & 0xff) : 0;
    if (rc == SQLITE_READONLY && is_wal_file(path)) {
        // Reading a WAL database writes its -shm (and -wal) beside it. A user who may read the
        // file but not write it or its directory gets SQLite's bare "attempt to write a
        // readonly database". dbsafe does not fall back to `immutable=1`: it would read
        // a file another user's checkpoint may be changing, and a torn copy is worse than none.
        const auto shm = path.string() + "-shm";
        return error(e.code,
                     "cannot read " + path.string() +
                         ": it is in WAL mode, and reading a WAL "
                         "database needs its shared-memory file " +
                         shm +
                         " (and -wal), which "
                         "this user cannot create or write (the database or its directory is not "
                         "writable for this user; " +
                         e.message +
                         "). Run dbsafe as a user who "
                         "can write to " +
                         path.parent_path().string() +
                         " (e.g. the database's owner), or make it writable; if nothing can be "
                         "writing the database (a read-only snapshot or mount), copy it with "
                         "`sqlite3 'file:" +
                         path.string() + "?immutable=1' '.backup COPY.db'` and back up the copy")
            .because(e);
    }
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) {
        return error(errc::not_a_database,
                     path.string() + " is not a readable SQLite database (" + e.message +
                         "): check that the path names the database file itself",
                     path.string())
            .because(e);
    }
    return e;
}

// Opens and touches the schema, so a non-database or a locked file fails here, up front.
inline result<connection> open_and_probe(const std::filesystem::path& path, open_mode mode,
                                         int busy_timeout_ms = 5000, const char* vfs = nullptr) {
    DBSAFE_TRY(auto db, open_database(path, mode, busy_timeout_ms, vfs));
    auto probe = [&] {
        // A gap between a busy rollback-journal writer's commits is found only by asking often.
        const polling_busy_wait prompt_waits(db.get(), std::chrono::milliseconds(busy_timeout_ms));
        return query_int(db.get(), "SELECT count(*) FROM sqlite_schema");
    }();
    if (!probe) {
        // The busy handler already waited busy_timeout_ms: say so, in our own code, so the
        // caller can tell "locked" from "broken" without knowing SQLite's codes.
        if (probe.error().code.category() == sqlite_category() &&
            is_busy(probe.error().code.value())) {
            return error(errc::busy_timeout,
                         "database " + path.string() + " stayed locked for " +
                             std::to_string(busy_timeout_ms) +
                             " ms: another connection holds an exclusive lock; retry later or "
                             "raise the busy timeout (" +
                             probe.error().message + ")",
                         path.string())
                .because(probe.error());
        }
        return classify_open_failure(probe.error(), path);
    }
    return db;
}

}  // namespace dbsafe::detail
