// A knex-style migration runner under dbsafe::migration_guard. Migration 001 succeeds and is
// committed; migration 002 throws halfway through, after it already changed the database, and
// the guard puts the database back exactly as it was before 002.
//
//   $ ./example_migration_guard [WORK_DIR]
//
// Exits 0 when the rollback left the database as expected (CI runs it as a test).
#include <stdlib.h>

#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using knex_vault =
    dbsafe::basic_vault<dbsafe::online_backup, dbsafe::standard_checks, dbsafe::keep_all,
                        dbsafe::local_directory, dbsafe::migration_table>;

void exec(sqlite3* db, const std::string& sql) {
    if (auto r = dbsafe::detail::exec(db, sql); !r) throw std::runtime_error(r.error().message);
}

std::vector<std::string> applied(sqlite3* db) {
    return dbsafe::migration_table{}.read(db).value().migrations;
}

void show(sqlite3* db, const std::string& when) {
    std::cout << when << ": migrations [";
    for (const auto& m : applied(db)) std::cout << ' ' << m;
    const auto tables = dbsafe::detail::query_column(
        db, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
    std::cout << " ], tables [";
    for (const auto& t : tables.value()) std::cout << ' ' << t;
    std::cout << " ]\n";
}

struct migration {
    std::string name;
    std::function<void(sqlite3*)> up;
};

}  // namespace

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    std::string work =
        argc > 1 ? argv[1] : (fs::temp_directory_path() / "dbsafe-example-XXXXXX").string();
    if (argc <= 1 && ::mkdtemp(work.data()) == nullptr) return 1;
    const fs::path db_path = fs::path(work) / "app.db";
    fs::remove(db_path);

    auto opened = dbsafe::detail::open_database(db_path, dbsafe::detail::open_mode::create);
    if (!opened) return std::cerr << opened.error().message << "\n", 1;
    sqlite3* db = opened.value().get();
    exec(db, "PRAGMA journal_mode = WAL");
    exec(db,
         "CREATE TABLE knex_migrations(id INTEGER PRIMARY KEY, name TEXT, batch INTEGER, "
         "migration_time DATETIME DEFAULT CURRENT_TIMESTAMP)");
    exec(db, "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT)");
    exec(db, "INSERT INTO users(email) VALUES ('ada@example.com'), ('alan@example.com')");

    knex_vault vault{.storage = dbsafe::local_directory{fs::path(work) / "backups"},
                     .snapshot = {},
                     .verification = {},
                     .retention = {},
                     .options = {},
                     .schema = {}};

    const std::vector<migration> migrations = {
        {"001_add_orders",
         [](sqlite3* c) {
             exec(c, "CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER, total REAL)");
             exec(c, "INSERT INTO orders(user_id, total) VALUES (1, 9.5)");
         }},
        {"002_split_names",
         [](sqlite3* c) {
             // Each statement commits on its own (as in many real migrations): when the third
             // fails, the first two have already changed the database.
             exec(c, "ALTER TABLE users ADD COLUMN first_name TEXT");
             exec(c, "UPDATE users SET first_name = substr(email, 1, instr(email, '@') - 1)");
             exec(c, "DROP TABLE orders");
             throw std::runtime_error("002_split_names: column last_name cannot be derived");
         }},
    };

    show(db, "start                   ");
    for (const auto& m : migrations) {
        // No guard, no migration: open() fails when the pre-migration backup cannot be taken.
        auto guard = dbsafe::migration_guard::open(vault, db);
        if (!guard) return std::cerr << guard.error().message << "\n", 1;
        std::cout << "running " << m.name << " (pre-migration backup " << guard.value().backup().id
                  << ")\n";
        try {
            m.up(db);
            exec(db, "INSERT INTO knex_migrations(name, batch) VALUES ('" + m.name + "', 1)");
            if (auto c = guard.value().commit(); !c) throw std::runtime_error(c.error().message);
            show(db, "after " + m.name + "       ");
        } catch (const std::exception& e) {
            std::cout << "failed: " << e.what() << "\n";
            // Leaving the scope without commit() rolls back; calling rollback() says how it went.
            auto rolled = guard.value().rollback();
            if (!rolled) return std::cerr << rolled.error().message << "\n", 1;
            std::cout << "rolled back in " << rolled.value().total_seconds << " s (safety copy of "
                      << "the failed state: " << rolled.value().safety.id << ")\n";
            show(db, "after rollback          ");
            break;
        }
    }

    // What the guard promised: 001 kept, nothing of 002 left.
    const bool ok =
        applied(db) == std::vector<std::string>{"001_add_orders"} &&
        dbsafe::detail::query_int(db, "SELECT count(*) FROM orders").value() == 1 &&
        dbsafe::detail::query_int(db,
                                  "SELECT count(*) FROM pragma_table_info('users') WHERE "
                                  "name = 'first_name'")
                .value() == 0;
    std::cout << (ok ? "database is exactly as before 002_split_names\n"
                     : "UNEXPECTED: the rollback did not restore the database\n");
    if (argc <= 1) fs::remove_all(work);
    return ok ? 0 : 1;
}
