// Real SQLite files for tests: a sample schema with several tables, indexes, text, integers
// and blobs; a row-by-row dump for comparing two databases; small exec/query helpers that fail
// the test loudly.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace dbsafe::test {

struct db_handle {
    sqlite3* db = nullptr;
    explicit db_handle(const std::filesystem::path& p,
                       int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) {
        if (sqlite3_open_v2(p.c_str(), &db, flags, nullptr) != SQLITE_OK) {
            std::string msg = sqlite3_errmsg(db);
            sqlite3_close_v2(db);
            throw std::runtime_error("cannot open " + p.string() + ": " + msg);
        }
        sqlite3_busy_timeout(db, 10000);
    }
    db_handle(const db_handle&) = delete;
    db_handle& operator=(const db_handle&) = delete;
    ~db_handle() { sqlite3_close_v2(db); }
    operator sqlite3*() const { return db; }  // NOLINT: test convenience
};

inline void exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err != nullptr ? err : "?";
        sqlite3_free(err);
        throw std::runtime_error("exec failed: " + sql + ": " + msg);
    }
}

inline void exec(const std::filesystem::path& p, const std::string& sql) {
    db_handle h(p);
    exec(h.db, sql);
}

inline std::int64_t query_int(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
        throw std::runtime_error("prepare failed: " + sql + ": " + sqlite3_errmsg(db));
    }
    std::int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

inline std::int64_t query_int(const std::filesystem::path& p, const std::string& sql) {
    db_handle h(p, SQLITE_OPEN_READONLY);
    return query_int(h.db, sql);
}

// Creates the sample schema: customers, orders (with index), documents (blobs), an audit
// table and a ledger whose per-account sums must always be zero (a cross-table invariant for
// snapshot-consistency tests). `rows` scales every table.
inline void create_sample_db(const std::filesystem::path& p, int rows = 1000,
                             const std::string& journal_mode = "wal") {
    db_handle h(p);
    exec(h, "PRAGMA journal_mode=" + journal_mode);
    exec(h, R"sql(
        CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE,
                               balance INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL
                            REFERENCES customers(id), amount REAL, note TEXT);
        CREATE INDEX orders_by_customer ON orders(customer_id);
        CREATE TABLE documents(id INTEGER PRIMARY KEY, body BLOB);
        CREATE TABLE ledger(id INTEGER PRIMARY KEY, account INTEGER NOT NULL, delta INTEGER);
        CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO counters VALUES ('writes', 0);
    )sql");
    exec(h, "BEGIN");
    exec(h, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<" +
                std::to_string(rows) +
                ") INSERT INTO customers(id,name,email,balance) SELECT i, 'customer '||i, "
                "'c'||i||'@example.com', i*7 FROM n");
    exec(h, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<" +
                std::to_string(rows * 3) +
                ") INSERT INTO orders(customer_id,amount,note) SELECT 1+(i % " +
                std::to_string(rows) + "), i*1.25, printf('order %08d', i) FROM n");
    exec(h, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<" +
                std::to_string(rows / 10 + 1) +
                ") INSERT INTO documents(body) SELECT randomblob(700+(i%300)) FROM n");
    exec(h, "COMMIT");
}

// Every row of every table, in primary-key order, as text: two databases with equal dumps hold
// the same data.
inline std::vector<std::string> dump_rows(const std::filesystem::path& p) {
    db_handle h(p, SQLITE_OPEN_READONLY);
    std::vector<std::string> tables;
    {
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(h,
                           "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT "
                           "LIKE 'sqlite_%' ORDER BY name",
                           -1, &st, nullptr);
        while (sqlite3_step(st) == SQLITE_ROW) {
            tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
        }
        sqlite3_finalize(st);
    }
    std::vector<std::string> out;
    for (const auto& t : tables) {
        sqlite3_stmt* st = nullptr;
        const std::string sql = "SELECT * FROM \"" + t + "\" ORDER BY 1";
        if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
            throw std::runtime_error("cannot dump " + t);
        }
        while (sqlite3_step(st) == SQLITE_ROW) {
            std::string row = t + ":";
            for (int c = 0; c < sqlite3_column_count(st); ++c) {
                if (sqlite3_column_type(st, c) == SQLITE_BLOB) {
                    const auto* b = static_cast<const unsigned char*>(sqlite3_column_blob(st, c));
                    const int n = sqlite3_column_bytes(st, c);
                    row += "|x";
                    static constexpr char hex[] = "0123456789abcdef";
                    for (int i = 0; i < n; ++i) {
                        row += hex[b[i] >> 4];
                        row += hex[b[i] & 15];
                    }
                } else {
                    const auto* v = sqlite3_column_text(st, c);
                    row += "|";
                    row += v != nullptr ? reinterpret_cast<const char*>(v) : "NULL";
                }
            }
            out.push_back(std::move(row));
        }
        sqlite3_finalize(st);
    }
    return out;
}

}  // namespace dbsafe::test
