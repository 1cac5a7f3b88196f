// dbsafe-sample OUT.db [--size-mib N] [--journal-mode wal|delete] [--seed S]
// Writes a deterministic, realistic database: customers with a unique index, orders with a
// secondary index, an event log of text, attachments as blobs, and some free pages (deleted
// rows), until the file reaches the requested size. Same arguments, same logical content.
#include <sqlite3.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

struct splitmix64 {
    std::uint64_t state;
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31U);
    }
};

void check(int rc, sqlite3* db, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        std::fprintf(stderr, "dbsafe-sample: %s: %s\n", what, sqlite3_errmsg(db));
        std::exit(1);
    }
}

void exec(sqlite3* db, const char* sql) {
    check(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), db, sql);
}

sqlite3_stmt* prepare(sqlite3* db, const char* sql) {
    sqlite3_stmt* st = nullptr;
    check(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), db, sql);
    return st;
}

int usage() {
    std::fprintf(stderr,
                 "usage: dbsafe-sample OUT.db [--size-mib N] [--journal-mode wal|delete] "
                 "[--seed S]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    std::string out = argv[1];
    double size_mib = 16;
    std::string journal = "wal";
    std::uint64_t seed = 42;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) return usage();
        const char* v = argv[++i];
        char* end = nullptr;
        if (a == "--size-mib") {
            size_mib = std::strtod(v, &end);
            if (*end != '\0' || size_mib <= 0) return usage();
        } else if (a == "--journal-mode") {
            journal = v;
            if (journal != "wal" && journal != "delete") return usage();
        } else if (a == "--seed") {
            seed = std::strtoull(v, &end, 10);
            if (*end != '\0') return usage();
        } else {
            return usage();
        }
    }
    if (std::filesystem::exists(out)) {
        std::fprintf(stderr, "dbsafe-sample: %s exists; refusing to overwrite it\n", out.c_str());
        return 1;
    }
    sqlite3* db = nullptr;
    check(sqlite3_open(out.c_str(), &db), db, "open");
    exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536");
    exec(db, R"sql(
        CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE,
                               country TEXT, balance INTEGER NOT NULL);
        CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL
                            REFERENCES customers(id), placed_at INTEGER, amount_cents INTEGER,
                            status TEXT);
        CREATE INDEX orders_by_customer ON orders(customer_id, placed_at);
        CREATE TABLE events(id INTEGER PRIMARY KEY, at INTEGER, kind TEXT, payload TEXT);
        CREATE TABLE attachments(id INTEGER PRIMARY KEY, order_id INTEGER, body BLOB);
        PRAGMA user_version = 3;
    )sql");
    splitmix64 rng{seed};
    auto* ins_customer = prepare(db, "INSERT INTO customers VALUES(?,?,?,?,?)");
    auto* ins_order = prepare(
        db, "INSERT INTO orders(customer_id,placed_at,amount_cents,status) VALUES(?,?,?,?)");
    auto* ins_event = prepare(db, "INSERT INTO events(at,kind,payload) VALUES(?,?,?)");
    auto* ins_blob = prepare(db, "INSERT INTO attachments(order_id,body) VALUES(?,?)");
    static const char* countries[] = {"DE", "FR", "JP", "US", "BR", "IN", "NG", "SE"};
    static const char* statuses[] = {"new", "paid", "shipped", "returned"};
    static const char* kinds[] = {"login", "view", "purchase", "error"};
    const auto target = static_cast<std::uint64_t>(size_mib * 1024 * 1024);
    std::vector<unsigned char> blob(4096);
    std::int64_t customer = 0;
    exec(db, "BEGIN");
    for (std::uint64_t batch = 0;; ++batch) {
        for (int i = 0; i < 200; ++i) {
            ++customer;
            const std::string name = "customer " + std::to_string(customer);
            const std::string email = "c" + std::to_string(customer) + "@example.com";
            sqlite3_bind_int64(ins_customer, 1, customer);
            sqlite3_bind_text(ins_customer, 2, name.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins_customer, 3, email.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins_customer, 4, countries[rng.next() % 8], -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins_customer, 5, static_cast<std::int64_t>(rng.next() % 100000));
            check(sqlite3_step(ins_customer), db, "insert customer");
            sqlite3_reset(ins_customer);
            for (int o = 0; o < 4; ++o) {
                sqlite3_bind_int64(ins_order, 1, customer);
                sqlite3_bind_int64(ins_order, 2,
                                   1700000000 + static_cast<std::int64_t>(rng.next() % 50000000));
                sqlite3_bind_int64(ins_order, 3, static_cast<std::int64_t>(rng.next() % 1000000));
                sqlite3_bind_text(ins_order, 4, statuses[rng.next() % 4], -1, SQLITE_STATIC);
                check(sqlite3_step(ins_order), db, "insert order");
                sqlite3_reset(ins_order);
            }
            std::string payload = "{\"session\":" + std::to_string(rng.next() % 1000000) +
                                  ",\"path\":\"/item/" + std::to_string(rng.next() % 5000) +
                                  "\",\"agent\":\"dbsafe-sample/1.0\"}";
            sqlite3_bind_int64(ins_event, 1, 1700000000 + static_cast<std::int64_t>(customer));
            sqlite3_bind_text(ins_event, 2, kinds[rng.next() % 4], -1, SQLITE_STATIC);
            sqlite3_bind_text(ins_event, 3, payload.c_str(), -1, SQLITE_TRANSIENT);
            check(sqlite3_step(ins_event), db, "insert event");
            sqlite3_reset(ins_event);
            if (customer % 4 == 0) {
                // Half-compressible blobs: random bytes over a repeating pattern.
                const std::size_t n = 1024 + rng.next() % 3072;
                for (std::size_t b = 0; b < n; ++b) {
                    blob[b] = (b % 2 == 0) ? static_cast<unsigned char>(rng.next())
                                           : static_cast<unsigned char>(b);
                }
                sqlite3_bind_int64(ins_blob, 1, customer);
                sqlite3_bind_blob(ins_blob, 2, blob.data(), static_cast<int>(n), SQLITE_STATIC);
                check(sqlite3_step(ins_blob), db, "insert attachment");
                sqlite3_reset(ins_blob);
            }
        }
        sqlite3_int64 pages = 0;
        {
            auto* st = prepare(db, "PRAGMA page_count");
            sqlite3_step(st);
            pages = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
        if (static_cast<std::uint64_t>(pages) * 4096 >= target) break;
    }
    exec(db, "COMMIT");
    // Some free pages, as a long-lived database has.
    exec(db, "DELETE FROM events WHERE id % 10 = 0");
    for (auto* st : {ins_customer, ins_order, ins_event, ins_blob}) sqlite3_finalize(st);
    exec(db, journal == "wal" ? "PRAGMA journal_mode=WAL" : "PRAGMA journal_mode=DELETE");
    check(sqlite3_close(db), db, "close");
    std::printf("%s: %.1f MiB, %lld customers\n", out.c_str(),
                static_cast<double>(std::filesystem::file_size(out)) / (1024.0 * 1024.0),
                static_cast<long long>(customer));
    return 0;
}
