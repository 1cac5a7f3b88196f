// Progress of a copy, as SQLite's backup API reports it (pages done of pages total).
#pragma once

#include <cstdint>
#include <functional>

namespace dbsafe {

struct progress {
    std::uint64_t pages_done = 0;
    std::uint64_t pages_total = 0;
    std::uint64_t page_size = 0;

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

}  // namespace dbsafe
