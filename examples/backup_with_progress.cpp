// A backup that does not block the caller: backup_async() copies on a worker thread while this
// thread draws a progress bar from task.current(), as a UI thread would.
//
//   $ ./example_backup_with_progress [DATABASE BACKUP_DIR]
//
// Without arguments it backs up a 32 MiB demo database in a temporary directory, removed at
// the end; CI runs it that way as a test. The copy runs
// in steps of 256 pages (1 MiB at 4 KiB pages), so progress moves; the default (1024 pages)
// is what `dbsafe backup` uses, and -1 copies in one step (fastest, no progress until done).
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

namespace {

std::filesystem::path make_demo_database(const std::filesystem::path& dir) {
    const auto path = dir / "demo.db";
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode = WAL;"
                 "CREATE TABLE IF NOT EXISTS blobs(id INTEGER PRIMARY KEY, body BLOB);"
                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8192)"
                 "  INSERT INTO blobs(body) SELECT randomblob(4000) FROM n;",
                 nullptr, nullptr, nullptr);
    sqlite3_close(db);
    return path;
}

void draw(const dbsafe::progress& p) {
    constexpr int width = 40;
    const int filled = static_cast<int>(p.fraction() * width);
    // The phase: the snapshot, then SQLite's check of it (a share of the file read, not of
    // the time: see docs/concepts.md, "Progress, phase by phase").
    std::fprintf(stderr, "\r%-8s [%s%s] %5.1f%%  %llu / %llu KiB",
                 std::string(dbsafe::to_string(p.phase)).c_str(), std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), p.fraction() * 100.0,
                 static_cast<unsigned long long>(p.bytes_done() / 1024),
                 static_cast<unsigned long long>(p.bytes_total() / 1024));
}

}  // namespace

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    if (argc != 1 && argc != 3) {
        std::cerr << "usage: " << argv[0] << " [DATABASE BACKUP_DIR]\n";
        return 2;
    }
    std::string dir_template = (fs::temp_directory_path() / "dbsafe-progress-XXXXXX").string();
    const fs::path demo = argc == 1 ? fs::path(::mkdtemp(dir_template.data())) : fs::path();
    struct remove_demo {
        fs::path dir;
        ~remove_demo() {
            std::error_code ec;
            if (!dir.empty()) fs::remove_all(dir, ec);
        }
    } cleanup{demo};
    const fs::path database = argc == 3 ? fs::path(argv[1]) : make_demo_database(demo);
    const fs::path backups = argc == 3 ? fs::path(argv[2]) : demo / "backups";

    dbsafe::vault vault{.storage = dbsafe::local_directory{backups},
                        .snapshot = {.pages_per_step = 256},
                        .verification = {.level = dbsafe::check_level::quick}};

    // The task owns the worker thread; destroying it early would cancel the backup and wait.
    auto task = dbsafe::backup_async(vault, database);
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    while (!task.ready()) {
        if (tty) draw(task.current());
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const auto& made = task.wait();
    if (tty) {
        draw(task.current());
        std::fputc('\n', stderr);
    }
    if (!made) {
        std::cerr << made.error().message << "\n";
        return 1;
    }
    const auto& m = made.value();
    std::cout << "backup " << m.id << ": " << m.page_count << " pages of " << m.page_size
              << " bytes, quick_check ok, in " << m.seconds << " s -> " << m.data_path.string()
              << "\n";
    // Progress reached the end: the last report covers every page of the copy.
    const auto last = task.current();
    return last.pages_total != 0 && last.pages_done == last.pages_total ? 0 : 1;
}
