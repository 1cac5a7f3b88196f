// digest_filter: "might the repository hold this page?" in 10 bits per page it holds.
//
// A backup asks the repository, for each page it is about to store, whether the page is
// already there. Answered exactly, that is every digest the repository holds in memory, 32
// bytes each: 16 MiB at 2 GiB of 4 KiB pages, the largest thing a backup held. With the change
// cache (change_cache.hpp) only the pages that changed are asked about, and nearly all of them
// are new; so an incremental backup asks a Bloom filter instead (Bloom 1970; seven probes of
// 10 bits per digest: under 1 % of new pages answered "maybe"). "No" is certain, and the page
// is stored. "Maybe" is settled exactly by page_store, which holds the page until one pass
// over the index files answers for every page it holds (page_store.hpp). The filter can only
// err towards "maybe", so it can cost a pass, never a page.
//
// The digests are SHA-256 values, uniformly spread: the probes are taken from their bits
// (double hashing, Kirsch and Mitzenmacher 2006) with no hash function of their own.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "dbsafe/backends/pages/index_file.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe::pages_detail {

class digest_filter {
  public:
    static constexpr std::uint64_t bits_per_digest = 10;
    static constexpr int probes = 7;
    // 2^32 bits (512 MiB, 429 M digests: 1.6 TiB of 4 KiB pages) at most, so a probe scales in
    // 64-bit arithmetic; a larger repository gets more "maybe" answers, never a wrong "no".
    static constexpr std::uint64_t max_words = (std::uint64_t{1} << 32) / 64;

    digest_filter() = default;
    // Room for `digests` digests.
    explicit digest_filter(std::uint64_t digests)
        : words_(static_cast<std::size_t>(std::min(
              (std::max<std::uint64_t>(digests, 64) * bits_per_digest + 63) / 64, max_words))),
          bits_(64 * static_cast<std::uint64_t>(words_.size())) {}

    // Every digest the index files in `index_dir` list, and in `damaged` those that are
    // damaged (as load_stored_digests reports them). What a damaged file listed before its
    // damage showed is left in: it can only turn a "no" into a "maybe", which is settled
    // exactly without that file.
    static result<digest_filter> of_index(const std::filesystem::path& index_dir,
                                          std::vector<damaged_index_file>* damaged) {
        DBSAFE_TRY(const auto files, index_files(index_dir));
        digest_filter f(entries_at_most(files));
        for (const auto& file : files) {
            auto read = read_index_file(
                file, [](const page_digest&, std::uint32_t) {},
                [&](const pack_entry& e) { f.insert(e.digest); });
            if (!read && !skip_damaged_index(file, read.error(), damaged)) {
                return read.as_failure();
            }
        }
        return f;
    }

    void insert(const page_digest& d) {
        probe(d, [this](std::uint64_t bit) { words_[bit / 64] |= std::uint64_t{1} << (bit % 64); });
    }

    // False: the digest was never inserted. True: it may have been.
    [[nodiscard]] bool may_contain(const page_digest& d) const {
        if (words_.empty()) return false;
        bool all = true;
        probe(d,
              [&](std::uint64_t bit) { all = all && (words_[bit / 64] >> (bit % 64) & 1U) != 0; });
        return all;
    }

    [[nodiscard]] std::size_t bytes() const noexcept { return words_.size() * 8; }

  private:
    template <class Visit>
    void probe(const page_digest& d, Visit&& visit) const {
        const std::uint64_t h1 = page_digest::word(d, 0);
        const std::uint64_t h2 = page_digest::word(d, 8) | 1U;  // odd: the probes never repeat
        for (int i = 0; i < probes; ++i) {
            const std::uint64_t h = h1 + static_cast<std::uint64_t>(i) * h2;
            // h's top 32 bits scaled to [0, bits_) without a division (Lemire's multiply-shift).
            visit(((h >> 32U) * bits_) >> 32U);
        }
    }

    std::vector<std::uint64_t> words_;
    std::uint64_t bits_ = 0;
};

}  // namespace dbsafe::pages_detail
