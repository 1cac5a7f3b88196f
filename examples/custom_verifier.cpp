// A verifier of your own: an application invariant that SQLite's checks cannot know about.
//
// integrity_check says the b-trees are sound; it cannot say that every order still points at a
// customer. `orders_have_customers` checks that on an open database: on each backup file
// (opened read-only), where all_of() runs it after the cheap checksum and the quick_check,
// stopping at the first failure, and on the live database a restore has just written, where a
// failure puts the previous content back. A backup that fails any of them is never published.
//
//   $ ./example_custom_verifier [WORK_DIR]
//
// Builds a small shop database, takes a backup that passes, then breaks the invariant and shows
// that the next backup is refused with the verifier's own message, and that restoring the good
// backup (checked again in the live database) repairs the data. Exits 0 when all three happen.
#include <sqlite3.h>
#include <stdlib.h>

#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

namespace {

using db_ptr = std::unique_ptr<sqlite3, decltype(&sqlite3_close)>;

db_ptr open(const std::filesystem::path& path, int flags) {
    sqlite3* raw = nullptr;
    sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    return {raw, &sqlite3_close};
}

bool run(sqlite3* db, const char* sql) {
    return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

// The model of dbsafe::database_verifier: `result<void> check(const checked_database&) const`
// judges an open database; `verify`, the file level every verifier has, opens the backup
// read-only and runs the same check. The message says which database, what is wrong and what
// to do, like dbsafe's own checks.
struct orders_have_customers {
    [[nodiscard]] dbsafe::result<void> check(const dbsafe::checked_database& d) const {
        sqlite3_stmt* raw = nullptr;
        if (sqlite3_prepare_v2(d.db,
                               "SELECT count(*) FROM orders WHERE customer_id NOT IN "
                               "(SELECT id FROM customers)",
                               -1, &raw, nullptr) != SQLITE_OK) {
            return dbsafe::error(dbsafe::errc::verification_failed,
                                 "cannot check orders in " + d.name + ": " + sqlite3_errmsg(d.db));
        }
        const std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw,
                                                                              &sqlite3_finalize);
        const sqlite3_int64 orphans =
            sqlite3_step(stmt.get()) == SQLITE_ROW ? sqlite3_column_int64(stmt.get(), 0) : -1;
        if (orphans == 0) return dbsafe::success();
        return dbsafe::error(dbsafe::errc::verification_failed,
                             d.name + " has " + std::to_string(orphans) +
                                 " order(s) whose customer does not exist: the application wrote "
                                 "inconsistent data; fix it before trusting this database");
    }
    [[nodiscard]] dbsafe::result<void> verify(const dbsafe::backup_file& f) const {
        return dbsafe::check_backup_file(*this, f);
    }
};
static_assert(dbsafe::verifier<orders_have_customers>);
static_assert(dbsafe::database_verifier<orders_have_customers>);

}  // namespace

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    std::string dir_template = (fs::temp_directory_path() / "dbsafe-verifier-XXXXXX").string();
    const fs::path work = argc > 1 ? fs::path(argv[1]) : fs::path(::mkdtemp(dir_template.data()));
    struct remove_temporary {  // a directory we made up is ours to remove; WORK_DIR is not
        fs::path dir;
        ~remove_temporary() {
            std::error_code ec;
            if (!dir.empty()) fs::remove_all(dir, ec);
        }
    } cleanup{argc > 1 ? fs::path() : work};
    fs::create_directories(work);
    const fs::path app = work / "shop.db";
    {
        const db_ptr db = open(app, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        run(db.get(),
            "CREATE TABLE IF NOT EXISTS customers(id INTEGER PRIMARY KEY, name TEXT);"
            "CREATE TABLE IF NOT EXISTS orders(id INTEGER PRIMARY KEY, customer_id INTEGER);"
            "DELETE FROM orders; DELETE FROM customers;"
            "INSERT INTO customers VALUES (1, 'ada'), (2, 'brian');"
            "INSERT INTO orders VALUES (10, 1), (11, 2);");
    }

    using checks =
        dbsafe::all_of<dbsafe::checksum_matches, dbsafe::quick_check, orders_have_customers>;
    dbsafe::basic_vault<dbsafe::online_backup, checks, dbsafe::keep_all, dbsafe::local_directory>
        vault{.storage = dbsafe::local_directory{work / "backups"}};

    auto good = vault.backup(app);
    if (!good) {
        std::cerr << "unexpected: " << good.error().message << "\n";
        return 1;
    }
    std::cout << "backup " << good.value().id << " passed checksum, quick_check and the "
              << "orders invariant\n";

    {  // the application deletes a customer but forgets her orders
        const db_ptr db = open(app, SQLITE_OPEN_READWRITE);
        run(db.get(), "DELETE FROM customers WHERE id = 2");
    }
    auto bad = vault.backup(app);
    if (bad) {
        std::cerr << "unexpected: a backup with orphaned orders was published\n";
        return 1;
    }
    std::cout << "refused, as it should be:\n  " << bad.error().message << "\n";
    if (!bad.error().is(dbsafe::errc::verification_failed)) return 1;

    // The good backup back into the live database: checked as a file, copied, then checked
    // again in the live database before restore says it succeeded.
    auto restored = vault.restore(app, {.id = good.value().id});
    if (!restored) {
        std::cerr << "unexpected: " << restored.error().message << "\n";
        return 1;
    }
    std::cout << "restored " << good.value().id << "; the invariant holds in " << app.string()
              << " again\n";
    return 0;
}
