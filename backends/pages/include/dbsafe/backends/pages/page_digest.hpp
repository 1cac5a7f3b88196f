// A page's address in the repository: the SHA-256 of its bytes. Pages are shared across
// snapshots and databases by this address, so it must be collision-resistant (a
// non-cryptographic hash would let two different pages share an address, and a restore would
// silently put the wrong one back). SHA-256 through OpenSSL runs on the CPU's SHA extensions;
// BLAKE3 would be faster but is not packaged where dbsafe's dependencies come from.
//
// Memory: a digest is 32 bytes, held by value; lists and sets of them are flat vectors.
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "dbsafe/checksum.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe {

struct page_digest {
    std::array<unsigned char, 32> bytes{};

    // Byte order (as memcmp), but a word at a time: a backup sorts and searches a sorted
    // vector of every digest in the repository (131 k per 512 MiB of 4 KiB pages), and the
    // first word almost always decides.
    friend std::strong_ordering operator<=>(const page_digest& a, const page_digest& b) noexcept {
        for (std::size_t i = 0; i < a.bytes.size(); i += 8) {
            const std::uint64_t x = word(a, i);
            const std::uint64_t y = word(b, i);
            if (x != y) return x <=> y;
        }
        return std::strong_ordering::equal;
    }
    friend bool operator==(const page_digest& a, const page_digest& b) noexcept {
        return std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size()) == 0;
    }

    // Bytes [at, at + 8) as a big-endian number: comparing those compares the bytes in order.
    [[nodiscard]] static std::uint64_t word(const page_digest& d, std::size_t at) noexcept {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < 8; ++i) v = (v << 8U) | d.bytes[at + i];
        return v;
    }

    // 64 lower-case hex digits: the form file names use.
    [[nodiscard]] std::string hex() const {
        static constexpr char digits[] = "0123456789abcdef";
        std::string out(64, '0');
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            out[2 * i] = digits[bytes[i] >> 4U];
            out[2 * i + 1] = digits[bytes[i] & 0xfU];
        }
        return out;
    }
    // The first 12 hex digits, for messages.
    [[nodiscard]] std::string short_hex() const { return hex().substr(0, 12); }

    static std::optional<page_digest> from_hex(std::string_view s) {
        if (s.size() != 64) return std::nullopt;
        page_digest d;
        for (std::size_t i = 0; i < 32; ++i) {
            int v = 0;
            for (const char c : s.substr(2 * i, 2)) {
                v <<= 4;
                if (c >= '0' && c <= '9') {
                    v |= c - '0';
                } else if (c >= 'a' && c <= 'f') {
                    v |= c - 'a' + 10;
                } else {
                    return std::nullopt;
                }
            }
            d.bytes[i] = static_cast<unsigned char>(v);
        }
        return d;
    }
};

// A hash for unordered containers: the digest is already uniformly distributed.
struct page_digest_hash {
    std::size_t operator()(const page_digest& d) const noexcept {
        std::size_t h = 0;
        std::memcpy(&h, d.bytes.data(), sizeof h);
        return h;
    }
};

// SHA-256 of one buffer after another. The algorithm is fetched once and the context reused:
// at 4 KiB pages the per-call lookup of EVP_sha256() would cost more than the hashing.
class sha256_hasher {
  public:
    sha256_hasher() : ctx_(EVP_MD_CTX_new()), md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {}

    // Whether OpenSSL could provide SHA-256 (configuration, providers); checked once up front.
    [[nodiscard]] result<void> ready() const {
        if (ctx_ && md_) return success();
        return failed("EVP_MD_fetch(SHA256)");
    }

    [[nodiscard]] result<page_digest> digest(std::span<const std::byte> data) {
        page_digest d;
        unsigned int size = 0;
        if (!ctx_ || !md_) return failed("EVP_MD_fetch(SHA256)");
        if (EVP_DigestInit_ex2(ctx_.get(), md_.get(), nullptr) != 1 ||
            EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1 ||
            EVP_DigestFinal_ex(ctx_.get(), d.bytes.data(), &size) != 1 || size != 32) {
            return failed("EVP_Digest");
        }
        return d;
    }

    // Streaming use, for a whole file: begin(), update()..., end().
    [[nodiscard]] result<void> begin() {
        if (!ctx_ || !md_ || EVP_DigestInit_ex2(ctx_.get(), md_.get(), nullptr) != 1)
            return failed("EVP_DigestInit_ex2");
        return success();
    }
    [[nodiscard]] result<void> update(std::span<const std::byte> data) {
        if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1)
            return failed("EVP_DigestUpdate");
        return success();
    }
    [[nodiscard]] result<page_digest> end() {
        page_digest d;
        unsigned int size = 0;
        if (EVP_DigestFinal_ex(ctx_.get(), d.bytes.data(), &size) != 1 || size != 32)
            return failed("EVP_DigestFinal_ex");
        return d;
    }

  private:
    [[nodiscard]] static error failed(const char* call) {
        std::array<char, 256> why{};
        ERR_error_string_n(ERR_get_error(), why.data(), why.size());
        ERR_clear_error();  // the thread's queue is shared with the rest of the program
        return error(errc::unsupported, std::string("cannot compute SHA-256: OpenSSL's ") + call +
                                            " failed (" + why.data() +
                                            "); check that libcrypto provides SHA-256 (OpenSSL "
                                            "configuration, providers)");
    }
    struct ctx_free {
        void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
    };
    struct md_free {
        void operator()(EVP_MD* m) const noexcept { EVP_MD_free(m); }
    };
    std::unique_ptr<EVP_MD_CTX, ctx_free> ctx_;
    std::unique_ptr<EVP_MD, md_free> md_;
};

// SHA-256 of a whole buffer (a pack, an index or a list blob: their file names).
inline result<page_digest> sha256_of(std::span<const std::byte> data) {
    sha256_hasher h;
    return h.digest(data);
}

}  // namespace dbsafe
