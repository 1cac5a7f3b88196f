// error_name(): a stable snake_case name for any error_code dbsafe returns, for programs that
// branch on failures across a process boundary (the CLI's `--json` prints it as "code").
//   dbsafe's own codes: the errc enumerator's name          ("checksum_mismatch")
//   SQLite's codes:     "sqlite_" + the primary result code  ("sqlite_busy", "sqlite_corrupt")
//   errno values:       the std::errc enumerator's name      ("no_space_on_device")
// The names are part of the interface (docs/cli.md lists them): never rename one.
#pragma once

#include <sqlite3.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "dbsafe/error.hpp"

namespace dbsafe {

namespace detail {

inline const char* errc_name(errc e) noexcept {
    switch (e) {
        case errc::ok:
            return "ok";
        case errc::invalid_argument:
            return "invalid_argument";
        case errc::not_found:
            return "not_found";
        case errc::not_a_database:
            return "not_a_database";
        case errc::busy_timeout:
            return "busy_timeout";
        case errc::insufficient_space:
            return "insufficient_space";
        case errc::io_error:
            return "io_error";
        case errc::symlink_refused:
            return "symlink_refused";
        case errc::invalid_id:
            return "invalid_id";
        case errc::invalid_manifest:
            return "invalid_manifest";
        case errc::verification_failed:
            return "verification_failed";
        case errc::checksum_mismatch:
            return "checksum_mismatch";
        case errc::missing_tables:
            return "missing_tables";
        case errc::cancelled:
            return "cancelled";
        case errc::in_transaction:
            return "in_transaction";
        case errc::schema_newer:
            return "schema_newer";
        case errc::restore_failed:
            return "restore_failed";
        case errc::migration_failed:
            return "migration_failed";
        case errc::unsupported:
            return "unsupported";
        case errc::other_database:
            return "other_database";
        case errc::migration_running:
            return "migration_running";
        case errc::recovery_failed:
            return "recovery_failed";
    }
    return nullptr;
}

inline const char* sqlite_primary_name(int rc) noexcept {
    switch (rc & 0xff) {
        case SQLITE_ERROR:
            return "sqlite_error";
        case SQLITE_INTERNAL:
            return "sqlite_internal";
        case SQLITE_PERM:
            return "sqlite_perm";
        case SQLITE_ABORT:
            return "sqlite_abort";
        case SQLITE_BUSY:
            return "sqlite_busy";
        case SQLITE_LOCKED:
            return "sqlite_locked";
        case SQLITE_NOMEM:
            return "sqlite_nomem";
        case SQLITE_READONLY:
            return "sqlite_readonly";
        case SQLITE_INTERRUPT:
            return "sqlite_interrupt";
        case SQLITE_IOERR:
            return "sqlite_ioerr";
        case SQLITE_CORRUPT:
            return "sqlite_corrupt";
        case SQLITE_NOTFOUND:
            return "sqlite_notfound";
        case SQLITE_FULL:
            return "sqlite_full";
        case SQLITE_CANTOPEN:
            return "sqlite_cantopen";
        case SQLITE_PROTOCOL:
            return "sqlite_protocol";
        case SQLITE_SCHEMA:
            return "sqlite_schema";
        case SQLITE_TOOBIG:
            return "sqlite_toobig";
        case SQLITE_CONSTRAINT:
            return "sqlite_constraint";
        case SQLITE_MISMATCH:
            return "sqlite_mismatch";
        case SQLITE_MISUSE:
            return "sqlite_misuse";
        case SQLITE_NOLFS:
            return "sqlite_nolfs";
        case SQLITE_AUTH:
            return "sqlite_auth";
        case SQLITE_RANGE:
            return "sqlite_range";
        case SQLITE_NOTADB:
            return "sqlite_notadb";
        default:
            return nullptr;
    }
}

// The errno values file operations return, by their std::errc names.
inline const char* errno_name(int err) noexcept {
    switch (err) {
        case ENOENT:
            return "no_such_file_or_directory";
        case EACCES:
            return "permission_denied";
        case EPERM:
            return "operation_not_permitted";
        case ENOSPC:
            return "no_space_on_device";
        case EDQUOT:
            return "disk_quota_exceeded";
        case EROFS:
            return "read_only_file_system";
        case EIO:
            return "io_error";
        case EEXIST:
            return "file_exists";
        case ENOTDIR:
            return "not_a_directory";
        case EISDIR:
            return "is_a_directory";
        case ELOOP:
            return "too_many_symbolic_link_levels";
        case ENAMETOOLONG:
            return "filename_too_long";
        case EXDEV:
            return "cross_device_link";
        case EBUSY:
            return "device_or_resource_busy";
        case EAGAIN:
            return "resource_unavailable_try_again";
        case EINVAL:
            return "invalid_argument";
        case EMFILE:
            return "too_many_files_open";
        case ENFILE:
            return "too_many_files_open_in_system";
        case EFBIG:
            return "file_too_large";
        case ENOMEM:
            return "not_enough_memory";
        case ENXIO:
            return "no_such_device_or_address";
        case ENODEV:
            return "no_such_device";
        case ETXTBSY:
            return "text_file_busy";
        case ENOTEMPTY:
            return "directory_not_empty";
        case EINTR:
            return "interrupted";
        default:
            return nullptr;
    }
}

}  // namespace detail

// "unknown_error" only for a category dbsafe never returns (or a new errno value).
inline std::string error_name(const std::error_code& code) {
    const char* name = nullptr;
    if (code.category() == dbsafe_category()) {
        name = detail::errc_name(static_cast<errc>(code.value()));
    } else if (code.category() == sqlite_category()) {
        name = detail::sqlite_primary_name(code.value());
    } else if (code.category() == std::generic_category() ||
               code.category() == std::system_category()) {
        name = detail::errno_name(code.value());
    }
    return name != nullptr ? name : "unknown_error";
}

}  // namespace dbsafe
