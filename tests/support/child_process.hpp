// Runs a program (the dbsafe CLI) in a child process with extra environment variables and
// captures its exit status, stdout and stderr: how fault-injection and concurrency tests drive
// the binary users run.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace dbsafe::test {

struct child_result {
    int exit_code = -1;  // -1 when killed by a signal
    int signal = 0;      // the signal that ended it, 0 when it exited
    std::string out;
    std::string err;
};

// Starts `argv` with `env` added to this process's environment; stdout and stderr go to files
// under `scratch` (no pipes: a chatty child can never block on a full pipe). Returns the pid.
inline pid_t spawn(const std::vector<std::string>& argv,
                   const std::vector<std::pair<std::string, std::string>>& env,
                   const std::filesystem::path& out_file, const std::filesystem::path& err_file) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || err < 0) ::_exit(127);
        ::dup2(out, 1);
        ::dup2(err, 2);
        for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    return pid;
}

inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline child_result wait_child(pid_t pid, const std::filesystem::path& out_file,
                               const std::filesystem::path& err_file) {
    child_result r;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    r.out = slurp(out_file);
    r.err = slurp(err_file);
    return r;
}

inline child_result run(const std::vector<std::string>& argv,
                        const std::vector<std::pair<std::string, std::string>>& env,
                        const std::filesystem::path& scratch) {
    const auto out = scratch / "child.out";
    const auto err = scratch / "child.err";
    return wait_child(spawn(argv, env, out, err), out, err);
}

}  // namespace dbsafe::test
