// Progress of a copy, as SQLite's backup API reports it (pages done of pages total), and which
// copy it is: an operation with several copies (restore: the safety backup, then the copy into
// the live database) reports each through the same callback, tagged with its phase.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>

namespace dbsafe {

enum class progress_phase {
    snapshot,       // a backup's copy of the database
    safety_backup,  // restore: the copy of the live database kept as its recovery point
    copy_in,        // restore: the backup copied into the live database
};

inline constexpr std::string_view to_string(progress_phase p) noexcept {
    switch (p) {
        case progress_phase::snapshot:
            return "snapshot";
        case progress_phase::safety_backup:
            return "safety backup";
        case progress_phase::copy_in:
            return "copy in";
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

// `callback`, with every report it receives tagged as `phase` (empty stays empty).
inline progress_callback with_phase(progress_callback callback, progress_phase phase) {
    if (!callback) return {};
    return [callback = std::move(callback), phase](const progress& p) {
        progress tagged = p;
        tagged.phase = phase;
        callback(tagged);
    };
}

// Tells `callback` (if any) that `phase` begins: 0 of 0 pages, so a display can time the phase
// from its start even when its copy reports only at its end (a direct file copy).
inline void announce_phase(const progress_callback& callback, progress_phase phase) {
    if (callback)
        callback(progress{.pages_done = 0, .pages_total = 0, .page_size = 0, .phase = phase});
}

}  // namespace dbsafe
