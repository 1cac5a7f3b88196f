// Shared set-up of the Google Benchmark programs: one sample database per process, made by
// dbsafe-sample (deterministic content), in a scratch directory removed at exit.
//   DBSAFE_BENCH_MIB   size of the generated database (default 64; the smoke test uses 1)
//   DBSAFE_BENCH_DB    use this existing database instead (it is only read)
//   DBSAFE_BENCH_DIR   where scratch files go (default: the system temp directory)
// Timings are page-cached: the first iteration warms the cache, as in docs/benchmarks.md.
#pragma once

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "dbsafe/detail/posix_file.hpp"

namespace dbsafe::bench {

namespace fs = std::filesystem;

struct environment {
    fs::path dir;       // scratch, ours to delete
    fs::path database;  // the source database (WAL mode unless DBSAFE_BENCH_DB says otherwise)
    std::int64_t bytes = 0;
    std::string failure;  // non-empty: every benchmark skips with this message
};

inline std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return (v != nullptr && *v != '\0') ? v : fallback;
}

inline const environment& env() {
    static const environment e = [] {
        environment out;
        out.dir = fs::path(env_or("DBSAFE_BENCH_DIR", fs::temp_directory_path().c_str())) /
                  ("dbsafe-bench-" + std::to_string(::getpid()));
        std::error_code ec;
        fs::create_directories(out.dir, ec);
        const std::string given = env_or("DBSAFE_BENCH_DB", "");
        if (!given.empty()) {
            out.database = given;
        } else {
            out.database = out.dir / "sample.db";
            const std::string cmd = std::string("'") + DBSAFE_SAMPLE_PATH + "' '" +
                                    out.database.string() + "' --size-mib " +
                                    env_or("DBSAFE_BENCH_MIB", "64") + " > /dev/null";
            if (std::system(cmd.c_str()) != 0) out.failure = "cannot run " + cmd;
        }
        out.bytes = static_cast<std::int64_t>(fs::file_size(out.database, ec));
        if (ec && out.failure.empty()) out.failure = "cannot stat " + out.database.string();
        return out;
    }();
    // Registered after `e` is built, so it runs before `e` is destroyed.
    static const bool cleanup_registered = std::atexit([] {
                                               std::error_code ignored;
                                               fs::remove_all(env().dir, ignored);
                                           }) == 0;
    (void)cleanup_registered;
    return e;
}

// A fresh, empty file at `p` (a snapshot strategy copies into an existing empty file).
inline void fresh_file(const fs::path& p) {
    std::error_code ec;
    fs::remove(p, ec);
    std::ofstream{p};
}

inline bool ready(benchmark::State& state) {
    if (env().failure.empty()) return true;
    state.SkipWithError(env().failure.c_str());
    return false;
}

inline void count_bytes(benchmark::State& state, std::int64_t per_iteration) {
    state.SetBytesProcessed(state.iterations() * per_iteration);
    state.counters["db_MiB"] = static_cast<double>(per_iteration) / (1024.0 * 1024.0);
}

}  // namespace dbsafe::bench
