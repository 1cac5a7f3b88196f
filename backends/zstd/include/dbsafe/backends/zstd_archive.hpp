// zstd_archive: backups stored as zstd archives, `<id>.db.zst` + `<id>.json` (target
// dbsafe::zstd). The storage target is dbsafe/backends/zstd/archive.hpp; this header is the one
// users include.
#pragma once

#include "dbsafe/backends/zstd/archive.hpp"  // IWYU pragma: export
