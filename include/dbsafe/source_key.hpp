// Which database a backup is of: the one key prune groups backups by when it keeps the newest of
// each database. One function, so what identifies a source (today the manifest's source_path as
// recorded) is decided in one place.
#pragma once

#include <string>

#include "dbsafe/manifest.hpp"

namespace dbsafe {

inline std::string source_key(const manifest& m) { return m.source_path; }

}  // namespace dbsafe
