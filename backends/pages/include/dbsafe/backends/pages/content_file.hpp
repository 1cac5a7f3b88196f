// Content-addressed files of the page repository (packs, index files, page lists): named by the
// SHA-256 of their whole content, so a name says what the file must hold, a reader checks it,
// and two writers of the same content agree on the name. Written like every dbsafe file:
// a private temp file (O_EXCL, O_NOFOLLOW, 0600) named `<name>.<pid>-<n>.tmp` (unique per
// writer, so concurrent backups never collide), fsynced, renamed without replacing. A name that
// already exists holds the same content: the temp file is dropped. The caller fsyncs the
// directory once everything it adds is renamed.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dbsafe/backends/pages/byte_codec.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/storage/file_operations.hpp"

namespace dbsafe::pages_detail {

struct stored_file {
    page_digest digest;
    std::filesystem::path path;
    bool created = false;  // false: the same content was already there
};

inline std::filesystem::path content_path(const std::filesystem::path& dir, const page_digest& d,
                                          std::string_view extension) {
    return dir / (d.hex() + std::string(extension));
}

// Writes `bytes` under `dir`/<sha256 hex><extension> (see above).
inline result<stored_file> store_content_file(const std::filesystem::path& dir,
                                              std::string_view extension,
                                              std::span<const std::byte> bytes) {
    static std::atomic<unsigned> counter{0};
    DBSAFE_TRY(const page_digest d, sha256_of(bytes));
    stored_file out{d, content_path(dir, d, extension), false};
    if (file_ops::is_regular_no_follow(out.path)) return out;  // already stored
    auto tmp = out.path;
    tmp += "." + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)) + ".tmp";
    DBSAFE_TRY(auto fd, file_ops::create_exclusive(tmp));
    auto written = file_ops::write_all(fd.get(), bytes, tmp);
    if (written) written = file_ops::sync_fd(fd.get(), tmp);
    fd.reset();
    if (written) written = file_ops::rename_no_replace(tmp, out.path);
    if (!written) {
        (void)file_ops::remove_file(tmp);
        // Another writer stored the same content in between: same name, same bytes.
        if (file_ops::is_regular_no_follow(out.path)) return out;
        return written.as_failure();
    }
    out.created = true;
    return out;
}

// The same, for content too large to hold (a full page list at 2 GiB is 16 MiB): written as it
// comes to `incoming.<pid>-<n>.tmp` and hashed on the way, ended by the xxh3-128 trailer of
// everything before it (byte_writer::finish's), fsynced, then renamed to its name. Dropped
// unfinished, the temp file is removed.
class content_file_writer {
  public:
    static constexpr std::size_t buffer_bytes = std::size_t{1} << 16;

    static result<content_file_writer> create(const std::filesystem::path& dir,
                                              std::string_view extension) {
        static std::atomic<unsigned> counter{0};
        auto tmp = dir / ("incoming." + std::to_string(::getpid()) + "-" +
                          std::to_string(counter.fetch_add(1)) + ".tmp");
        DBSAFE_TRY(auto fd, file_ops::create_exclusive(tmp));
        content_file_writer w(std::move(fd), dir, tmp, extension);
        if (!w.xxh_ || XXH3_128bits_reset(w.xxh_.get()) != XXH_OK) throw std::bad_alloc();
        DBSAFE_TRYV(w.sha_.begin());
        return w;
    }
    content_file_writer(content_file_writer&&) noexcept = default;
    content_file_writer& operator=(content_file_writer&&) = delete;
    content_file_writer(const content_file_writer&) = delete;
    content_file_writer& operator=(const content_file_writer&) = delete;
    ~content_file_writer() {
        if (fd_) {
            fd_.reset();
            (void)file_ops::remove_file(tmp_);
        }
    }

    result<void> write(std::span<const std::byte> bytes) {
        XXH3_128bits_update(xxh_.get(), bytes.data(), bytes.size());
        while (!bytes.empty()) {
            const std::size_t n = std::min(bytes.size(), buffer_bytes - buffer_.size());
            buffer_.insert(buffer_.end(), bytes.begin(), bytes.begin() + n);
            bytes = bytes.subspan(n);
            if (buffer_.size() == buffer_bytes) DBSAFE_TRYV(flush());
        }
        return success();
    }

    // The trailer, fsync, the name: the file stored (or found already stored).
    result<stored_file> finish() {
        XXH128_canonical_t canon;
        XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(xxh_.get()));
        const auto trailer = std::as_bytes(std::span(canon.digest));
        buffer_.insert(buffer_.end(), trailer.begin(), trailer.end());
        DBSAFE_TRYV(flush());
        DBSAFE_TRY(const page_digest d, sha_.end());
        stored_file out{d, content_path(dir_, d, extension_), false};
        auto written = file_ops::sync_fd(fd_.get(), tmp_);
        fd_.reset();
        if (written && !file_ops::is_regular_no_follow(out.path)) {
            written = file_ops::rename_no_replace(tmp_, out.path);
            out.created = static_cast<bool>(written);
        }
        if (!out.created) (void)file_ops::remove_file(tmp_);
        // Another writer stored the same content in between: same name, same bytes.
        if (!written && !file_ops::is_regular_no_follow(out.path)) return written.as_failure();
        return out;
    }

  private:
    content_file_writer(file_ops::unique_fd fd, std::filesystem::path dir,
                        std::filesystem::path tmp, std::string_view extension)
        : fd_(std::move(fd)), dir_(std::move(dir)), tmp_(std::move(tmp)), extension_(extension) {
        buffer_.reserve(buffer_bytes + trailer_bytes);
    }

    result<void> flush() {
        DBSAFE_TRYV(file_ops::write_all(fd_.get(), buffer_, tmp_));
        DBSAFE_TRYV(sha_.update(buffer_));
        buffer_.clear();
        return success();
    }

    file_ops::unique_fd fd_;
    std::filesystem::path dir_;
    std::filesystem::path tmp_;
    std::string extension_;
    std::vector<std::byte> buffer_;
    sha256_hasher sha_;
    std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> xxh_{XXH3_createState(),
                                                                  &XXH3_freeState};
};

// A repository file's size, refusing anything larger than `limit`: a planted or damaged file
// cannot make dbsafe allocate gigabytes.
inline result<std::uint64_t> size_within(int fd, const std::filesystem::path& p,
                                         std::uint64_t limit) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return file_ops::os_error(errno, "cannot stat", p);
    if (static_cast<std::uint64_t>(st.st_size) > limit) {
        return error(errc::checksum_mismatch, p.string() + " is " + std::to_string(st.st_size) +
                                                  " bytes, more than the " + std::to_string(limit) +
                                                  " such a file can hold: it is damaged");
    }
    return static_cast<std::uint64_t>(st.st_size);
}

inline error not_its_name(const std::filesystem::path& p, const page_digest& actual) {
    return error(errc::checksum_mismatch, p.string() +
                                              " does not hash to its name (its SHA-256 is " +
                                              actual.hex() + "): the file is damaged");
}

// Reads a whole repository file (no symlink followed, regular files only) of at most `limit`
// bytes.
inline result<std::vector<std::byte>> read_whole_file(const std::filesystem::path& p,
                                                      std::uint64_t limit) {
    DBSAFE_TRY(auto fd, file_ops::open_for_read(p));
    DBSAFE_TRY(const std::uint64_t size, size_within(fd.get(), p, limit));
    std::vector<std::byte> out(static_cast<std::size_t>(size));
    DBSAFE_TRY(const std::size_t n, file_ops::read_at(fd.get(), out, 0, p));
    out.resize(n);
    return out;
}

// `bytes`, the content of `p`, if they hash to its name `expected`.
inline result<std::vector<std::byte>> named_content(std::vector<std::byte> bytes,
                                                    const std::filesystem::path& p,
                                                    const page_digest& expected) {
    DBSAFE_TRY(const page_digest actual, sha256_of(bytes));
    if (actual != expected) return not_its_name(p, actual);
    return bytes;
}

// Reads a content-addressed file and checks that its content hashes to its name.
inline result<std::vector<std::byte>> read_content_file(const std::filesystem::path& p,
                                                        const page_digest& expected,
                                                        std::uint64_t limit) {
    DBSAFE_TRY(auto bytes, read_whole_file(p, limit));
    return named_content(std::move(bytes), p, expected);
}

// Reads a content-addressed file that ends in an xxh3-128 trailer (a page list, an index file)
// front to back, a piece at a time, for a parser that walks it once: a file of many MiB then
// costs one piece of memory, not its size beside what is parsed from it. Every byte handed out
// is hashed on the way, and finish() checks what a whole read checks: the file hashes to its
// name and its trailer is the xxh3-128 of the bytes before it. What a parser took from the
// file counts only once finish() succeeded.
class content_reader {
  public:
    static constexpr std::size_t piece_bytes = std::size_t{1} << 20;

    static result<content_reader> open(const std::filesystem::path& p, const page_digest& name,
                                       std::uint64_t limit) {
        DBSAFE_TRY(auto fd, file_ops::open_for_read(p));
        DBSAFE_TRY(const std::uint64_t size, size_within(fd.get(), p, limit));
        if (size < trailer_bytes) {
            return error(errc::checksum_mismatch, p.string() + " is too short: it is damaged");
        }
        content_reader r(std::move(fd), p, name, size - trailer_bytes);
        if (!r.xxh_ || XXH3_128bits_reset(r.xxh_.get()) != XXH_OK) throw std::bad_alloc();
        DBSAFE_TRYV(r.sha_.begin());
        return r;
    }

    // The whole file at once, checked against its name as read_content_file checks it, from
    // the descriptor already open: for a file too small to be worth reading in pieces. Only
    // before next().
    result<std::vector<std::byte>> whole() {
        std::vector<std::byte> out(static_cast<std::size_t>(body_ + trailer_bytes));
        DBSAFE_TRY(const std::size_t got, file_ops::read_at(fd_.get(), out, 0, path_));
        out.resize(got);
        return named_content(std::move(out), path_, name_);
    }

    // Bytes before the trailer not handed out yet.
    [[nodiscard]] std::uint64_t remaining() const noexcept { return body_ - offset_; }

    // The next `n` bytes (at most piece_bytes and remaining()), valid until the next call.
    result<std::span<const std::byte>> next(std::size_t n) {
        if (n > piece_bytes) {  // a caller's mistake, not damage: say so, not "damaged"
            return error(errc::invalid_argument,
                         "reading " + path_.string() + ": a piece of " + std::to_string(n) +
                             " bytes was asked for, more than the reader's " +
                             std::to_string(piece_bytes) + " (a dbsafe bug: please report it)");
        }
        if (n > remaining()) {
            return error(errc::checksum_mismatch,
                         path_.string() + " is damaged: it ends before its content does");
        }
        if (piece_.size() < n) piece_.resize(std::min<std::uint64_t>(piece_bytes, body_));
        const auto out = std::span(piece_).first(n);
        DBSAFE_TRY(const std::size_t got, file_ops::read_at(fd_.get(), out, offset_, path_));
        if (got != n) {
            return error(errc::checksum_mismatch,
                         path_.string() + " got shorter while it was read: it is damaged");
        }
        XXH3_128bits_update(xxh_.get(), out.data(), out.size());
        DBSAFE_TRYV(sha_.update(out));
        offset_ += n;
        return std::span<const std::byte>(out);
    }

    // Hashes what the parser left, then checks the name and the trailer. `what`: the kind of
    // file, for the message ("page list", "index").
    result<void> finish(std::string_view what) {
        while (remaining() > 0) {
            DBSAFE_TRYV(
                next(static_cast<std::size_t>(std::min<std::uint64_t>(remaining(), piece_bytes))));
        }
        std::array<std::byte, trailer_bytes> trailer{};
        DBSAFE_TRY(const std::size_t got, file_ops::read_at(fd_.get(), trailer, offset_, path_));
        DBSAFE_TRYV(sha_.update(std::span(trailer).first(got)));
        DBSAFE_TRY(const page_digest actual, sha_.end());
        if (actual != name_) return not_its_name(path_, actual);
        XXH128_canonical_t canon;
        XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(xxh_.get()));
        if (got != trailer_bytes || std::memcmp(canon.digest, trailer.data(), trailer_bytes) != 0) {
            return error(errc::checksum_mismatch, std::string(what) + " " + path_.string() +
                                                      " is damaged: its checksum does not match "
                                                      "its bytes");
        }
        return success();
    }

  private:
    content_reader(file_ops::unique_fd fd, std::filesystem::path p, const page_digest& name,
                   std::uint64_t body)
        : fd_(std::move(fd)), path_(std::move(p)), name_(name), body_(body) {}

    file_ops::unique_fd fd_;
    std::filesystem::path path_;
    page_digest name_;
    std::uint64_t body_ = 0;
    std::uint64_t offset_ = 0;
    std::vector<std::byte> piece_;
    sha256_hasher sha_;
    std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> xxh_{XXH3_createState(),
                                                                  &XXH3_freeState};
};

}  // namespace dbsafe::pages_detail
