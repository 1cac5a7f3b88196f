// Progress of a copy, as SQLite's backup API reports it (pages done of pages total), and which
// phase it is: an operation with several phases (restore: the backup's checksum, the safety
// backup, the copy into the live database, the check of the result) reports each through the
// same callback, tagged with its phase. A phase measured in bytes (the checksum) reports them
// as pages of 1 byte.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string_view>
#include <thread>
#include <utility>

namespace dbsafe {

enum class progress_phase {
    snapshot,       // a backup's copy of the database
    safety_backup,  // restore: the copy of the live database kept as its recovery point
    copy_in,        // restore: the backup copied into the live database
    check,          // SQLite's check (quick_check, integrity_check) of a snapshot, backup or
                    // restored database: pages read of the pages it reads (read_meter.hpp)
    checksum,       // a backup's bytes hashed against its manifest's checksum
    unpack,         // a compressed backup decompressed, or a page snapshot rebuilt, into the
                    // temporary file that is then checked or restored (bytes written)
    store,          // backup: the checked snapshot committed to its storage target (the end
                    // of its compression or page intake, fsyncs, renames): announced, then
                    // its total once published, nothing between
};

inline constexpr std::string_view to_string(progress_phase p) noexcept {
    switch (p) {
        case progress_phase::snapshot:
            return "snapshot";
        case progress_phase::safety_backup:
            return "safety backup";
        case progress_phase::copy_in:
            return "copy in";
        case progress_phase::check:
            return "check";
        case progress_phase::checksum:
            return "checksum";
        case progress_phase::unpack:
            return "unpack";
        case progress_phase::store:
            return "store";
    }
    return "copy";
}

struct progress {
    std::uint64_t pages_done = 0;
    std::uint64_t pages_total = 0;
    std::uint64_t page_size = 0;
    progress_phase phase = progress_phase::snapshot;

    [[nodiscard]] std::uint64_t bytes_done() const noexcept { return pages_done * page_size; }
    [[nodiscard]] std::uint64_t bytes_total() const noexcept { return pages_total * page_size; }
    [[nodiscard]] double fraction() const noexcept {
        return pages_total == 0
                   ? 0.0
                   : static_cast<double>(pages_done) / static_cast<double>(pages_total);
    }
};

// Called on the thread doing the copy, between steps; keep it short.
using progress_callback = std::function<void(const progress&)>;

// `callback`, told the copy of an inner operation as `phase` (empty stays empty): its
// `snapshot` reports are tagged `phase`, and its other phases (the check or store of a
// backup taken as restore's safety backup) are not passed on, being part of that phase.
inline progress_callback with_phase(progress_callback callback, progress_phase phase) {
    if (!callback) return {};
    return [callback = std::move(callback), phase](const progress& p) {
        if (p.phase != progress_phase::snapshot) return;
        progress tagged = p;
        tagged.phase = phase;
        callback(tagged);
    };
}

// A phase measured in bytes, advanced by one or more threads and reported (every `every` bytes,
// and at the end) on one of them only: the thread that created it, so a callback is never
// called from two threads at once.
class byte_progress {
  public:
    byte_progress(progress_callback callback, progress_phase phase, std::uint64_t total,
                  std::uint64_t every = std::uint64_t{64} << 20)
        : callback_(std::move(callback)),
          phase_(phase),
          total_(total),
          every_(every == 0 ? 1 : every),
          reporter_(std::this_thread::get_id()) {
        tell(0, 0);  // announced
    }

    void add(std::uint64_t bytes) noexcept {
        const auto done = done_.fetch_add(bytes) + bytes;
        // Only the reporting thread reads the callback and next_ (no race with tell()).
        if (std::this_thread::get_id() != reporter_ || !callback_ || done < next_) return;
        next_ = done + every_;
        tell(std::min(done, total_), total_);
    }

    // The work is done: its total, once.
    void finished() noexcept { tell(total_, total_); }

  private:
    void tell(std::uint64_t done, std::uint64_t total) noexcept {
        if (!callback_) return;
        try {
            callback_(progress{
                .pages_done = done, .pages_total = total, .page_size = 1, .phase = phase_});
        } catch (...) {
            callback_ = {};
        }
    }

    progress_callback callback_;
    progress_phase phase_;
    std::uint64_t total_;
    std::uint64_t every_;
    std::uint64_t next_ = every_;
    std::thread::id reporter_;
    std::atomic<std::uint64_t> done_{0};
};

// Tells `callback` (if any) that `phase` begins: 0 of 0 pages, so a display can time the phase
// from its start even when its copy reports only at its end (a direct file copy).
inline void announce_phase(const progress_callback& callback, progress_phase phase) {
    if (callback)
        callback(progress{.pages_done = 0, .pages_total = 0, .page_size = 0, .phase = phase});
}

}  // namespace dbsafe
