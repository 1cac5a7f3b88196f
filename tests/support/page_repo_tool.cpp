// page_repo_tool: a page backup or a garbage collection of the page repository as a process of
// its own, so the fault-injection shim (fs_fault_preload.cpp, loaded with LD_PRELOAD) can fail
// its file-system calls; the library's own code runs, with no test hook in it.
//   page_repo_tool backup DB DIR   back DB up into DIR as pages (prints the id)
//   page_repo_tool gc DIR          collect DIR's garbage (temp files of any age)
// Exit status 0 on success, 1 with the error on stderr.
#include <cstdio>
#include <dbsafe/backends/page_repository.hpp>
#include <dbsafe/dbsafe.hpp>
#include <string>

int main(int argc, char** argv) {
    using namespace dbsafe;
    const std::string what = argc > 1 ? argv[1] : "";
    if (what == "backup" && argc == 4) {
        basic_vault<online_backup, standard_checks, keep_all, page_repository> v{
            .storage = page_repository{argv[3]},
            .snapshot = {},
            .verification = standard_checks{.level = check_level::quick},
            .retention = {},
            .options = {}};
        const auto made = v.backup(argv[2]);
        if (!made) {
            std::fprintf(stderr, "%s\n", made.error().message.c_str());
            return 1;
        }
        std::printf("%s\n", made.value().id.c_str());
        return 0;
    }
    if (what == "gc" && argc == 3) {
        page_repository storage{argv[2]};
        const auto gc = storage.collect_garbage({.debris_grace = std::chrono::seconds(0)});
        if (!gc) {
            std::fprintf(stderr, "%s\n", gc.error().message.c_str());
            return 1;
        }
        for (const auto& f : gc.value().failures) std::fprintf(stderr, "%s\n", f.c_str());
        return gc.value().failures.empty() ? 0 : 1;
    }
    std::fprintf(stderr, "usage: page_repo_tool backup DB DIR | gc DIR\n");
    return 2;
}
