// The verifier concept: judge one backup file and say precisely what is wrong with it.
#pragma once

#include <concepts>
#include <filesystem>

#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"

namespace dbsafe {

// What a verifier looks at: a plain SQLite file, and the manifest that describes it when there
// is one (`dbsafe verify --file` on a lone file has none).
struct backup_file {
    std::filesystem::path path;
    const manifest* description = nullptr;
    // Set by the vault at backup time, when the manifest's checksum was computed from this very
    // file moments ago: hashing it again would only re-read the page cache and prove nothing.
    bool checksum_fresh = false;
};

template <class V>
concept verifier = requires(const V& v, const backup_file& f) {
    { v.verify(f) } -> std::same_as<result<void>>;
};

}  // namespace dbsafe
