// Storing new pages: the part of a backup that writes packs.
//
// A page whose digest the repository already holds (any index file) or that this backup has
// already stored is skipped: that is the deduplication. New pages are gathered into frames of
// up to `frame_pages` consecutive pages (consecutive: pages next to each other in a database
// compress well together, and a restore reading page by page finds the next one in the frame
// it just decompressed), frames into packs closed near `pack_bytes`. A closed pack is written
// and fsynced at once (content-addressed, content_file.hpp), so commit() waits only for the
// last one; the index file of the packs written is the caller's, at commit.
//
// Memory: the digests the repository holds are one sorted vector (32 bytes each), the pages
// stored by this backup an open-addressing set (about 43 bytes each), one frame and one pack.
#pragma once

#include <zstd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/content_file.hpp"
#include "dbsafe/backends/pages/index_file.hpp"
#include "dbsafe/backends/pages/pack_file.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/backends/zstd/stream.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe::pages_detail {

// A set of digests: open addressing, linear probing, the all-zero digest as the empty slot
// (a SHA-256 of zero is not a value anyone can produce; it is still handled, by a flag).
class digest_set {
  public:
    [[nodiscard]] bool contains(const page_digest& d) const {
        if (d == page_digest{}) return has_zero_;
        if (slots_.empty()) return false;
        for (std::size_t i = slot(d);; i = (i + 1) & (slots_.size() - 1)) {
            if (slots_[i] == d) return true;
            if (slots_[i] == page_digest{}) return false;
        }
    }
    // True when `d` was not in the set.
    bool insert(const page_digest& d) {
        if (d == page_digest{}) return !std::exchange(has_zero_, true);
        if ((size_ + 1) * 4 > slots_.size() * 3) grow();
        for (std::size_t i = slot(d);; i = (i + 1) & (slots_.size() - 1)) {
            if (slots_[i] == d) return false;
            if (slots_[i] == page_digest{}) {
                slots_[i] = d;
                ++size_;
                return true;
            }
        }
    }
    [[nodiscard]] std::size_t size() const noexcept { return size_ + (has_zero_ ? 1 : 0); }

  private:
    [[nodiscard]] std::size_t slot(const page_digest& d) const {
        return page_digest_hash{}(d) & (slots_.size() - 1);
    }
    void grow() {
        std::vector<page_digest> old(std::max<std::size_t>(64, slots_.size() * 2));
        old.swap(slots_);
        size_ = 0;
        for (const auto& d : old) {
            if (d != page_digest{}) insert(d);
        }
    }
    std::vector<page_digest> slots_;
    std::size_t size_ = 0;
    bool has_zero_ = false;
};

struct page_store_settings {
    int level = 3;
    std::uint32_t frame_pages = 16;
    std::uint64_t pack_bytes = std::uint64_t{4} << 20;
};

class page_store {
  public:
    // `known`: the digests the repository holds, sorted and unique (load_stored_digests).
    page_store(std::filesystem::path packs_dir, page_store_settings settings,
               std::vector<page_digest> known)
        : packs_dir_(std::move(packs_dir)), settings_(settings), known_(std::move(known)) {}

    [[nodiscard]] bool stored(const page_digest& d) const {
        return fresh_.contains(d) || std::binary_search(known_.begin(), known_.end(), d);
    }

    // Stores page `page_number` (1-based) unless its digest is already stored.
    result<void> add(std::uint64_t page_number, std::span<const std::byte> page,
                     const page_digest& d) {
        if (stored(d)) return success();
        if (!frame_entries_.empty() &&
            (page_number != last_page_ + 1 || frame_entries_.size() >= settings_.frame_pages ||
             page.size() != frame_entries_.front().page_length)) {
            DBSAFE_TRYV(close_frame());
        }
        frame_entries_.push_back({d, 0, 0, static_cast<std::uint32_t>(raw_.size()),
                                  static_cast<std::uint32_t>(page.size())});
        raw_.insert(raw_.end(), page.begin(), page.end());
        last_page_ = page_number;
        fresh_.insert(d);
        ++pages_new_;
        return success();
    }

    // Closes the open frame and pack: everything added is then in fsynced pack files. Nothing
    // more is added after it, so the digests the repository held are let go.
    result<void> flush() {
        DBSAFE_TRYV(close_frame());
        DBSAFE_TRYV(close_pack());
        // Swapped out, not `= {}`: that assigns an empty initializer list and keeps the
        // capacity (16 MiB at 2 GiB, still held through the commit).
        std::vector<page_digest>().swap(known_);
        fresh_ = digest_set{};
        return success();
    }

    // The packs written, as the index file that lists them (built as each pack closes, so the
    // entries are held once); empty when no pack was written.
    [[nodiscard]] std::vector<std::byte> index_file() const {
        if (packs_written_ == 0) return {};
        pages_detail::byte_writer w;
        w.bytes(index_);
        w.patch_u32(pages_detail::index_magic.size(), packs_written_);  // the pack count
        return std::move(w).finish();
    }
    [[nodiscard]] std::uint32_t packs_written() const noexcept { return packs_written_; }
    [[nodiscard]] std::uint64_t pages_new() const noexcept { return pages_new_; }
    [[nodiscard]] std::uint64_t bytes_added() const noexcept { return bytes_added_; }

  private:
    result<void> close_frame() {
        if (frame_entries_.empty()) return success();
        if (!cctx_) {
            DBSAFE_TRY(cctx_, zstd_detail::make_zstd_cctx(settings_.level, 1));
        }
        compressed_.resize(ZSTD_compressBound(raw_.size()));
        const std::size_t n = ZSTD_compress2(cctx_.get(), compressed_.data(), compressed_.size(),
                                             raw_.data(), raw_.size());
        if (ZSTD_isError(n)) {
            return error(errc::io_error,
                         std::string("zstd compression of pages failed: ") + ZSTD_getErrorName(n));
        }
        if (pack_.empty()) {
            // The pack closes at the first frame that takes it past pack_bytes: room for that
            // frame, and for the entry table of ~10 k pages (48 bytes each; 4 KiB pages that
            // compress 10:1). A larger table costs one copy of the pack at finish(), no more.
            pack_ =
                pack_builder(settings_.pack_bytes + compressed_.size() + settings_.pack_bytes / 8);
        }
        pack_.add_frame(std::span(compressed_).first(n), frame_entries_);
        frame_entries_.clear();
        raw_.clear();
        if (pack_.size() >= settings_.pack_bytes) return close_pack();
        return success();
    }

    result<void> close_pack() {
        if (pack_.empty()) return success();
        auto entries = pack_.entries();
        const auto bytes = std::exchange(pack_, pack_builder{}).finish();
        DBSAFE_TRY(const stored_file f, store_content_file(packs_dir_, ".pack", bytes));
        if (f.created) bytes_added_ += bytes.size();
        if (packs_written_ == 0) {
            index_.magic(pages_detail::index_magic);
            index_.u32(0);  // the pack count, set by index_file()
        }
        index_.digest(f.digest);
        index_.u32(static_cast<std::uint32_t>(entries.size()));
        for (const auto& e : entries) pages_detail::write_entry(index_, e);
        ++packs_written_;
        return success();
    }

    std::filesystem::path packs_dir_;
    page_store_settings settings_;
    std::vector<page_digest> known_;
    digest_set fresh_;
    zstd_detail::zstd_cctx cctx_;
    std::vector<pack_entry> frame_entries_;
    std::vector<std::byte> raw_;
    std::vector<std::byte> compressed_;
    std::uint64_t last_page_ = 0;
    pack_builder pack_;
    pages_detail::byte_writer index_;
    std::uint32_t packs_written_ = 0;
    std::uint64_t pages_new_ = 0;
    std::uint64_t bytes_added_ = 0;
};

}  // namespace dbsafe::pages_detail
