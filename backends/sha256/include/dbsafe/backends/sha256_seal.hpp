// sha256_seal: tamper evidence beside the fast checksum. At backup time it records the SHA-256
// of the (uncompressed) database in the manifest's `seal`; on every verify it hashes the file
// again and compares. Opt-in: link dbsafe::sha256 (OpenSSL's libcrypto), a backend of its own
// (backends/sha256) because of that dependency; the core never includes this header.
//
// Why beside xxh3: xxh3-128 catches accidents (bit rot, truncation) but is not cryptographic,
// so data can be changed to keep its xxh3. Nobody can change data and keep its SHA-256. The
// seal proves nothing by itself, though, since whoever can rewrite a backup can usually rewrite
// its manifest: it is evidence when its value also lives where that person cannot write (the
// backup job's log of `dbsafe backup --json`, a signed record). It is also what `sha256sum`
// prints for the file (`zstd -dc <id>.db.zst | sha256sum` for an archive), so anyone can
// check a backup against that record with standard tools.
//
// Cost: SHA-256 runs at 1.6 GB/s here (`openssl speed -evp sha256`, a CPU with SHA
// extensions; several times slower without), against integrity_check's ~0.17 GB/s. A sealed
// backup hashes the copy twice (record(), then verify() checks the seal before anything is
// published), each verify once.
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dbsafe/checksum.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/storage/file_operations.hpp"
#include "dbsafe/verify/verifier.hpp"

namespace dbsafe {

namespace detail {

struct evp_md_ctx_free {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using evp_md_ctx = std::unique_ptr<EVP_MD_CTX, evp_md_ctx_free>;

// SHA-256 of a whole file with 1 MiB reads: memory stays flat whatever the file's size.
inline result<checksum> sha256_file(const std::filesystem::path& p) {
    const auto openssl_failed = [&](const char* call) {
        std::array<char, 256> why{};
        ERR_error_string_n(ERR_get_error(), why.data(), why.size());
        ERR_clear_error();  // the thread's queue is shared with the rest of the program
        return error(errc::unsupported,
                     std::string("cannot compute the SHA-256 of ") + p.string() + ": OpenSSL's " +
                         call + " failed (" + why.data() +
                         "); check that libcrypto provides SHA-256 (OpenSSL configuration, "
                         "providers)");
    };
    const evp_md_ctx ctx(EVP_MD_CTX_new());
    if (!ctx) return openssl_failed("EVP_MD_CTX_new");
    if (EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
        return openssl_failed("EVP_DigestInit_ex");
    }
    DBSAFE_TRY(const auto fd, file_ops::open_for_read(p));
    std::vector<std::byte> buf(std::size_t{1} << 20);
    for (std::uint64_t off = 0;;) {
        DBSAFE_TRY(const std::size_t n, file_ops::read_at(fd.get(), buf, off, p));
        if (n == 0) break;
        if (EVP_DigestUpdate(ctx.get(), buf.data(), n) != 1) {
            return openssl_failed("EVP_DigestUpdate");
        }
        off += n;
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(ctx.get(), digest.data(), &size) != 1) {
        return openssl_failed("EVP_DigestFinal_ex");
    }
    return checksum{.algorithm = "sha256", .hex = lower_hex(std::span(digest).first(size))};
}

}  // namespace detail

struct sha256_seal {
    // A vault that seals must not accept an unsealed backup silently: dropping the seal from
    // the manifest is the cheapest way to hide a change. false checks seals only where present
    // (a directory with backups from before sealing; `dbsafe verify` without --require-seal).
    bool require_seal = true;

    // Backup time: seals the finished staged copy (basic_vault::backup calls this).
    [[nodiscard]] result<void> record(const std::filesystem::path& file, manifest& m) const {
        DBSAFE_TRY(m.seal, detail::sha256_file(file));
        return success();
    }

    [[nodiscard]] result<void> verify(const backup_file& f) const {
        if (f.description == nullptr) return success();  // a lone file has no seal to match
        const manifest& m = *f.description;
        // Name the file users know: an archive's data_path, not the temporary file it was
        // decompressed to.
        const std::string where = (m.data_path.empty() ? f.path : m.data_path).string();
        if (!m.seal) {
            if (!require_seal) return success();
            return error(errc::verification_failed,
                         "backup " + m.id + " (" + where +
                             ") has no SHA-256 seal, and this vault requires one: it was taken "
                             "without sealing (by a vault without sha256_seal) or the seal was "
                             "removed from its manifest; do not restore it unless you know where "
                             "it came from");
        }
        if (m.seal->algorithm != "sha256") {
            return error(errc::unsupported, "manifest of " + m.id + " is sealed with '" +
                                                m.seal->algorithm +
                                                "', which this dbsafe cannot check: upgrade "
                                                "dbsafe to verify it");
        }
        if (f.checksum_fresh) return success();  // sealed from this very file moments ago
        DBSAFE_TRY(const checksum actual, detail::sha256_file(f.path));
        if (actual.hex == m.seal->hex) return success();
        return error(errc::checksum_mismatch,
                     "SHA-256 seal mismatch for backup " + m.id + " (" + where +
                         "): manifest says sha256 " + m.seal->hex + ", the data hashes to " +
                         actual.hex +
                         " (the backup was changed after it was sealed, possibly on purpose: do "
                         "not restore it; use another backup and find out who can write to the "
                         "backup directory)");
    }
};

static_assert(recording_verifier<sha256_seal>);

}  // namespace dbsafe
