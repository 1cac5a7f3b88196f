// package.consumer_sha256: a sealed backup through an installed dbsafe, found with
// find_package(dbsafe CONFIG REQUIRED COMPONENTS sha256) and linked to dbsafe::sha256 only.
#include <dbsafe/backends/sha256_seal.hpp>
#include <dbsafe/dbsafe.hpp>
#include <iostream>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: consumer DATABASE\n";
        return 2;
    }
    using checks = dbsafe::all_of<dbsafe::standard_checks, dbsafe::sha256_seal>;
    dbsafe::basic_vault<dbsafe::online_backup, checks, dbsafe::keep_all, dbsafe::local_directory>
        vault{.storage = dbsafe::local_directory{"sealed_backups"}};
    auto made = vault.backup(argv[1]);
    if (!made) {
        std::cerr << made.error().message << "\n";
        return 1;
    }
    auto checked = vault.verify(made.value().id);
    if (!checked || !checked.value().seal) {
        std::cerr << (checked ? "the backup has no seal" : checked.error().message) << "\n";
        return 1;
    }
    std::cout << "sealed backup " << made.value().id << " verified: sha256 "
              << checked.value().seal->hex << "\n";
    return 0;
}
