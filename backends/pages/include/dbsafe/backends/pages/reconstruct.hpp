// Reconstructing a page snapshot as a plain SQLite file, for open(): every page is located in
// the index, its frame read from its pack and decompressed (zstd checks the frame's content
// checksum), and written at its offset. The file's xxh3-128 is then compared with the
// manifest's checksum, which is what proves the image, as it proves a plain backup file
// (docs/reliability.md: xxh3-128 against accidental damage, the SHA-256 seal against
// tampering; whoever can rewrite a pack can rewrite the snapshot object and the manifest too).
// Only when that comparison fails is every page's SHA-256 checked against its address, in a
// second pass, so the error names the damaged page and its pack. Any failure names the
// snapshot and says what to do. (Checking every page's SHA-256 on every restore cost 0.32 s
// of CPU per 512 MiB, a third of the reconstruction, and proved nothing the image checksum
// does not.) `check --read-data` and garbage collection still check every page they read.
//
// Speed: consecutive pages of a snapshot mostly sit in the same frame, so the last frames
// decompressed are kept; output is written in 1 MiB runs; a large snapshot is rebuilt by two
// threads, one half each.
#pragma once

#include <zstd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/index_file.hpp"
#include "dbsafe/backends/pages/pack_file.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/backends/pages/repository_layout.hpp"
#include "dbsafe/backends/zstd/stream.hpp"
#include "dbsafe/checksum.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/progress.hpp"
#include "dbsafe/storage/file_operations.hpp"

namespace dbsafe::pages_detail {

inline std::string repository_advice() {
    return " (restore another backup; check the repository, page_repository::check, to see "
           "which snapshots are affected)";
}

// Whether frame_reader checks each page's SHA-256 against its address.
enum class page_check { digest, none };

// Reads pages out of packs, keeping the last frames it decompressed.
class frame_reader {
  public:
    frame_reader(const repository_layout& layout, const page_index& index,
                 page_check check = page_check::digest)
        : layout_(layout), index_(index), fds_(index.packs.size()), check_(check) {}

    // The bytes of the page at `loc` (valid until the next call), checked against its digest
    // unless the reader was made with page_check::none. `what()` says which page of which
    // snapshot, for messages.
    template <class Describe>
    result<std::span<const std::byte>> page(const located_page& loc, const Describe& what) {
        const auto pack_path = [&] { return layout_.pack(index_.packs[loc.pack]); };
        cached* frame = nullptr;
        for (auto& c : cache_) {
            if (c.valid && c.pack == loc.pack && c.offset == loc.frame_offset) frame = &c;
        }
        if (frame == nullptr) {
            frame = &cache_[next_];
            next_ = (next_ + 1) % cache_.size();
            frame->valid = false;
            DBSAFE_TRYV(load(loc, pack_path(), *frame, what));
        }
        if (std::uint64_t{loc.offset_in_frame} + loc.page_length > frame->raw.size()) {
            return error(errc::checksum_mismatch,
                         what() + " lies outside its frame in pack " + pack_path().string() +
                             ": the index or the pack is damaged" + repository_advice());
        }
        const auto bytes =
            std::span<const std::byte>(frame->raw).subspan(loc.offset_in_frame, loc.page_length);
        if (check_ == page_check::none) return bytes;
        DBSAFE_TRY(const page_digest actual, hasher_.digest(bytes));
        if (actual != loc.digest) {
            return error(errc::checksum_mismatch,
                         what() + " read from pack " + pack_path().string() +
                             " does not match its SHA-256 (the pack was changed or damaged "
                             "after it was written)" +
                             repository_advice());
        }
        return bytes;
    }

  private:
    struct cached {
        bool valid = false;
        std::uint32_t pack = 0;
        std::uint32_t offset = 0;
        std::vector<std::byte> raw;
    };

    template <class Describe>
    result<void> load(const located_page& loc, const std::filesystem::path& pack_path, cached& into,
                      const Describe& what) {
        auto& fd = fds_[loc.pack];
        if (!fd) {
            auto opened = file_ops::open_for_read(pack_path);
            if (!opened) {
                if (opened.error().is(errc::not_found)) {
                    return error(errc::not_found, what() + " is in pack " + pack_path.string() +
                                                      ", which is missing" + repository_advice());
                }
                return opened.as_failure();
            }
            fd = std::move(opened).value();
        }
        if (loc.frame_length > ZSTD_compressBound(max_frame_raw_bytes)) {
            return error(errc::checksum_mismatch, what() + ": the index gives its frame in pack " +
                                                      pack_path.string() + " an impossible length" +
                                                      repository_advice());
        }
        compressed_.resize(loc.frame_length);
        DBSAFE_TRY(const std::size_t n,
                   file_ops::read_at(fd.get(), compressed_, loc.frame_offset, pack_path));
        const auto damaged = [&](const std::string& why) {
            return error(errc::checksum_mismatch,
                         what() + ": its frame at byte " + std::to_string(loc.frame_offset) +
                             " of pack " + pack_path.string() + " " + why + repository_advice());
        };
        if (n != loc.frame_length) return damaged("is cut short (the pack was truncated)");
        const auto size = ZSTD_getFrameContentSize(compressed_.data(), n);
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
            size > max_frame_raw_bytes) {
            return damaged("is not a zstd frame dbsafe wrote (the pack is damaged)");
        }
        if (!dctx_) {
            dctx_.reset(ZSTD_createDCtx());
            if (!dctx_) {
                return error(std::make_error_code(std::errc::not_enough_memory),
                             "ZSTD_createDCtx failed");
            }
        }
        into.raw.resize(static_cast<std::size_t>(size));
        const std::size_t got = ZSTD_decompressDCtx(dctx_.get(), into.raw.data(), into.raw.size(),
                                                    compressed_.data(), n);
        if (ZSTD_isError(got) || got != size) {
            return damaged(std::string("does not decompress (") +
                           (ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short") +
                           "): the pack is damaged");
        }
        into.valid = true;
        into.pack = loc.pack;
        into.offset = loc.frame_offset;
        return success();
    }

    const repository_layout& layout_;
    const page_index& index_;
    std::vector<file_ops::unique_fd> fds_;
    std::array<cached, 4> cache_{};
    std::size_t next_ = 0;
    std::vector<std::byte> compressed_;
    zstd_detail::zstd_dctx dctx_;
    sha256_hasher hasher_;
    page_check check_;
};

// Writes pages [begin, end) of snapshot `id` at their offsets in `out`.
inline result<void> reconstruct_range(const repository_layout& layout, const page_index& index,
                                      std::span<const page_digest> pages, std::size_t begin,
                                      std::size_t end, std::uint32_t page_size, int out,
                                      const std::filesystem::path& out_path, const std::string& id,
                                      page_check check, byte_progress& written_progress) {
    frame_reader reader(layout, index, check);
    std::vector<std::byte> run;
    const std::size_t run_bytes = std::max<std::size_t>(page_size, std::size_t{1} << 20);
    run.reserve(run_bytes);
    std::uint64_t written = std::uint64_t{begin} * page_size;
    const auto flush = [&]() -> result<void> {
        if (run.empty()) return success();
        DBSAFE_TRYV(file_ops::write_at(out, run, written, out_path));
        written += run.size();
        written_progress.add(run.size());
        run.clear();
        return success();
    };
    for (std::size_t i = begin; i < end; ++i) {
        // Built only for a message: a string per page would cost more than the page.
        const auto what = [&] {
            return "page " + std::to_string(i + 1) + " (" + pages[i].short_hex() +
                   ") of snapshot " + id;
        };
        const located_page* loc = index.find(pages[i]);
        if (loc == nullptr) {
            return error(
                errc::not_found,
                what() + " is in no index file of the repository " + layout.root().string() +
                    ": an index file was removed or its pack was collected" + repository_advice());
        }
        // A digest may be stored twice (two backups at once); any copy serves.
        auto bytes = reader.page(*loc, what);
        for (const located_page* other = loc + 1;
             !bytes && other != index.pages.data() + index.pages.size() &&
             other->digest == pages[i];
             ++other) {
            if (auto again = reader.page(*other, what)) bytes = std::move(again);
        }
        if (!bytes) return bytes.as_failure();
        if (bytes.value().size() != page_size) {
            return error(errc::checksum_mismatch,
                         what() + " has " + std::to_string(bytes.value().size()) +
                             " bytes, not the snapshot's page size " + std::to_string(page_size) +
                             repository_advice());
        }
        run.insert(run.end(), bytes.value().begin(), bytes.value().end());
        if (run.size() >= run_bytes) DBSAFE_TRYV(flush());
    }
    return flush();
}

// Writes pages [0, n) of snapshot `id` to `out`: decompressing is CPU-bound, so a large
// snapshot is rebuilt by two threads, each writing its half at its offsets.
inline result<void> write_all_pages(const repository_layout& layout, const page_index& index,
                                    std::span<const page_digest> pages, std::uint32_t page_size,
                                    int out, const std::filesystem::path& out_path,
                                    const std::string& id, page_check check,
                                    byte_progress& written_progress) {
    const std::size_t n = pages.size();
    const bool split = n >= 4096 && std::thread::hardware_concurrency() > 1;
    const std::size_t middle = split ? n / 2 : n;
    std::optional<error> second_failed;
    std::thread second;
    if (split) {
        second = std::thread([&]() noexcept {
            try {
                auto done = reconstruct_range(layout, index, pages, middle, n, page_size, out,
                                              out_path, id, check, written_progress);
                if (!done) second_failed = std::move(done).error();
            } catch (const std::exception& e) {  // bad_alloc: report, never terminate
                second_failed =
                    error(errc::io_error, "reconstructing snapshot " + id + " failed: " + e.what());
            }
        });
    }
    auto first = reconstruct_range(layout, index, pages, 0, middle, page_size, out, out_path, id,
                                   check, written_progress);
    if (second.joinable()) second.join();
    if (!first) return first;
    if (second_failed) return *second_failed;
    return success();
}

// Writes the snapshot `id`'s pages to `out` (an empty file) and checks the result against
// `expected`, the manifest's checksum of the database image (see the top of this file).
inline result<void> reconstruct_pages(const repository_layout& layout, const page_index& index,
                                      std::span<const page_digest> pages, std::uint32_t page_size,
                                      int out, const std::filesystem::path& out_path,
                                      const std::string& id, const checksum& expected,
                                      const progress_callback& on_progress = {}) {
    // The bytes written, from both threads, reported on this one (progress_phase::unpack).
    byte_progress written(on_progress, progress_phase::unpack,
                          std::uint64_t{page_size} * pages.size());
    // An image checksum this dbsafe cannot compute proves nothing: check every page instead.
    const bool image_provable = expected.algorithm == "xxh3-128";
    DBSAFE_TRYV(write_all_pages(layout, index, pages, page_size, out, out_path, id,
                                image_provable ? page_check::none : page_check::digest, written));
    if (!image_provable) {
        written.finished();
        return success();
    }
    // Just written: read back from the page cache.
    DBSAFE_TRY(checksum actual, hash_file(out_path));
    if (actual == expected) {
        written.finished();
        return success();
    }
    // Which page? Every page again, each checked against its address: a damaged one is named
    // with its pack, or passed over for another stored copy of it (two backups at once may
    // both have stored it), and the image is then hashed again.
    DBSAFE_TRYV(write_all_pages(layout, index, pages, page_size, out, out_path, id,
                                page_check::digest, written));
    DBSAFE_TRY(actual, hash_file(out_path));
    if (actual == expected) {
        written.finished();
        return success();
    }
    return error(errc::checksum_mismatch,
                 "snapshot " + id + " reconstructs to " + actual.hex + ", but its manifest " +
                     "records " + expected.hex +
                     " (a page list or the snapshot object does not match the backup)" +
                     repository_advice());
}

}  // namespace dbsafe::pages_detail
