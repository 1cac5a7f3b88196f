// The smallest real use of the package: create a database, back it up, verify the backup; with
// the zstd component, the same through a zstd archive. Built by `conan create` (test_package)
// and, against a `cmake --install` prefix, by the suite's package.consumer_zstd test.
#include <sqlite3.h>

#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <iostream>
#ifdef DBSAFE_TEST_ZSTD
#include <dbsafe/backends/zstd_archive.hpp>
#endif

namespace {

template <class Vault>
bool backup_and_verify(Vault& vault, const char* what) {
    auto made = vault.backup("test_package.db");
    if (!made) {
        std::cerr << what << ": " << made.error().message << "\n";
        return false;
    }
    if (auto checked = vault.verify(made.value().id); !checked) {
        std::cerr << what << ": " << checked.error().message << "\n";
        return false;
    }
    std::cout << what << ": backup " << made.value().id << " verified\n";
    return true;
}

}  // namespace

int main() {
    sqlite3* db = nullptr;
    if (sqlite3_open("test_package.db", &db) != SQLITE_OK) return 1;
    const int rc = sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES (1);",
                                nullptr, nullptr, nullptr);
    sqlite3_close(db);
    if (rc != SQLITE_OK) return 1;
    std::cout << "dbsafe " << dbsafe::version_string << "\n";

    dbsafe::vault plain{.storage = dbsafe::local_directory{"test_package_backups"}};
    if (!backup_and_verify(plain, "local_directory")) return 1;

#ifdef DBSAFE_TEST_ZSTD
    dbsafe::basic_vault<dbsafe::online_backup, dbsafe::standard_checks, dbsafe::keep_all,
                        dbsafe::zstd_archive>
        archived{.storage = dbsafe::zstd_archive{"test_package_archives"}};
    if (!backup_and_verify(archived, "zstd_archive")) return 1;
    auto listed = archived.list();
    if (!listed || listed.value().backups.empty() || !listed.value().backups.front().compression ||
        !std::filesystem::exists(
            archived.storage.archive_path(listed.value().backups.front().id))) {
        std::cerr << "zstd_archive: the backup is not a .db.zst archive\n";
        return 1;
    }
#endif
    return 0;
}
