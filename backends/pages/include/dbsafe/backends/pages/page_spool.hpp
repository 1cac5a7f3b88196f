// page_spool: the page digests of the snapshot a backup is storing, in page order, kept in a
// file instead of memory.
//
// A snapshot's digest list is 32 bytes per page: 16 MiB at 2 GiB of 4 KiB pages, which a
// backup held from its first page to its commit, beside the repository's own digests. The
// commit only ever walks it front to back (the delta against the previous snapshot, the check
// of the change cache's addresses, the full list written out), so it goes to a private scratch
// file in the backup's location, unlinked as soon as it is open: the page cache holds it,
// dbsafe's memory holds one buffer, and a killed backup leaves nothing behind (the name is the
// scratch files', storage/backup_file_names.hpp, for the instant between create and unlink).
// Nothing in it is ever fsynced: it lives as long as the backup that writes it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "dbsafe/backends/pages/byte_codec.hpp"
#include "dbsafe/backends/pages/content_file.hpp"
#include "dbsafe/backends/pages/page_digest.hpp"
#include "dbsafe/backends/pages/page_list.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/storage/file_operations.hpp"

namespace dbsafe::pages_detail {

static_assert(sizeof(page_digest) == 32, "a digest is stored as its 32 bytes");

class page_spool {
  public:
    // Digests buffered before a write and handed out per read: 64 KiB.
    static constexpr std::size_t buffer_digests = 2048;

    // A spool in `dir` for the backup `id` (the scratch file's name while it has one).
    static result<page_spool> create(const std::filesystem::path& dir, const std::string& id) {
        DBSAFE_TRY(auto created, file_ops::create_scratch_file(dir, id));
        auto& [path, write_only] = created;
        write_only.reset();
        // Read back as well as written: opened again by its name (no symlink followed; the
        // name was created exclusively a moment ago), then the name goes.
        auto fd = detail::open_for_update(path);
        const auto removed = file_ops::remove_file(path);
        DBSAFE_TRYV(fd);
        DBSAFE_TRYV(removed);
        return page_spool(std::move(fd).value(), std::move(path));
    }

    page_spool() = default;

    // The id a spool is created for: the staged file's name without `.db.tmp`.
    static std::string id_of(const std::filesystem::path& staged) {
        std::string name = staged.filename().string();
        if (name.ends_with(".db.tmp")) name.resize(name.size() - 7);
        return name;
    }

    // False for a default-constructed spool (none created yet).
    [[nodiscard]] bool created() const noexcept { return static_cast<bool>(fd_); }

    [[nodiscard]] std::uint64_t size() const noexcept { return written_ + buffer_.size(); }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }

    result<void> append(std::span<const page_digest> digests) {
        while (!digests.empty()) {
            const std::size_t n = std::min(digests.size(), buffer_digests - buffer_.size());
            buffer_.insert(buffer_.end(), digests.begin(), digests.begin() + n);
            digests = digests.subspan(n);
            if (buffer_.size() == buffer_digests) DBSAFE_TRYV(flush());
        }
        return success();
    }
    result<void> append(const page_digest& d) { return append(std::span(&d, 1)); }

    // Replaces the digest of page `index + 1` (page 1's is only known at the end of a followed
    // backup, page_writer.hpp).
    result<void> set(std::uint64_t index, const page_digest& d) {
        if (index >= size()) {
            return error(errc::invalid_argument, "page " + std::to_string(index + 1) +
                                                     " is past the " + std::to_string(size()) +
                                                     " pages spooled (a dbsafe bug)");
        }
        if (index >= written_) {
            buffer_[static_cast<std::size_t>(index - written_)] = d;
            return success();
        }
        return file_ops::write_at(fd_.get(), std::as_bytes(std::span(&d, 1)), 32 * index, path_);
    }

    // Forgets every digest (the file is written again from the start).
    void clear() noexcept {
        written_ = 0;
        buffer_.clear();
    }

    // Hands the digests out front to back, `buffer_digests` at a time. The spool must not be
    // appended to while a reader is in use.
    class reader {
      public:
        // The next digests (empty at the end), valid until the next call.
        result<std::span<const page_digest>> next() {
            if (at_ < spool_->written_) {
                const auto n = static_cast<std::size_t>(
                    std::min<std::uint64_t>(buffer_digests, spool_->written_ - at_));
                piece_.resize(n);
                DBSAFE_TRY(
                    const std::size_t got,
                    file_ops::read_at(spool_->fd_.get(), std::as_writable_bytes(std::span(piece_)),
                                      32 * at_, spool_->path_));
                if (got != 32 * n) {
                    return error(errc::io_error, "the page list of the backup being stored (" +
                                                     spool_->path_.string() +
                                                     ", unlinked) read back short");
                }
                at_ += n;
                return std::span<const page_digest>(piece_);
            }
            if (!tail_done_) {
                tail_done_ = true;
                return std::span<const page_digest>(spool_->buffer_);
            }
            return std::span<const page_digest>{};
        }

      private:
        friend class page_spool;
        explicit reader(const page_spool& s) : spool_(&s) {}
        const page_spool* spool_;
        std::uint64_t at_ = 0;
        bool tail_done_ = false;
        std::vector<page_digest> piece_;
    };
    [[nodiscard]] reader read() const { return reader(*this); }

    // Every digest, in memory: for tests and small lists only.
    result<std::vector<page_digest>> all() const {
        std::vector<page_digest> out;
        auto r = read();
        for (;;) {
            DBSAFE_TRY(const auto piece, r.next());
            if (piece.empty()) return out;
            out.insert(out.end(), piece.begin(), piece.end());
        }
    }

  private:
    page_spool(file_ops::unique_fd fd, std::filesystem::path path)
        : fd_(std::move(fd)), path_(std::move(path)) {
        buffer_.reserve(buffer_digests);
    }

    result<void> flush() {
        if (buffer_.empty()) return success();
        DBSAFE_TRYV(
            file_ops::write_at(fd_.get(), std::as_bytes(std::span(buffer_)), 32 * written_, path_));
        written_ += buffer_.size();
        buffer_.clear();
        return success();
    }

    file_ops::unique_fd fd_;
    std::filesystem::path path_;  // unlinked: for messages
    std::uint64_t written_ = 0;   // digests in the file; the rest are in buffer_
    std::vector<page_digest> buffer_;
};

// One digest at a time from a source that hands them out in pieces (page_spool::reader,
// page_chain_stream), so two sources with pieces of different sizes walk side by side.
template <class Source>
class digest_cursor {
  public:
    explicit digest_cursor(Source& source) : source_(&source) {}

    // The next digest (valid until the next call), or nullptr after the last one.
    result<const page_digest*> next() {
        if (at_ == piece_.size()) {
            DBSAFE_TRY(piece_, source_->next());
            at_ = 0;
            if (piece_.empty()) return static_cast<const page_digest*>(nullptr);
        }
        return &piece_[at_++];
    }

  private:
    Source* source_;
    std::span<const page_digest> piece_;
    std::size_t at_ = 0;
};

// The spool's digests as a full page list in `lists_dir` (page_list.hpp's format, bytes for
// bytes what encode_full_page_list makes of the same digests), written as they are read.
inline result<stored_file> store_full_page_list(const std::filesystem::path& lists_dir,
                                                const page_spool& pages) {
    DBSAFE_TRY(auto out, content_file_writer::create(lists_dir, ".list"));
    byte_writer header;
    header.magic(list_magic);
    header.u8(static_cast<std::uint8_t>(page_list_kind::full));
    header.u64(pages.size());
    DBSAFE_TRYV(out.write(header.buffer()));
    auto in = pages.read();
    for (;;) {
        DBSAFE_TRY(const auto piece, in.next());
        if (piece.empty()) break;
        DBSAFE_TRYV(out.write(std::as_bytes(piece)));
    }
    return out.finish();
}

}  // namespace dbsafe::pages_detail
