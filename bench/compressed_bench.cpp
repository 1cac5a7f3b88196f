// vault.backup() into the zstd archive backend: compression overlaps the copy (see
// zstd_archive.hpp), so this is the compressed counterpart of snapshot_bench's vault_backup.
#include <benchmark/benchmark.h>

#include "bench_support.hpp"
#include "dbsafe/backends/zstd_archive.hpp"
#include "dbsafe/dbsafe.hpp"

namespace dbsafe::bench {
namespace {

void compressed_backup(benchmark::State& state) {
    if (!ready(state)) return;
    const fs::path dir = env().dir / "zstd-vault";
    std::uint64_t archive = 0;
    for (auto _ : state) {
        basic_vault<online_backup, standard_checks, keep_all, zstd_archive> v{
            .storage = zstd_archive{dir, {.level = static_cast<int>(state.range(0)), .threads = 2}},
            .verification = {.level = check_level::quick}};
        auto made = v.backup(env().database);
        if (!made) {
            state.SkipWithError(made.error().message.c_str());
            return;
        }
        archive = v.storage.last_commit().archive_bytes;
        state.PauseTiming();
        std::error_code ec;
        fs::remove_all(dir, ec);
        state.ResumeTiming();
    }
    count_bytes(state, env().bytes);
    if (archive > 0) state.counters["ratio"] = static_cast<double>(env().bytes) / archive;
}
BENCHMARK(compressed_backup)
    ->ArgName("level")
    ->Arg(1)
    ->Arg(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace dbsafe::bench

BENCHMARK_MAIN();
