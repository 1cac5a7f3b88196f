// page_intake: the pages of one page backup as they arrive, whichever way they come.
//
//  - Fed (snapshot_sink.hpp): the snapshot is the database file, read in large chunks inside
//    one read transaction, and hands each chunk over. The pages are hashed by two threads (the
//    caller's and one helper, a half each: SHA-256 is the cost) and the new ones stored. No
//    staged copy is written or read. The vault checks the snapshot on the source connection
//    inside the same read transaction, then complete() says the image is final. With the
//    change cache (change_cache.hpp) only the pages whose fingerprint differs from the
//    source's previous backup are hashed with SHA-256 and offered to the store.
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
#include <functional>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/change_cache.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/backends/pages/page_list.hpp"
#include "dbsafe/backends/pages/page_spool.hpp"
#include "dbsafe/backends/pages/page_store.hpp"
#include "dbsafe/backends/pages/page_writer.hpp"
#include "dbsafe/backends/pages/snapshot_object.hpp"
#include "dbsafe/checksum.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/snapshot_sink.hpp"

namespace dbsafe::pages_detail {

// Where the change cache of a fed image lives and when the old one may be trusted.
struct change_cache_setup {
    std::filesystem::path dir;  // D/pages/cache
    std::string snapshot_id;    // the new backup's id, which its cache will describe
    bool read_old = true;       // false: an index file is damaged, so hash every page
    std::function<bool(const std::string&)> snapshot_exists;
};

class page_intake final : public snapshot_sink {
  public:
    page_intake(std::filesystem::path staged, page_store store,
                std::optional<change_cache_setup> cache = std::nullopt)
        : staged_(staged),
          follower_(std::move(staged), std::move(store)),
          cache_(std::move(cache)) {}
    ~page_intake() override { stop(); }

    void start() { follower_.start(); }
    // Abandons the backup (discard): the follower stops; what was stored is garbage, and the
    // new change cache is removed.
    void stop() noexcept {
        follower_.stop();
        cache_writer_.reset();
    }

    void source(std::string_view source_path) override {
        source_ = source_path;
        if (cache_) cache_path_ = cache_file(cache_->dir, source_);
    }

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
        DBSAFE_TRYV(pages_.restart(staged_.parent_path(), page_spool::id_of(staged_)));
        page_size_ = page_size;
        expected_pages_ = page_count;
        image_.reset();
        open_change_cache();
        // Only the pages the cache does not vouch for reach the store, nearly all of them new:
        // a filter answers for those (page_store.hpp).
        if (cache_reader_) follower_.store().use_filter();
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
        const auto first = static_cast<std::size_t>(pages_.size());
        chunk_.resize(n);
        const std::span<page_digest> out(chunk_);
        // Which pages need their SHA-256: those the cache does not vouch for (all without one).
        changed_.clear();
        const bool fingerprinting = cache_reader_ || cache_writer_;
        fingerprints_.resize(fingerprinting ? n : 0);
        for (std::size_t i = 0; i < n; ++i) {
            if (fingerprinting) {
                fingerprints_[i] = fingerprint(bytes.subspan(i * page_size_, page_size_), secret_);
                if (cache_reader_) {
                    const cached_page* c = cache_reader_->find(first + i);
                    if (c != nullptr && c->fingerprint == fingerprints_[i]) {
                        out[i] = c->address;  // stored: the cache's snapshot holds it
                        cached_[first + i] = true;
                        continue;
                    }
                }
            }
            changed_.push_back(i);
        }
        DBSAFE_TRYV(hash_pages(bytes, changed_, out));
        page_store& store = follower_.store();
        for (const std::size_t i : changed_) {
            DBSAFE_TRYV(
                store.add(first + i + 1, bytes.subspan(i * page_size_, page_size_), out[i]));
        }
        DBSAFE_TRYV(pages_.append(out));
        if (cache_writer_) {
            for (std::size_t i = 0; i < n; ++i) {
                // A cache that cannot be written is no loss: the next backup hashes everything.
                if (!cache_writer_->add(fingerprints_[i], out[i])) {
                    cache_writer_.reset();
                    break;
                }
            }
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
        if (!image_) {
            cache_writer_.reset();  // the image fed was abandoned: the cache would describe it
            return follower_.finish(final_checksum);
        }
        if (!(*image_ == final_checksum)) {
            return error(errc::checksum_mismatch,
                         "the pages stored for " + staged_.string() + " hash to " + image_->hex +
                             ", not to the manifest's " + final_checksum.hex +
                             "; the backup was not published");
        }
        DBSAFE_TRYV(follower_.store().flush());
        if (cache_writer_ && !cache_writer_->finish()) cache_writer_.reset();
        followed_pages out{
            .page_size = page_size_, .pages = std::move(pages_), .streamed = true, .fed = true};
        if (cache_reader_) {
            out.cached_from = cache_reader_->header().snapshot_id;
            out.cached = std::move(cached_);
        }
        return std::optional<followed_pages>{std::move(out)};
    }

    // After the commit point: the new cache replaces the source's (best effort, a hint).
    void publish_change_cache() noexcept {
        if (cache_writer_) (void)cache_writer_->publish();
        cache_writer_.reset();
    }
    // The source's cache proved wrong: removed, so the next backup hashes every page.
    void drop_change_cache() noexcept {
        cache_writer_.reset();
        if (!cache_path_.empty()) (void)file_ops::remove_file(cache_path_);
    }

    [[nodiscard]] const page_store& store() const noexcept { return follower_.store(); }

  private:
    void open_change_cache() {
        cache_reader_.reset();
        cache_writer_.reset();
        cached_.clear();
        if (cache_path_.empty() || cache_->snapshot_id.size() > cache_id_bytes) return;
        const auto& path = cache_path_;
        if (cache_->read_old) {
            cache_reader_ = change_cache_reader::open(path, page_size_, cache_->snapshot_exists);
        }
        secret_ = cache_reader_ ? cache_reader_->header().secret : random_cache_secret();
        if (cache_reader_) cached_.assign(static_cast<std::size_t>(expected_pages_), false);
        auto w = change_cache_writer::create(
            path, cache_header{page_size_, expected_pages_, cache_->snapshot_id, secret_});
        if (w) cache_writer_.emplace(std::move(w).value());
    }

    // SHA-256 of the pages `which` of `bytes` into `out`: the second half on a helper thread
    // (a chunk is up to 4 MiB, so starting a thread per chunk costs < 1 % of hashing it).
    result<void> hash_pages(std::span<const std::byte> bytes, std::span<const std::size_t> which,
                            std::span<page_digest> out) {
        const auto hash_range = [&](sha256_hasher& h, std::size_t from,
                                    std::size_t to) -> result<void> {
            for (std::size_t k = from; k < to; ++k) {
                const std::size_t i = which[k];
                DBSAFE_TRY(out[i], h.digest(bytes.subspan(i * page_size_, page_size_)));
            }
            return success();
        };
        const std::size_t n = which.size();
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
    page_spool pages_;                // the image's digests so far
    std::vector<page_digest> chunk_;  // those of the chunk being fed
    std::optional<checksum> image_;
    // The change cache (change_cache.hpp), when the repository offered one.
    std::optional<change_cache_setup> cache_;
    std::string source_;
    std::filesystem::path cache_path_;  // the source's cache file; empty: no cache
    std::optional<change_cache_reader> cache_reader_;
    std::optional<change_cache_writer> cache_writer_;
    cache_secret secret_{};
    std::vector<bool> cached_;  // per page: its address came from the cache
    std::vector<page_fingerprint> fingerprints_;
    std::vector<std::size_t> changed_;
};

}  // namespace dbsafe::pages_detail
