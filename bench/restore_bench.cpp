// vault.restore(): verify the backup, take and verify a safety backup of the live database,
// copy the backup into it, check it (what `dbsafe restore` does).
#include <benchmark/benchmark.h>

#include "bench_support.hpp"
#include "dbsafe/dbsafe.hpp"

namespace dbsafe::bench {
namespace {

void vault_restore(benchmark::State& state) {
    if (!ready(state)) return;
    const fs::path dir = env().dir / "restore-vault";
    const fs::path live = env().dir / "live.db";
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::copy_file(env().database, live, fs::copy_options::overwrite_existing, ec);
    using restore_vault = basic_vault<online_backup, standard_checks, keep_all, local_directory>;
    restore_vault v{
        .storage = local_directory{dir},
        .verification = {.level = state.range(0) == 0 ? check_level::quick : check_level::full}};
    auto backup = v.backup(live);
    if (!backup) {
        state.SkipWithError(backup.error().message.c_str());
        return;
    }
    for (auto _ : state) {
        auto restored = v.restore(live, {.id = backup.value().id});
        if (!restored) {
            state.SkipWithError(restored.error().message.c_str());
            return;
        }
        state.PauseTiming();
        (void)v.storage.remove(restored.value().safety.id);
        state.ResumeTiming();
    }
    count_bytes(state, env().bytes);
    fs::remove_all(dir, ec);
    fs::remove(live, ec);
}
BENCHMARK(vault_restore)
    ->ArgName("full")
    ->DenseRange(0, 1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace dbsafe::bench

BENCHMARK_MAIN();
