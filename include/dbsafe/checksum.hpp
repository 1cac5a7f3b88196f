// Content checksums of backup files: XXH3-128 by default (a 1 GiB file hashes in < 0.1 s, so
// verifying the checksum is never the slow part of a verify). The hasher is streaming, so a
// backend can hash bytes as it writes them instead of reading the file again.
#pragma once

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL  // header-only use of libxxhash: nothing to link
#endif
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/progress.hpp"

namespace dbsafe {

struct checksum {
    std::string algorithm = "xxh3-128";
    std::string hex;  // lower-case, 32 digits for xxh3-128

    friend bool operator==(const checksum&, const checksum&) = default;
};

namespace detail {

// A digest as lower-case hex, the form manifests store and `sha256sum` prints.
inline std::string lower_hex(std::span<const unsigned char> digest) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(digest.size() * 2);
    for (const unsigned char b : digest) {
        out.push_back(digits[b >> 4U]);
        out.push_back(digits[b & 0xfU]);
    }
    return out;
}

// Only [0-9a-f]: a manifest's hex is compared as text, so "ABCD" must not pass for "abcd".
inline bool is_lower_hex(std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace detail

class xxh3_128_hasher {
  public:
    xxh3_128_hasher() : state_(XXH3_createState()) { XXH3_128bits_reset(state_.get()); }

    void update(std::span<const std::byte> bytes) {
        XXH3_128bits_update(state_.get(), bytes.data(), bytes.size());
    }

    [[nodiscard]] checksum finish() const {
        const XXH128_hash_t h = XXH3_128bits_digest(state_.get());
        XXH128_canonical_t canon;
        XXH128_canonicalFromHash(&canon, h);
        return checksum{.algorithm = "xxh3-128", .hex = detail::lower_hex(canon.digest)};
    }

  private:
    struct state_free {
        void operator()(XXH3_state_t* s) const noexcept { XXH3_freeState(s); }
    };
    std::unique_ptr<XXH3_state_t, state_free> state_;
};

// Hashes a whole file with 1 MiB reads: memory stays flat whatever the file's size.
// `on_progress` (may be empty) is told the bytes hashed (progress_phase::checksum) every 64 MiB.
inline result<checksum> hash_file(const std::filesystem::path& p,
                                  const progress_callback& on_progress = {}) {
    DBSAFE_TRY(auto fd, detail::open_for_read(p));
    std::uint64_t total = 0;
    if (on_progress) {
        std::error_code ec;
        total = std::filesystem::file_size(p, ec);
        if (ec) total = 0;
    }
    byte_progress hashed(total > 0 ? on_progress : progress_callback{}, progress_phase::checksum,
                         total);
    std::vector<std::byte> buf(std::size_t{1} << 20);
    xxh3_128_hasher h;
    std::uint64_t off = 0;
    for (;;) {
        DBSAFE_TRY(const std::size_t n, detail::read_at(fd.get(), buf, off, p));
        if (n == 0) break;
        h.update(std::span(buf).first(n));
        off += n;
        hashed.add(n);
    }
    hashed.finished();
    return h.finish();
}

}  // namespace dbsafe
