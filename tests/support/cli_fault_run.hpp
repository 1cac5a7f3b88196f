// Runs the dbsafe CLI under the fs_fault_preload shim (see fs_fault_preload.cpp): the Nth call
// of one kind, on paths containing a filter, fails with an errno; the shim's report says how
// many matching calls the run made (with nth = 0: the injection points to loop over) and how
// many it failed.
#pragma once

#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/temp_dir.hpp"

#if !defined(DBSAFE_FAULT_PRELOAD_PATH) || !defined(DBSAFE_CLI_PATH)
#error "register the test with dbsafe_add_fault_test() in tests/CMakeLists.txt"
#endif

namespace dbsafe::test {

struct fs_fault {
    const char* call;      // open | write | read | fsync | truncate | rename | unlink | mkdir
    int err;               // the errno the failed call returns
    bool persist = false;  // every matching call after the Nth fails too (a disk that stays full)
};

// "write #3 of 40 fails with No space left on device (and stays failing)", for SCOPED_TRACE.
inline std::string describe(const fs_fault& f, long nth, long count) {
    return std::string(f.call) + " #" + std::to_string(nth) + " of " + std::to_string(count) +
           " fails with " + std::strerror(f.err) + (f.persist ? " (and stays failing)" : "");
}

struct shim_run {
    child_result result;
    long calls = 0;     // matching calls the run made
    long injected = 0;  // of them, failed by the shim
};

// Runs `dbsafe <args>` with call `nth` of `f` failing on paths containing `filter` (nth = 0:
// nothing fails, the calls are counted). Output and the report go to `tmp`: keep `filter`
// below it in a subdirectory, or the CLI's own stdout would count as a matching file.
inline shim_run run_cli_with_fault(const temp_dir& tmp, const std::vector<std::string>& args,
                                   const fs_fault& f, long nth,
                                   const std::filesystem::path& filter) {
    const auto report = tmp / "shim.report";
    std::filesystem::remove(report);
    std::vector<std::string> argv{DBSAFE_CLI_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    shim_run out;
    out.result = run(argv,
                     {{"LD_PRELOAD", DBSAFE_FAULT_PRELOAD_PATH},
                      {"ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0"},
                      {"DBSAFE_FAULT_CALL", f.call},
                      {"DBSAFE_FAULT_NTH", std::to_string(nth)},
                      {"DBSAFE_FAULT_ERRNO", std::to_string(f.err)},
                      {"DBSAFE_FAULT_PERSIST", f.persist ? "1" : "0"},
                      {"DBSAFE_FAULT_PATH", filter.string()},
                      {"DBSAFE_FAULT_REPORT", report.string()}},
                     tmp.path());
    std::istringstream(slurp(report)) >> out.calls >> out.injected;
    return out;
}

}  // namespace dbsafe::test
