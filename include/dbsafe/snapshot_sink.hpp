// snapshot_sink: where a snapshot read straight from the database file goes when the storage
// target stores pages, not files (the page repository, backends/pages).
//
// Why: a page backup needs the snapshot's pages and their hashes, not a copy of the file. When
// the snapshot is the database file itself (snapshot/database_file_copy.hpp), writing a staged
// copy only for the target to read it back costs a write and a read of the whole database for
// nothing. A target that can take the bytes as they are read offers a sink with its staged
// backup (staged_backup::sink); the snapshot feeds it instead of writing the staged file, and
// the vault checks the snapshot on the source connection inside the same read transaction, so
// what was checked is exactly what the sink received. Any other path (the backup API, VACUUM
// INTO, a copy that gave way to a writer) writes the staged file as always, and the target
// reads that file instead: begin() without complete() means "use the file".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "dbsafe/checksum.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe {

class snapshot_sink {
  public:
    snapshot_sink() = default;
    snapshot_sink(const snapshot_sink&) = delete;
    snapshot_sink& operator=(const snapshot_sink&) = delete;
    virtual ~snapshot_sink() = default;

    // The database the next image is read from, as its manifest will name it (called before
    // the snapshot starts). A target may use it to find what it kept of that database's
    // previous image (the page repository's change cache); the default ignores it.
    virtual void source(std::string_view /*source_path*/) {}

    // A new image of `page_count` pages of `page_size` bytes follows; forgets what an earlier,
    // abandoned attempt fed.
    virtual result<void> begin(std::uint32_t page_size, std::uint64_t page_count) = 0;
    // The next whole pages of the image, in order from page 1 (bytes 18 and 19 of page 1
    // already say "rollback journal", as in a staged copy). The span is only valid during the
    // call.
    virtual result<void> feed(std::span<const std::byte> pages) = 0;
    // The image is complete, checked, and hashes (xxh3-128) to `image`: the target stores it
    // from what it was fed, not from the staged file.
    virtual result<void> complete(const checksum& image) = 0;
};

}  // namespace dbsafe
