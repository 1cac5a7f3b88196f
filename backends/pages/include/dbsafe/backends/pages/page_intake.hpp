// page_intake: the pages of one page backup as they arrive, whichever way they come.
//
//  - Fed (snapshot_sink.hpp): the snapshot is the database file, read in large chunks inside
//    one read transaction, and hands each chunk over. The pages are hashed by two threads (the
//    caller's and one helper, a half each: SHA-256 is the cost) and the new ones stored. No
//    staged copy is written or read. The vault checks the snapshot on the source connection
//    inside the same read transaction, then complete() says the image is final.
//  - Followed (page_writer.hpp): any other snapshot writes the staged file, and the follower
//    thread started by start() hashes and stores it as it grows.
//
// begin() comes before the snapshot writes anything to the staged file (the file copy is
// tried first), so the follower, stopped there, has read nothing. A fed image abandoned after
// begin() (a copy that gave way to a writer and went on in steps into the staged file) leaves
// its pages in the store, where they cost nothing (stored once, by address) and are collected
// if no snapshot needs them; finish() then scans the staged file in full.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/backends/pages/page_list.hpp"
#include "dbsafe/backends/pages/page_store.hpp"
#include "dbsafe/backends/pages/page_writer.hpp"
#include "dbsafe/backends/pages/snapshot_object.hpp"
#include "dbsafe/checksum.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/snapshot_sink.hpp"

namespace dbsafe::pages_detail {

class page_intake final : public snapshot_sink {
  public:
    page_intake(std::filesystem::path staged, page_store store)
        : staged_(staged), follower_(std::move(staged), std::move(store)) {}
    ~page_intake() override { stop(); }

    void start() { follower_.start(); }
    // Abandons the backup (discard): the follower stops; what was stored is garbage.
    void stop() noexcept { follower_.stop(); }

    result<void> begin(std::uint32_t page_size, std::uint64_t page_count) override {
        follower_.stop();
        if (follower_.has_read()) {
            return error(errc::invalid_argument,
                         "pages of " + staged_.string() +
                             " were fed after the snapshot had begun writing the staged file; "
                             "a snapshot strategy must feed the sink first (snapshot_sink.hpp)");
        }
        if (!valid_page_size(page_size) || page_count == 0 || page_count > max_page_count) {
            return error(errc::invalid_argument, "cannot store " + std::to_string(page_count) +
                                                     " pages of " + std::to_string(page_size) +
                                                     " bytes as a page snapshot");
        }
        DBSAFE_TRYV(hashers_[0].ready());
        DBSAFE_TRYV(hashers_[1].ready());
        page_size_ = page_size;
        expected_pages_ = page_count;
        pages_.clear();
        pages_.reserve(static_cast<std::size_t>(page_count));
        image_.reset();
        return success();
    }

    result<void> feed(std::span<const std::byte> bytes) override {
        if (page_size_ == 0 || bytes.size() % page_size_ != 0 ||
            pages_.size() + bytes.size() / page_size_ > expected_pages_) {
            return error(errc::invalid_argument,
                         "pages fed for " + staged_.string() +
                             " do not fit the image begun (whole pages, at most the page count)");
        }
        const std::size_t n = bytes.size() / page_size_;
        const std::size_t first = pages_.size();
        pages_.resize(first + n);
        const std::span<page_digest> out(pages_.data() + first, n);
        DBSAFE_TRYV(hash_pages(bytes, out));
        page_store& store = follower_.store();
        for (std::size_t i = 0; i < n; ++i) {
            DBSAFE_TRYV(
                store.add(first + i + 1, bytes.subspan(i * page_size_, page_size_), out[i]));
        }
        return success();
    }

    result<void> complete(const checksum& image) override {
        if (pages_.size() != expected_pages_) {
            return error(errc::invalid_argument, "the image fed for " + staged_.string() +
                                                     " ended after " +
                                                     std::to_string(pages_.size()) + " of " +
                                                     std::to_string(expected_pages_) + " pages");
        }
        image_ = image;
        return success();
    }

    // The snapshot's page digests, every page stored: those fed, or the staged file's.
    // `final_checksum` is the manifest's. nullopt: the staged file is no SQLite image of whole
    // pages (page_follower::finish).
    result<std::optional<followed_pages>> finish(const checksum& final_checksum) {
        if (!image_) return follower_.finish(final_checksum);
        if (!(*image_ == final_checksum)) {
            return error(errc::checksum_mismatch,
                         "the pages stored for " + staged_.string() + " hash to " + image_->hex +
                             ", not to the manifest's " + final_checksum.hex +
                             "; the backup was not published");
        }
        DBSAFE_TRYV(follower_.store().flush());
        return std::optional<followed_pages>{
            followed_pages{page_size_, std::move(pages_), true, true}};
    }

    [[nodiscard]] const page_store& store() const noexcept { return follower_.store(); }

  private:
    // SHA-256 of each page of `bytes` into `out`: the second half on a helper thread (a
    // chunk is up to 4 MiB, so starting a thread per chunk costs < 1 % of hashing it).
    result<void> hash_pages(std::span<const std::byte> bytes, std::span<page_digest> out) {
        const auto hash_range = [&](sha256_hasher& h, std::size_t from,
                                    std::size_t to) -> result<void> {
            for (std::size_t i = from; i < to; ++i) {
                DBSAFE_TRY(out[i], h.digest(bytes.subspan(i * page_size_, page_size_)));
            }
            return success();
        };
        const std::size_t n = out.size();
        const std::size_t half = n / 2;
        std::future<result<void>> second;
        if (n >= 64) {
            try {
                second = std::async(std::launch::async,
                                    [&] { return hash_range(hashers_[1], half, n); });
            } catch (const std::system_error&) {  // no thread to be had: hash it all here
            }
        }
        auto first = hash_range(hashers_[0], 0, second.valid() ? half : n);
        if (second.valid()) {
            auto other = second.get();
            DBSAFE_TRYV(first);
            return other;
        }
        return first;
    }

    std::filesystem::path staged_;
    page_follower follower_;
    std::array<sha256_hasher, 2> hashers_{};
    std::uint32_t page_size_ = 0;
    std::uint64_t expected_pages_ = 0;
    std::vector<page_digest> pages_;
    std::optional<checksum> image_;
};

}  // namespace dbsafe::pages_detail
