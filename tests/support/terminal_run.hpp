// Runs a program with its standard input, output and error on a new pseudo-terminal, as a user
// at a terminal runs it, and returns everything the terminal received (for progress lines that
// a program draws only when it is on a terminal).
#pragma once

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

namespace dbsafe::test {

struct terminal_result {
    int exit_code = -1;
    std::string screen;  // the bytes written to the terminal, "\n" arriving as "\r\n"
};

inline terminal_result run_on_terminal(const std::vector<std::string>& argv,
                                       unsigned short columns = 80) {
    terminal_result r;
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) return r;
    const std::string slave_name = ::ptsname(master);
    std::vector<char*> c_argv;
    std::vector<std::string> args = argv;
    for (auto& a : args) c_argv.push_back(a.data());
    c_argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::setsid();
        const int slave = ::open(slave_name.c_str(), O_RDWR);
        if (slave < 0) ::_exit(126);
        ::ioctl(slave, TIOCSCTTY, 0);
        struct winsize size {};
        size.ws_row = 24;
        size.ws_col = columns;
        ::ioctl(slave, TIOCSWINSZ, &size);
        ::dup2(slave, 0);
        ::dup2(slave, 1);
        ::dup2(slave, 2);
        if (slave > 2) ::close(slave);
        ::close(master);
        ::execv(c_argv[0], c_argv.data());
        ::_exit(127);
    }
    // Read until the child's side is closed (EIO on Linux once no process holds it).
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(master, buffer, sizeof buffer);
        if (n > 0) {
            r.screen.append(buffer, static_cast<std::size_t>(n));
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::close(master);
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    return r;
}

// The lines a terminal shows for `screen`, one per "\r" or "\n" segment (a progress line redrawn
// in place gives one segment per drawing), with the erase-to-end-of-line sequence removed.
inline std::vector<std::string> terminal_segments(const std::string& screen) {
    std::vector<std::string> out;
    std::string current;
    const auto flush = [&] {
        if (!current.empty()) out.push_back(current);
        current.clear();
    };
    for (std::size_t i = 0; i < screen.size(); ++i) {
        if (screen.compare(i, 3, "\x1b[K") == 0) {
            i += 2;
        } else if (screen[i] == '\r' || screen[i] == '\n') {
            flush();
        } else {
            current += screen[i];
        }
    }
    flush();
    return out;
}

}  // namespace dbsafe::test
