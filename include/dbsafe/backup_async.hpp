// backup_async: a backup on a worker thread, for callers that must not block (a UI thread).
// The task reports progress, can be cancelled, and yields the same result<manifest> as
// vault.backup(). Destroying an unfinished task cancels it and waits for the worker, so no
// thread outlives the vault it uses.
#pragma once

#include <atomic>
#include <future>
#include <memory>
#include <optional>
#include <stop_token>
#include <thread>
#include <utility>

#include "dbsafe/database_ref.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/progress.hpp"
#include "dbsafe/vault_like.hpp"
#include "dbsafe/vault_options.hpp"

namespace dbsafe {

class backup_task;
template <class Vault>
backup_task backup_async(Vault& vault, database_ref source, backup_options opts = {});

class backup_task {
  public:
    // Latest progress the backup reported (zeros until the first step), with its phase: the
    // snapshot, then SQLite's check of it (progress.hpp). The four values are read one by one:
    // at a phase change they may mix two reports for a moment, which a display redraws over.
    [[nodiscard]] progress current() const noexcept {
        return progress{state_->done.load(), state_->total.load(), state_->page_size.load(),
                        state_->phase.load()};
    }
    [[nodiscard]] bool ready() const {
        return outcome_.has_value() ||
               future_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    }
    void cancel() noexcept { worker_.request_stop(); }

    // Blocks until the backup has finished (or failed, or was cancelled).
    const result<manifest>& wait() {
        if (!outcome_) outcome_.emplace(future_.get());
        return *outcome_;
    }

  private:
    struct shared_state {
        std::atomic<std::uint64_t> done{0}, total{0}, page_size{0};
        std::atomic<progress_phase> phase{progress_phase::snapshot};
    };

    template <class Vault>
    friend backup_task backup_async(Vault& vault, database_ref source, backup_options opts);

    std::shared_ptr<shared_state> state_ = std::make_shared<shared_state>();
    std::future<result<manifest>> future_;
    std::optional<result<manifest>> outcome_;
    std::jthread worker_;  // last: joined (after a stop request) before the rest is destroyed
};

template <class Vault>
backup_task backup_async(Vault& vault, database_ref source, backup_options opts) {
    detail::require_backup_taker<Vault>();
    backup_task task;
    std::promise<result<manifest>> promise;
    task.future_ = promise.get_future();
    task.worker_ = std::jthread([&vault, source = std::move(source), opts = std::move(opts),
                                 state = task.state_,
                                 promise = std::move(promise)](std::stop_token stop) mutable {
        // Either the task's cancel() or the caller's own stop_token stops the copy.
        std::stop_source combined;
        std::stop_callback from_task(stop, [&] { combined.request_stop(); });
        std::stop_callback from_caller(opts.stop, [&] { combined.request_stop(); });
        backup_options run = opts;
        run.stop = combined.get_token();
        run.on_progress = [&state, user = opts.on_progress](const progress& p) {
            state->done = p.pages_done;
            state->total = p.pages_total;
            state->page_size = p.page_size;
            state->phase = p.phase;
            if (user) user(p);
        };
        try {
            promise.set_value(vault.backup(source, run));
        } catch (...) {
            promise.set_exception(std::current_exception());
        }
    });
    return task;
}

}  // namespace dbsafe
