// package.consumer_pages: page snapshots through an installed dbsafe, found with
// find_package(dbsafe CONFIG REQUIRED COMPONENTS pages) and linked to dbsafe::pages only (it
// brings dbsafe::zstd and OpenSSL along): two backups, the second storing only changed pages.
#include <dbsafe/backends/page_repository.hpp>
#include <dbsafe/dbsafe.hpp>
#include <iostream>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: consumer DATABASE\n";
        return 2;
    }
    dbsafe::basic_vault<dbsafe::online_backup, dbsafe::standard_checks, dbsafe::keep_all,
                        dbsafe::page_repository>
        vault{.storage = dbsafe::page_repository{"page_backups"}};
    auto first = vault.backup(argv[1]);
    auto second = first ? vault.backup(argv[1]) : first;
    if (!second) {
        std::cerr << second.error().message << "\n";
        return 1;
    }
    auto checked = vault.verify(second.value().id);
    if (!checked) {
        std::cerr << checked.error().message << "\n";
        return 1;
    }
    std::cout << "page snapshot " << second.value().id
              << " verified: " << vault.storage.last_commit().pages_new << " new pages\n";
    return 0;
}
