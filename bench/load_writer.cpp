// dbsafe-load-writer DB [--seconds S] [--pause-ms P]: small write transactions as fast as they
// commit (one insert + one update each, synchronous=NORMAL), or with a pause of P ms after each
// commit (a writer that comes and goes), until SIGTERM/SIGINT or S seconds. Prints
// "<commits> <seconds> <commits/s> <longest ms>" on exit, the last the longest transaction
// (BEGIN IMMEDIATE to COMMIT): how long the writer waited for a lock at worst. Used by
// bench/load.sh to load a database while a backup runs; the journal mode is the database's own.
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

std::atomic<bool> stop{false};

bool exec(sqlite3* db, const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) == SQLITE_OK) return true;
    std::fprintf(stderr, "dbsafe-load-writer: %s: %s\n", sql, msg != nullptr ? msg : "?");
    sqlite3_free(msg);
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    double limit = 1e9;
    long pause_ms = 0;
    bool usage = argc < 2 || argc % 2 != 0;
    for (int i = 2; !usage && i + 1 < argc; i += 2) {
        const std::string option = argv[i];
        if (option == "--seconds") {
            limit = std::strtod(argv[i + 1], nullptr);
        } else if (option == "--pause-ms") {
            pause_ms = std::strtol(argv[i + 1], nullptr, 10);
        } else {
            usage = true;
        }
    }
    if (usage) {
        std::fprintf(stderr, "usage: dbsafe-load-writer DB [--seconds S] [--pause-ms P]\n");
        return 2;
    }
    struct sigaction sa {};
    sa.sa_handler = [](int) { stop = true; };
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        std::fprintf(stderr, "dbsafe-load-writer: cannot open %s\n", argv[1]);
        return 1;
    }
    sqlite3_busy_timeout(db, 60'000);
    if (!exec(db,
              "PRAGMA synchronous=NORMAL;"
              "CREATE TABLE IF NOT EXISTS load_log(id INTEGER PRIMARY KEY, at INTEGER, "
              "payload BLOB)")) {
        return 1;
    }
    sqlite3_stmt* ins = nullptr;
    sqlite3_stmt* upd = nullptr;
    sqlite3_prepare_v2(db, "INSERT INTO load_log(at, payload) VALUES(?1, randomblob(100))", -1,
                       &ins, nullptr);
    sqlite3_prepare_v2(db, "UPDATE customers SET balance = balance + 1 WHERE id = ?1", -1, &upd,
                       nullptr);
    const auto start = std::chrono::steady_clock::now();
    long long commits = 0;
    double elapsed = 0;
    double longest_ms = 0;
    while (!stop.load()) {
        const auto began = std::chrono::steady_clock::now();
        if (!exec(db, "BEGIN IMMEDIATE")) break;
        sqlite3_bind_int64(ins, 1, commits);
        sqlite3_step(ins);
        sqlite3_reset(ins);
        sqlite3_bind_int64(upd, 1, 1 + (commits * 7919) % 10000);
        sqlite3_step(upd);
        sqlite3_reset(upd);
        if (!exec(db, "COMMIT")) break;
        ++commits;
        longest_ms = std::max(longest_ms, std::chrono::duration<double, std::milli>(
                                              std::chrono::steady_clock::now() - began)
                                              .count());
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (elapsed >= limit) break;
        if (pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_close(db);
    std::printf("%lld %.3f %.1f %.1f\n", commits, elapsed, elapsed > 0 ? commits / elapsed : 0.0,
                longest_ms);
    return 0;
}
