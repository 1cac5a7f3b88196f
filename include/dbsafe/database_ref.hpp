// database_ref: "the live database", given either as a path or as the caller's open
// connection. Both work everywhere a live database is taken.
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <string>
#include <utility>

#include "dbsafe/detail/fast_copy_vfs.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe {

class database_ref {
  public:
    database_ref(sqlite3* db) noexcept : connection_(db) {}         // NOLINT: implicit by design
    database_ref(std::filesystem::path p) : path_(std::move(p)) {}  // NOLINT
    database_ref(const char* p) : path_(p) {}                       // NOLINT
    database_ref(const std::string& p) : path_(p) {}                // NOLINT

    [[nodiscard]] sqlite3* connection() const noexcept { return connection_; }
    // The database file: the given path, or the main file of the given connection (empty for
    // an in-memory or temporary database).
    [[nodiscard]] std::filesystem::path file() const {
        if (connection_ == nullptr) return path_;
        const char* f = sqlite3_db_filename(connection_, "main");
        return (f != nullptr) ? std::filesystem::path(f) : std::filesystem::path();
    }

  private:
    sqlite3* connection_ = nullptr;
    std::filesystem::path path_;
};

namespace detail {

// The connection a snapshot reads from. For a file database dbsafe opens its own connection
// (even when given the caller's): it may then hold a read transaction for the whole copy
// without touching the caller's transaction state, and it sees only committed data.
struct source_connection {
    connection owned;
    sqlite3* db = nullptr;
    std::filesystem::path file;
    bool private_connection = false;
};

inline result<source_connection> open_source(const database_ref& ref, int busy_timeout_ms) {
    source_connection src;
    src.file = ref.file();
    if (ref.connection() == nullptr || !src.file.empty()) {
        // Through the read-ahead shim: a copy reads the file front to back, and the shim turns
        // its 4 KiB preads into 4 MiB ones (see detail/fast_copy_vfs.hpp).
        auto opened =
            open_and_probe(src.file, open_mode::read_write, busy_timeout_ms, fast_read_vfs());
        if (opened) {
            src.owned = std::move(opened).value();
            src.db = src.owned.get();
            src.private_connection = true;
            return src;
        }
        // The caller's connection may hold an exclusive lock that keeps others out; it can
        // still be the source itself.
        if (ref.connection() == nullptr) return opened.as_failure();
    }
    src.db = ref.connection();
    return src;
}

}  // namespace detail
}  // namespace dbsafe
