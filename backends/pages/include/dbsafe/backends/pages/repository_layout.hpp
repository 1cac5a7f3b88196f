// Where the page repository's files are, inside a backup directory D:
//   D/<id>.pages                 snapshot objects, beside the manifests (local_directory's)
//   D/pages/config.json          the config (repository_config.hpp)
//   D/pages/lock                 the lock (repository_lock.hpp)
//   D/pages/packs/<sha256>.pack  packs (pack_file.hpp)
//   D/pages/index/<sha256>.idx   index files (index_file.hpp)
//   D/pages/lists/<sha256>.list  page lists (page_list.hpp)
//   D/pages/cache/<hash>.cache   change caches, one per source database (change_cache.hpp)
//   D/pages/**/<name>.<pid>-<n>.tmp  a file being written (debris when old)
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/storage/file_operations.hpp"

namespace dbsafe {

struct repository_layout {
    std::filesystem::path directory;  // D, the backup directory

    [[nodiscard]] std::filesystem::path root() const { return directory / "pages"; }
    [[nodiscard]] std::filesystem::path packs() const { return root() / "packs"; }
    [[nodiscard]] std::filesystem::path index() const { return root() / "index"; }
    [[nodiscard]] std::filesystem::path lists() const { return root() / "lists"; }
    [[nodiscard]] std::filesystem::path caches() const { return root() / "cache"; }
    [[nodiscard]] std::filesystem::path config() const { return root() / "config.json"; }
    [[nodiscard]] std::filesystem::path object(std::string_view id) const {
        return directory / (std::string(id) + ".pages");
    }
    [[nodiscard]] std::filesystem::path pack(const page_digest& d) const {
        return packs() / (d.hex() + ".pack");
    }
    [[nodiscard]] std::filesystem::path list(const page_digest& d) const {
        return lists() / (d.hex() + ".list");
    }

    // Creates the repository's folders (0700) if they are missing. Not caches(): the change
    // cache is a hint, created by its writer, and something planted there must not stop backups.
    [[nodiscard]] result<void> create() const {
        for (const auto& p : {directory, root(), packs(), index(), lists()}) {
            DBSAFE_TRYV(file_ops::ensure_directory(p));
        }
        return success();
    }
};

}  // namespace dbsafe
