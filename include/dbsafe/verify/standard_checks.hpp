// standard_checks: the verifier chosen at run time (the CLI's --verify full|quick|none and
// --require-table), and the vault's default: checksum and quick or integrity check (side by
// side), then the required tables.
#pragma once

#include <future>
#include <string>
#include <system_error>
#include <vector>

#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/verify/checksum_matches.hpp"
#include "dbsafe/verify/required_tables.hpp"
#include "dbsafe/verify/sqlite_checks.hpp"
#include "dbsafe/verify/verifier.hpp"

namespace dbsafe {

enum class check_level { full, quick, none };

struct standard_checks {
    check_level level = check_level::full;
    std::vector<std::string> required{};  // table names
    bool checksum = true;
    bool memory_mapped = false;  // SQLite's checks read through a memory map (sqlite_checks.hpp)

    [[nodiscard]] result<void> verify(const backup_file& f) const {
        // Restore's byte copy of a database SQLite could not open (file_copy_method) is no
        // SQLite image by design: its checksum, proving the copy faithful, is all to check.
        if (f.description != nullptr && f.description->method == file_copy_method) {
            return checksum_matches{}.verify(f);
        }
        // The checksum (I/O and xxh3) runs on a second thread while SQLite walks the b-trees:
        // on 512 MiB that hides its 0.1 s behind the check. A mismatch is reported first: it
        // says more precisely what happened to the file.
        const bool hash = checksum && f.description != nullptr && !f.checksum_fresh;
        std::future<result<void>> hashed;
        if (hash && level != check_level::none) {
            try {
                hashed =
                    std::async(std::launch::async, [&f] { return checksum_matches{}.verify(f); });
            } catch (const std::system_error&) {  // no thread to be had: hash inline instead
                DBSAFE_TRYV(checksum_matches{}.verify(f));
            }
        }
        result<void> checked = success();
        switch (level) {
            case check_level::full:
                checked =
                    integrity_check{.max_messages = 10, .memory_mapped = memory_mapped}.verify(f);
                break;
            case check_level::quick:
                checked = quick_check{.max_messages = 10, .memory_mapped = memory_mapped}.verify(f);
                break;
            case check_level::none:
                if (hash) checked = checksum_matches{}.verify(f);
                break;
        }
        if (hashed.valid()) DBSAFE_TRYV(hashed.get());
        DBSAFE_TRYV(checked);
        return required_tables{required}.verify(f);
    }
};

}  // namespace dbsafe
