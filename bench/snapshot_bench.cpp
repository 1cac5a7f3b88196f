// Snapshot paths: the backup API at several step sizes with and without the fast-copy shims,
// VACUUM INTO, and the whole vault pipeline (copy + fsync + checksum + verify + publish).
#include <benchmark/benchmark.h>

#include "bench_support.hpp"
#include "dbsafe/dbsafe.hpp"
#include "dbsafe/detail/fast_copy_vfs.hpp"

namespace dbsafe::bench {
namespace {

// Copies into a staging file and fsyncs it: the durable part of a backup, nothing else.
template <class Strategy>
void copy_and_sync(benchmark::State& state, const Strategy& strategy, bool fast_source) {
    if (!ready(state)) return;
    const fs::path target = env().dir / "target.db";
    for (auto _ : state) {
        fresh_file(target);
        auto source = detail::open_and_probe(env().database, detail::open_mode::read_write, 10'000,
                                             fast_source ? detail::fast_read_vfs() : nullptr);
        if (!source) {
            state.SkipWithError(source.error().message.c_str());
            return;
        }
        auto copied =
            strategy.copy(source.value().get(), target, snapshot_context{.private_source = true});
        if (!copied) {
            state.SkipWithError(copied.error().message.c_str());
            return;
        }
        if (auto synced = detail::sync_file(target); !synced) {
            state.SkipWithError(synced.error().message.c_str());
            return;
        }
    }
    count_bytes(state, env().bytes);
    std::error_code ec;
    fs::remove(target, ec);
}

void online_backup_copy(benchmark::State& state) {
    const bool fast = state.range(1) != 0;
    copy_and_sync(
        state, online_backup{.pages_per_step = static_cast<int>(state.range(0)), .fast_io = fast},
        fast);
}
BENCHMARK(online_backup_copy)
    ->ArgNames({"step", "fast"})
    ->ArgsProduct({{-1, 1024, 128}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void vacuum_into_copy(benchmark::State& state) { copy_and_sync(state, vacuum_into{}, true); }
BENCHMARK(vacuum_into_copy)->Unit(benchmark::kMillisecond)->UseRealTime();

// vault.backup(): what `dbsafe backup` does, by verification level (0 none, 1 quick, 2 full).
void vault_backup(benchmark::State& state) {
    if (!ready(state)) return;
    const auto level = state.range(0) == 0   ? check_level::none
                       : state.range(0) == 1 ? check_level::quick
                                             : check_level::full;
    const fs::path dir = env().dir / "vault";
    for (auto _ : state) {
        basic_vault<online_backup, standard_checks, keep_all, local_directory> v{
            .storage = local_directory{dir}, .verification = {.level = level}};
        auto made = v.backup(env().database);
        if (!made) {
            state.SkipWithError(made.error().message.c_str());
            return;
        }
        state.PauseTiming();
        std::error_code ec;
        fs::remove_all(dir, ec);
        state.ResumeTiming();
    }
    count_bytes(state, env().bytes);
}
BENCHMARK(vault_backup)
    ->ArgName("verify")
    ->DenseRange(0, 2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace dbsafe::bench

BENCHMARK_MAIN();
