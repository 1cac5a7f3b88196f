// The commands that read a backup directory (list, verify, prune, health, restore) refuse one
// that does not exist. The library lists a missing directory as empty (no backups taken yet is
// a normal state for a program), but a person typing `--dir` most likely mistyped it, and "no
// backups" with exit 0 would hide that.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <dbsafe/error.hpp>
#include <dbsafe/storage/local_directory.hpp>
#include <string>

namespace dbsafe::cli {

inline result<void> require_backup_dir(const std::string& dir) {
    DBSAFE_TRYV(require_local_path(dir));  // "s3://b/x" is unsupported, not "does not exist"
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) return success();
        return error(errc::invalid_argument,
                     "backup directory " + dir +
                         " is not a directory: pass the directory that "
                         "holds the backups as --dir",
                     dir);
    }
    if (errno != ENOENT && errno != ENOTDIR) {
        return errno_error(errno, "cannot open backup directory " + dir, dir);
    }
    // The path may have come from the environment (add_dir_option): say so, or a user looks
    // for a --dir they never typed.
    const char* from_env = std::getenv("DBSAFE_DIR");
    const bool env_path = from_env != nullptr && dir == from_env;
    return error(errc::not_found,
                 "backup directory " + dir + " does not exist: check the " +
                     (env_path ? "DBSAFE_DIR variable's path" : "--dir path") +
                     " (backups are created there by `dbsafe backup DB --dir " + dir + "`)",
                 dir);
}

}  // namespace dbsafe::cli
