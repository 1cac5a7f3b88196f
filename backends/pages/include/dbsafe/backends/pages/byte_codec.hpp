// The little-endian encoding every page-repository file uses, and the trailer each one ends
// with: an xxh3-128 of all the bytes before it, so a torn or bit-flipped file is refused before
// any of its fields is trusted (docs/format.md, "Page repository").
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/checksum.hpp"

namespace dbsafe::pages_detail {

inline constexpr std::size_t trailer_bytes = 16;

// Appends to a growing byte buffer.
class byte_writer {
  public:
    void magic(std::string_view m) { bytes(std::as_bytes(std::span(m.data(), m.size()))); }
    void u8(std::uint8_t v) { out_.push_back(static_cast<std::byte>(v)); }
    void u32(std::uint32_t v) { put(v, 4); }
    void u64(std::uint64_t v) { put(v, 8); }
    void digest(const page_digest& d) { bytes(std::as_bytes(std::span(d.bytes))); }
    void bytes(std::span<const std::byte> b) { out_.insert(out_.end(), b.begin(), b.end()); }
    void bytes(const byte_writer& other) { bytes(std::span(other.out_)); }
    // Overwrites a u32 written earlier (a count known only at the end).
    void patch_u32(std::size_t at, std::uint32_t v) {
        for (std::size_t i = 0; i < 4; ++i) out_.at(at + i) = static_cast<std::byte>(v >> (8 * i));
    }
    // Ends the file: xxh3-128 (canonical, big-endian as XXH128_canonical_t) of all before it.
    std::vector<std::byte> finish() && {
        const XXH128_hash_t h = XXH3_128bits(out_.data(), out_.size());
        XXH128_canonical_t canon;
        XXH128_canonicalFromHash(&canon, h);
        bytes(std::as_bytes(std::span(canon.digest)));
        return std::move(out_);
    }
    [[nodiscard]] const std::vector<std::byte>& buffer() const noexcept { return out_; }
    void reserve(std::size_t bytes) { out_.reserve(bytes); }

  private:
    void put(std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) out_.push_back(static_cast<std::byte>(v >> (8 * i)));
    }
    std::vector<std::byte> out_;
};

// Whether `file` ends with the xxh3-128 of the bytes before it.
inline bool trailer_matches(std::span<const std::byte> file) {
    if (file.size() < trailer_bytes) return false;
    const auto body = file.first(file.size() - trailer_bytes);
    const XXH128_hash_t h = XXH3_128bits(body.data(), body.size());
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, h);
    return std::memcmp(canon.digest, file.data() + body.size(), trailer_bytes) == 0;
}

// Reads fields in order; every read is bounds-checked, and a short read sets failed().
class byte_reader {
  public:
    explicit byte_reader(std::span<const std::byte> in) : in_(in) {}
    bool magic(std::string_view m) {
        if (!take(m.size())) return false;
        return std::memcmp(in_.data() + pos_ - m.size(), m.data(), m.size()) == 0;
    }
    std::uint8_t u8() { return static_cast<std::uint8_t>(get(1)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(get(4)); }
    std::uint64_t u64() { return get(8); }
    page_digest digest() {
        page_digest d;
        if (take(32)) std::memcpy(d.bytes.data(), in_.data() + pos_ - 32, 32);
        return d;
    }
    [[nodiscard]] bool failed() const noexcept { return failed_; }
    [[nodiscard]] std::size_t position() const noexcept { return pos_; }
    [[nodiscard]] std::size_t remaining() const noexcept { return in_.size() - pos_; }

  private:
    bool take(std::size_t n) {
        if (failed_ || in_.size() - pos_ < n) {
            failed_ = true;
            return false;
        }
        pos_ += n;
        return true;
    }
    std::uint64_t get(int n) {
        if (!take(static_cast<std::size_t>(n))) return 0;
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i) {
            v |= static_cast<std::uint64_t>(
                     in_[pos_ - static_cast<std::size_t>(n) + static_cast<std::size_t>(i)])
                 << (8 * i);
        }
        return v;
    }
    std::span<const std::byte> in_;
    std::size_t pos_ = 0;
    bool failed_ = false;
};

}  // namespace dbsafe::pages_detail
