// dbsafe-pages-workload DB [--grow-percent P] [--update-percent U] [--seed N] [--changed-out F]
//
// The change bench/pages.sh backs up incrementally: inserts rows shaped like dbsafe-sample's
// (a customer, 4 orders, an event, every 4th an attachment) until the file grew by P % (default
// 1), and updates U % (default 0.05) of the existing customers and orders rows, picked at
// random, all in one transaction, then checkpoints so the database file holds the change.
// Compares a hash of every page before and after and prints one JSON line:
// {"pages_before", "pages_after", "pages_changed", "rows_inserted", "rows_updated",
//  "bytes_before", "bytes_after"}. --changed-out writes the changed pages (after) back to back,
// so the script can measure what zstd makes of exactly them.
#define XXH_INLINE_ALL
#include <sqlite3.h>
#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

struct splitmix64 {
    std::uint64_t state;
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
};

[[noreturn]] void die(sqlite3* db, const char* what) {
    std::fprintf(stderr, "dbsafe-pages-workload: %s: %s\n", what,
                 db != nullptr ? sqlite3_errmsg(db) : "?");
    std::exit(1);
}

void exec(sqlite3* db, const char* sql) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) die(db, sql);
}

sqlite3_stmt* prepare(sqlite3* db, const char* sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) die(db, sql);
    return st;
}

std::int64_t scalar(sqlite3* db, const char* sql) {
    auto* st = prepare(db, sql);
    if (sqlite3_step(st) != SQLITE_ROW) die(db, sql);
    const auto v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

void step(sqlite3* db, sqlite3_stmt* st, const char* what) {
    if (sqlite3_step(st) != SQLITE_DONE) die(db, what);
    sqlite3_reset(st);
}

// One 128-bit hash per page of the file as it is on disk.
std::vector<XXH128_hash_t> page_hashes(const std::string& path, std::size_t page_size,
                                       std::vector<std::vector<char>>* pages = nullptr) {
    std::ifstream in(path, std::ios::binary);
    std::vector<XXH128_hash_t> out;
    std::vector<char> page(page_size);
    while (in.read(page.data(), static_cast<std::streamsize>(page_size))) {
        out.push_back(XXH3_128bits(page.data(), page_size));
        if (pages != nullptr) pages->push_back(page);
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr,
                     "usage: dbsafe-pages-workload DB [--grow-percent P] [--update-percent U] "
                     "[--seed N] [--changed-out FILE]\n");
        return 2;
    }
    const std::string path = argv[1];
    double grow = 1.0;
    double update = 0.05;
    std::uint64_t seed = 1;
    std::string changed_out;
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--grow-percent") {
            grow = std::strtod(argv[i + 1], nullptr);
        } else if (a == "--update-percent") {
            update = std::strtod(argv[i + 1], nullptr);
        } else if (a == "--seed") {
            seed = std::strtoull(argv[i + 1], nullptr, 10);
        } else if (a == "--changed-out") {
            changed_out = argv[i + 1];
        } else {
            std::fprintf(stderr, "dbsafe-pages-workload: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) die(db, "open");
    exec(db, "PRAGMA busy_timeout=10000");
    const auto page_size = static_cast<std::size_t>(scalar(db, "PRAGMA page_size"));
    exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    const auto before = page_hashes(path, page_size);
    const std::int64_t pages_before = scalar(db, "PRAGMA page_count");
    const auto target =
        static_cast<std::int64_t>(static_cast<double>(pages_before) * (1.0 + grow / 100.0));
    splitmix64 rng{seed};
    exec(db, "BEGIN IMMEDIATE");
    const std::int64_t customers = scalar(db, "SELECT max(id) FROM customers");
    const std::int64_t orders = scalar(db, "SELECT max(id) FROM orders");
    const std::int64_t rows =
        scalar(db, "SELECT count(*) FROM customers") + scalar(db, "SELECT count(*) FROM orders");
    // Updates first, among the rows that existed before.
    const auto updates = static_cast<std::int64_t>(static_cast<double>(rows) * update / 100.0);
    auto* upd_customer = prepare(db, "UPDATE customers SET balance = ? WHERE id = ?");
    auto* upd_order = prepare(db, "UPDATE orders SET status = ?, amount_cents = ? WHERE id = ?");
    static const char* statuses[] = {"new", "paid", "shipped", "returned"};
    std::int64_t updated = 0;
    for (std::int64_t i = 0; i < updates; ++i) {
        if (rng.next() % 5 == 0) {  // customers are a fifth of these rows
            sqlite3_bind_int64(upd_customer, 1, static_cast<std::int64_t>(rng.next() % 100000));
            sqlite3_bind_int64(upd_customer, 2,
                               1 + static_cast<std::int64_t>(rng.next() % customers));
            step(db, upd_customer, "update customer");
        } else {
            sqlite3_bind_text(upd_order, 1, statuses[rng.next() % 4], -1, SQLITE_STATIC);
            sqlite3_bind_int64(upd_order, 2, static_cast<std::int64_t>(rng.next() % 1000000));
            sqlite3_bind_int64(upd_order, 3, 1 + static_cast<std::int64_t>(rng.next() % orders));
            step(db, upd_order, "update order");
        }
        updated += sqlite3_changes(db);
    }
    auto* ins_customer = prepare(db, "INSERT INTO customers VALUES(?,?,?,?,?)");
    auto* ins_order = prepare(
        db, "INSERT INTO orders(customer_id,placed_at,amount_cents,status) VALUES(?,?,?,?)");
    auto* ins_event = prepare(db, "INSERT INTO events(at,kind,payload) VALUES(?,?,?)");
    auto* ins_blob = prepare(db, "INSERT INTO attachments(order_id,body) VALUES(?,?)");
    std::vector<unsigned char> blob(4096);
    std::int64_t customer = customers;
    std::int64_t inserted = 0;
    while (scalar(db, "PRAGMA page_count") < target) {
        for (int n = 0; n < 50; ++n) {
            ++customer;
            const std::string name = "customer " + std::to_string(customer);
            const std::string email = "c" + std::to_string(customer) + "@example.com";
            sqlite3_bind_int64(ins_customer, 1, customer);
            sqlite3_bind_text(ins_customer, 2, name.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins_customer, 3, email.c_str(), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins_customer, 4, "SE", -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins_customer, 5, static_cast<std::int64_t>(rng.next() % 100000));
            step(db, ins_customer, "insert customer");
            for (int o = 0; o < 4; ++o) {
                sqlite3_bind_int64(ins_order, 1, customer);
                sqlite3_bind_int64(ins_order, 2,
                                   1750000000 + static_cast<std::int64_t>(rng.next() % 5000000));
                sqlite3_bind_int64(ins_order, 3, static_cast<std::int64_t>(rng.next() % 1000000));
                sqlite3_bind_text(ins_order, 4, statuses[rng.next() % 4], -1, SQLITE_STATIC);
                step(db, ins_order, "insert order");
            }
            const std::string payload = "{\"session\":" + std::to_string(rng.next() % 1000000) +
                                        ",\"path\":\"/item/" + std::to_string(rng.next() % 5000) +
                                        "\",\"agent\":\"dbsafe-pages-workload/1.0\"}";
            sqlite3_bind_int64(ins_event, 1, 1750000000 + customer);
            sqlite3_bind_text(ins_event, 2, "purchase", -1, SQLITE_STATIC);
            sqlite3_bind_text(ins_event, 3, payload.c_str(), -1, SQLITE_TRANSIENT);
            step(db, ins_event, "insert event");
            inserted += 6;
            if (customer % 4 == 0) {
                const std::size_t len = 1024 + rng.next() % 3072;
                for (std::size_t b = 0; b < len; ++b) {
                    blob[b] = (b % 2 == 0) ? static_cast<unsigned char>(rng.next())
                                           : static_cast<unsigned char>(b);
                }
                sqlite3_bind_int64(ins_blob, 1, customer);
                sqlite3_bind_blob(ins_blob, 2, blob.data(), static_cast<int>(len), SQLITE_STATIC);
                step(db, ins_blob, "insert attachment");
                ++inserted;
            }
        }
    }
    for (auto* st : {upd_customer, upd_order, ins_customer, ins_order, ins_event, ins_blob}) {
        sqlite3_finalize(st);
    }
    exec(db, "COMMIT");
    exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    const std::int64_t pages_after = scalar(db, "PRAGMA page_count");
    if (sqlite3_close(db) != SQLITE_OK) die(nullptr, "close");

    std::vector<std::vector<char>> pages;
    const auto after = page_hashes(path, page_size, changed_out.empty() ? nullptr : &pages);
    std::ofstream out;
    if (!changed_out.empty()) out.open(changed_out, std::ios::binary | std::ios::trunc);
    std::int64_t changed = 0;
    for (std::size_t p = 0; p < after.size(); ++p) {
        if (p < before.size() && XXH128_isEqual(before[p], after[p])) continue;
        ++changed;
        if (out.is_open()) out.write(pages[p].data(), static_cast<std::streamsize>(page_size));
    }
    std::printf(
        "{\"pages_before\": %lld, \"pages_after\": %lld, \"pages_changed\": %lld, "
        "\"rows_inserted\": %lld, \"rows_updated\": %lld, \"bytes_before\": %llu, "
        "\"bytes_after\": %llu}\n",
        static_cast<long long>(pages_before), static_cast<long long>(pages_after),
        static_cast<long long>(changed), static_cast<long long>(inserted),
        static_cast<long long>(updated), static_cast<unsigned long long>(before.size() * page_size),
        static_cast<unsigned long long>(after.size() * page_size));
    return 0;
}
