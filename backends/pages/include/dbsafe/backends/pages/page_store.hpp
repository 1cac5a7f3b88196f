// Storing new pages: the part of a backup that writes packs.
//
// A page whose digest the repository already holds (any index file) or that this backup has
// already stored is skipped: that is the deduplication. New pages are gathered into frames of
// up to `frame_pages` consecutive pages (consecutive: pages next to each other in a database
// compress well together, and a restore reading page by page finds the next one in the frame
// it just decompressed), frames into packs closed near `pack_bytes`. A closed pack is written
// and fsynced at once (content-addressed, content_file.hpp), so commit() waits only for the
// last one; the index file of the packs written is the caller's, at commit (its entries wait
// in a scratch file meanwhile, page_spool.hpp).
//
// Whether the repository holds a page is asked one of two ways. Exactly: every digest it holds,
// one sorted vector (32 bytes each), loaded at the first page. Or, once use_filter() was called
// (an incremental backup whose change cache offers only the changed pages, page_intake.hpp),
// through a Bloom filter (digest_filter.hpp, 10 bits each): a page it answers "maybe" for is
// held, and one pass over the index files settles every page held (when they reach
// `pending_bytes`, and at flush()). A pass that finds most held pages stored means the pages
// are mostly old ones (a snapshot the cache did not describe): the store then goes exact.
//
// Memory: the filter or the sorted digests, the pages stored by this backup as an
// open-addressing set (about 43 bytes each), the held pages, one frame and one pack. The
// index entries of the packs written wait on disk.
#pragma once

#include <zstd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/content_file.hpp"
#include "dbsafe/backends/pages/digest_filter.hpp"
#include "dbsafe/backends/pages/index_file.hpp"
#include "dbsafe/backends/pages/pack_file.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/backends/pages/page_spool.hpp"
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
    std::uint64_t pending_bytes = std::uint64_t{4} << 20;  // pages held for the filter's "maybe"
};

class page_store {
  public:
    // `index_dir`: the repository's index files (empty: a repository with none). Then either
    // `filter`, what they held when the backup began (digest_filter::of_index), for
    // use_filter(); or `known`, every digest they held (load_stored_digests), when the caller
    // knows the filter will not be asked; or neither: the digests are loaded at the first page.
    page_store(std::filesystem::path packs_dir, page_store_settings settings,
               std::filesystem::path index_dir, digest_filter filter = {},
               std::optional<std::vector<page_digest>> known = std::nullopt)
        : packs_dir_(std::move(packs_dir)),
          settings_(settings),
          index_dir_(std::move(index_dir)),
          filter_(std::move(filter)),
          known_(std::move(known)) {}

    // Asks the filter instead of every digest (see above), if there is one and the digests
    // were not loaded; before the first add().
    void use_filter() noexcept {
        if (!known_ && filter_.bytes() > 0) filtered_ = true;
    }
    [[nodiscard]] bool filtered() const noexcept { return filtered_; }

    // Stores page `page_number` (1-based) unless its digest is already stored (or held).
    result<void> add(std::uint64_t page_number, std::span<const std::byte> page,
                     const page_digest& d) {
        if (fresh_.contains(d)) return success();
        if (!filtered_) {
            if (!known_) DBSAFE_TRYV(load_known());
            if (std::binary_search(known_->begin(), known_->end(), d)) return success();
            fresh_.insert(d);
            return store(page_number, page, d);
        }
        fresh_.insert(d);
        if (!filter_.may_contain(d)) return store(page_number, page, d);
        pending_.push_back({page_number, d, pending_raw_.size(), page.size()});
        pending_raw_.insert(pending_raw_.end(), page.begin(), page.end());
        if (pending_raw_.size() >= settings_.pending_bytes) return settle_pending();
        return success();
    }

    // How many pages the filter answered "maybe" for, and how many of those were stored.
    [[nodiscard]] std::uint64_t pages_held() const noexcept { return pages_held_; }
    [[nodiscard]] std::uint64_t pages_held_found() const noexcept { return pages_held_found_; }

    // Closes the open frame and pack: everything added is then in fsynced pack files. Nothing
    // more is added after it, so the digests the repository held are let go.
    result<void> flush() {
        DBSAFE_TRYV(settle_pending());
        DBSAFE_TRYV(close_frame());
        DBSAFE_TRYV(close_pack());
        known_.reset();
        filter_ = digest_filter{};
        fresh_ = digest_set{};
        std::vector<std::byte>().swap(pending_raw_);
        return success();
    }

    // The packs written, as the index file that lists them, stored in `index_dir` as it is
    // read from the scratch file their entries went to as each pack closed (a first backup's
    // are 48 bytes per page). Only when packs_written() > 0.
    result<stored_file> store_index_file(const std::filesystem::path& index_dir) const {
        DBSAFE_TRY(auto out, content_file_writer::create(index_dir, ".idx"));
        byte_writer header;
        header.magic(index_magic);
        header.u32(packs_written_);
        DBSAFE_TRYV(out.write(header.buffer()));
        auto in = index_body_.read();
        for (;;) {
            DBSAFE_TRY(const auto piece, in.next());
            if (piece.empty()) break;
            DBSAFE_TRYV(out.write(piece));
        }
        return out.finish();
    }
    // The same index file in memory (garbage collection's repacking, tests); empty when no
    // pack was written.
    [[nodiscard]] result<std::vector<std::byte>> index_file() const {
        if (packs_written_ == 0) return std::vector<std::byte>{};
        byte_writer w;
        w.magic(index_magic);
        w.u32(packs_written_);
        DBSAFE_TRY(const auto body, index_body_.all());
        w.bytes(body);
        return std::move(w).finish();
    }
    [[nodiscard]] std::uint32_t packs_written() const noexcept { return packs_written_; }
    [[nodiscard]] std::uint64_t pages_new() const noexcept { return pages_new_; }
    [[nodiscard]] std::uint64_t bytes_added() const noexcept { return bytes_added_; }

  private:
    struct held_page {
        std::uint64_t page_number;
        page_digest digest;
        std::size_t at;  // in pending_raw_
        std::size_t length;
    };

    result<void> load_known() {
        filter_ = digest_filter{};                // exact from here on
        std::vector<damaged_index_file> damaged;  // skipped: their pages are stored again
        if (index_dir_.empty()) {
            known_.emplace();
            return success();
        }
        DBSAFE_TRY(known_, load_stored_digests(index_dir_, &damaged));
        return success();
    }

    // One pass over the index files answers for every held page: those listed are stored
    // already, the others are stored now. A damaged file's entries are not taken (as
    // load_stored_digests skips it): its pages are stored again.
    result<void> settle_pending() {
        if (pending_.empty()) return success();
        std::vector<page_digest> wanted;
        wanted.reserve(pending_.size());
        for (const auto& p : pending_) wanted.push_back(p.digest);
        std::sort(wanted.begin(), wanted.end());
        std::vector<bool> found(wanted.size(), false);
        if (!index_dir_.empty()) {
            DBSAFE_TRY(const auto files, index_files(index_dir_));
            std::vector<std::size_t> in_file;
            for (const auto& f : files) {
                in_file.clear();
                auto read = read_index_file(
                    f, [](const page_digest&, std::uint32_t) {},
                    [&](const pack_entry& e) {
                        const auto it = std::lower_bound(wanted.begin(), wanted.end(), e.digest);
                        if (it != wanted.end() && *it == e.digest) {
                            in_file.push_back(static_cast<std::size_t>(it - wanted.begin()));
                        }
                    });
                if (!read) {
                    if (!read.error().is(errc::checksum_mismatch)) return read.as_failure();
                    continue;
                }
                for (const std::size_t i : in_file) found[i] = true;
            }
        }
        std::uint64_t stored_already = 0;
        for (const auto& p : pending_) {
            const auto i = static_cast<std::size_t>(
                std::lower_bound(wanted.begin(), wanted.end(), p.digest) - wanted.begin());
            if (found[i]) {
                ++stored_already;
                continue;
            }
            DBSAFE_TRYV(store(p.page_number,
                              std::span<const std::byte>(pending_raw_).subspan(p.at, p.length),
                              p.digest));
        }
        pages_held_ += pending_.size();
        pages_held_found_ += stored_already;
        // Mostly pages the repository holds: the cache did not describe this snapshot's
        // source, and a pass per few MiB of them would cost more than every digest loaded.
        if (pending_.size() >= 256 && 2 * stored_already > pending_.size()) filtered_ = false;
        pending_.clear();
        pending_raw_.clear();
        return success();
    }

    result<void> store(std::uint64_t page_number, std::span<const std::byte> page,
                       const page_digest& d) {
        if (!frame_entries_.empty() &&
            (page_number != last_page_ + 1 || frame_entries_.size() >= settings_.frame_pages ||
             page.size() != frame_entries_.front().page_length)) {
            DBSAFE_TRYV(close_frame());
        }
        frame_entries_.push_back({d, 0, 0, static_cast<std::uint32_t>(raw_.size()),
                                  static_cast<std::uint32_t>(page.size())});
        raw_.insert(raw_.end(), page.begin(), page.end());
        last_page_ = page_number;
        ++pages_new_;
        return success();
    }

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
        if (!index_body_.created()) {
            DBSAFE_TRY(index_body_, scratch_spool<std::byte>::create(packs_dir_, "index"));
        }
        byte_writer group;  // this pack's part of the index file
        group.digest(f.digest);
        group.u32(static_cast<std::uint32_t>(entries.size()));
        for (const auto& e : entries) write_entry(group, e);
        DBSAFE_TRYV(index_body_.append(std::span(group.buffer())));
        ++packs_written_;
        return success();
    }

    std::filesystem::path packs_dir_;
    page_store_settings settings_;
    std::filesystem::path index_dir_;
    digest_filter filter_;
    bool filtered_ = false;
    std::optional<std::vector<page_digest>> known_;  // exact: loaded at the first page
    digest_set fresh_;                               // stored or held by this backup
    std::vector<held_page> pending_;
    std::vector<std::byte> pending_raw_;
    std::uint64_t pages_held_ = 0;
    std::uint64_t pages_held_found_ = 0;
    zstd_detail::zstd_cctx cctx_;
    std::vector<pack_entry> frame_entries_;
    std::vector<std::byte> raw_;
    std::vector<std::byte> compressed_;
    std::uint64_t last_page_ = 0;
    pack_builder pack_;
    scratch_spool<std::byte> index_body_;  // the index file's packs and entries so far
    std::uint32_t packs_written_ = 0;
    std::uint64_t pages_new_ = 0;
    std::uint64_t bytes_added_ = 0;
};

}  // namespace dbsafe::pages_detail
