// Verification of one backup file: SQLite's quick_check and integrity_check, and the xxh3-128
// checksum (what standard_checks combines).
#include <benchmark/benchmark.h>

#include "bench_support.hpp"
#include "dbsafe/checksum.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/snapshot/online_backup.hpp"
#include "dbsafe/verify/sqlite_checks.hpp"

namespace dbsafe::bench {
namespace {

// A backup-like copy (rollback journal mode, as every dbsafe backup), made once.
const fs::path& backup_copy() {
    static const fs::path p = [] {
        const fs::path out = env().dir / "verify-me.db";
        if (!env().failure.empty()) return out;
        fresh_file(out);
        auto source = detail::open_database(env().database, detail::open_mode::read_write);
        if (source) {
            (void)online_backup{.pages_per_step = -1}.copy(source.value().get(), out,
                                                           snapshot_context{});
        }
        return out;
    }();
    return p;
}

template <class Check>
void run_check(benchmark::State& state, const Check& check) {
    if (!ready(state)) return;
    const backup_file file{backup_copy(), nullptr};
    for (auto _ : state) {
        if (auto ok = check.verify(file); !ok) {
            state.SkipWithError(ok.error().message.c_str());
            return;
        }
    }
    count_bytes(state, static_cast<std::int64_t>(fs::file_size(backup_copy())));
}

void verify_quick_check(benchmark::State& state) { run_check(state, quick_check{}); }
BENCHMARK(verify_quick_check)->Unit(benchmark::kMillisecond)->UseRealTime();

void verify_integrity_check(benchmark::State& state) { run_check(state, integrity_check{}); }
BENCHMARK(verify_integrity_check)->Unit(benchmark::kMillisecond)->UseRealTime();

void verify_checksum(benchmark::State& state) {
    if (!ready(state)) return;
    for (auto _ : state) {
        auto sum = hash_file(backup_copy());
        if (!sum) {
            state.SkipWithError(sum.error().message.c_str());
            return;
        }
        benchmark::DoNotOptimize(sum.value().hex);
    }
    count_bytes(state, static_cast<std::int64_t>(fs::file_size(backup_copy())));
}
BENCHMARK(verify_checksum)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace dbsafe::bench

BENCHMARK_MAIN();
