// dbsafe::error, dbsafe::errc, the SQLite error category and dbsafe::result<T>.
//
// Every fallible function returns result<T>: either a value or an `error` that carries a
// std::error_code (for programs) and a message a person can act on (for people): which file,
// what was expected, what to do. `.value()` on a failed result throws std::system_error with
// that message, which is the only way dbsafe ever throws on an expected failure.
//
// An error that another one led to keeps it as its `cause` (a restore_failed whose copy was
// judged damaged keeps the verification_failed), so a program branches on the original code
// with caused_by() while the message stays one sentence for people.
#pragma once

#include <sqlite3.h>

#include <boost/outcome/result.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace dbsafe {

enum class errc {
    ok = 0,
    invalid_argument = 1,  // a caller's option or argument is out of range
    not_found,             // database, backup id or directory does not exist
    not_a_database,        // the file exists but is not an SQLite database
    busy_timeout,          // the database stayed locked past the configured timeout
    insufficient_space,    // the free-space guard refused to start
    io_error,              // an operating-system call failed (see message)
    symlink_refused,       // a symlink stands where dbsafe would write
    invalid_id,            // a backup id that is not [0-9A-Za-z._-]+
    invalid_manifest,      // a manifest that does not parse or does not describe its data file
    verification_failed,   // integrity_check / quick_check reported problems
    checksum_mismatch,     // the data file's hash differs from the manifest's
    missing_tables,        // required tables are absent
    cancelled,             // the caller's stop_token asked us to stop
    in_transaction,        // an operation that cannot run inside an open transaction
    schema_newer,          // a backup's schema is newer than the live database's
    restore_failed,        // a restore failed and the database was recovered (or not: see message)
    migration_failed,      // a guarded migration failed and was rolled back
    unsupported,           // a valid request this build or platform cannot serve
    other_database,        // the backup is of another database (restore needs an override)
    migration_running,     // a guarded migration of the database runs in another process
    recovery_failed,       // the cause of a restore_failed whose automatic recovery failed too
};

class errc_category final : public std::error_category {
  public:
    [[nodiscard]] const char* name() const noexcept override { return "dbsafe"; }
    [[nodiscard]] std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::ok:
                return "success";
            case errc::invalid_argument:
                return "invalid argument";
            case errc::not_found:
                return "not found";
            case errc::not_a_database:
                return "file is not an SQLite database";
            case errc::busy_timeout:
                return "database locked past the timeout";
            case errc::insufficient_space:
                return "not enough free space";
            case errc::io_error:
                return "I/O error";
            case errc::symlink_refused:
                return "refusing to follow a symlink";
            case errc::invalid_id:
                return "invalid backup id";
            case errc::invalid_manifest:
                return "invalid backup manifest";
            case errc::verification_failed:
                return "backup failed verification";
            case errc::checksum_mismatch:
                return "checksum mismatch";
            case errc::missing_tables:
                return "required tables missing";
            case errc::cancelled:
                return "cancelled";
            case errc::in_transaction:
                return "cannot run inside a transaction";
            case errc::schema_newer:
                return "backup schema is newer than the database";
            case errc::restore_failed:
                return "restore failed";
            case errc::migration_failed:
                return "migration failed";
            case errc::unsupported:
                return "unsupported";
            case errc::other_database:
                return "backup of another database";
            case errc::migration_running:
                return "a migration of the database is running";
            case errc::recovery_failed:
                return "recovery from the safety backup failed";
        }
        return "unknown dbsafe error";
    }
    [[nodiscard]] std::error_condition default_error_condition(int ev) const noexcept override {
        switch (static_cast<errc>(ev)) {
            case errc::invalid_argument:
            case errc::invalid_id:
                return std::errc::invalid_argument;
            case errc::not_found:
                return std::errc::no_such_file_or_directory;
            case errc::busy_timeout:
            case errc::migration_running:
                return std::errc::resource_unavailable_try_again;
            case errc::insufficient_space:
                return std::errc::no_space_on_device;
            case errc::io_error:
                return std::errc::io_error;
            case errc::symlink_refused:
                return std::errc::too_many_symbolic_link_levels;
            case errc::cancelled:
                return std::errc::operation_canceled;
            case errc::unsupported:
                return std::errc::not_supported;
            default:
                return {ev, *this};
        }
    }
};

inline const std::error_category& dbsafe_category() noexcept {
    static const errc_category category;
    return category;
}

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), dbsafe_category()};
}

// SQLite result codes (extended codes included) as std::error_code, so a caller can test
// `ec == std::errc::no_space_on_device` without knowing SQLite.
class sqlite_error_category final : public std::error_category {
  public:
    [[nodiscard]] const char* name() const noexcept override { return "sqlite"; }
    [[nodiscard]] std::string message(int ev) const override { return sqlite3_errstr(ev); }
    [[nodiscard]] std::error_condition default_error_condition(int ev) const noexcept override {
        switch (ev & 0xff) {
            case SQLITE_BUSY:
            case SQLITE_LOCKED:
                return std::errc::resource_unavailable_try_again;
            case SQLITE_FULL:
                return std::errc::no_space_on_device;
            case SQLITE_NOMEM:
                return std::errc::not_enough_memory;
            case SQLITE_READONLY:
                return std::errc::read_only_file_system;
            case SQLITE_PERM:
            case SQLITE_AUTH:
                return std::errc::permission_denied;
            case SQLITE_IOERR:
                return std::errc::io_error;
            case SQLITE_CANTOPEN:
                return std::errc::no_such_file_or_directory;
            case SQLITE_INTERRUPT:
                return std::errc::operation_canceled;
            case SQLITE_TOOBIG:
                return std::errc::value_too_large;
            case SQLITE_MISUSE:
            case SQLITE_RANGE:
                return std::errc::invalid_argument;
            default:
                return {ev, *this};
        }
    }
};

inline const std::error_category& sqlite_category() noexcept {
    static const sqlite_error_category category;
    return category;
}

// The error half of every result: a code to branch on and a sentence to show.
struct error {
    std::error_code code;
    // The whole story for people, causes included: a message never needs its causes printed
    // beside it.
    std::string message;
    // The file or directory the error is about, when there is one (the CLI's `--json` reports
    // it as "path"); the message names it too, so people need not look here.
    std::string path;
    // The failure this one wraps, when there is one (shared: an error stays cheap to copy).
    std::shared_ptr<const error> cause;

    error() = default;
    error(std::error_code c, std::string m, std::string p = {})
        : code(c), message(std::move(m)), path(std::move(p)) {}
    error(errc e, std::string m, std::string p = {})
        : code(make_error_code(e)), message(std::move(m)), path(std::move(p)) {}

    [[nodiscard]] bool is(errc e) const noexcept { return code == make_error_code(e); }

    // Whether this error or any of its causes has code `e`: a restore_failed whose copy failed
    // its check is caused_by(errc::verification_failed).
    [[nodiscard]] bool caused_by(errc e) const noexcept { return caused_by(make_error_code(e)); }
    [[nodiscard]] bool caused_by(const std::error_code& c) const noexcept {
        for (const error* e = this; e != nullptr; e = e->cause.get()) {
            if (e->code == c) return true;
        }
        return false;
    }

    // This failure seen from a caller that adds what it was doing: the same code and path, the
    // message "<context>: <message><after>" (just "<message><after>" for an empty context), and
    // this error as the cause. Instead of concatenating messages, so the original stays whole.
    [[nodiscard]] error within(std::string_view context, std::string_view after = {}) const {
        std::string m;
        m.reserve(context.size() + 2 + message.size() + after.size());
        if (!context.empty()) m.append(context).append(": ");
        m.append(message).append(after);
        error out(code, std::move(m), path);
        out.cause = std::make_shared<const error>(*this);
        return out;
    }

    // This error, caused by `c`: `error(errc::restore_failed, "...").because(original)`.
    [[nodiscard]] error because(const error& c) const& {
        error out = *this;
        out.cause = std::make_shared<const error>(c);
        return out;
    }
    [[nodiscard]] error because(const error& c) && {
        cause = std::make_shared<const error>(c);
        return std::move(*this);
    }
};

inline error sqlite_error(int rc, std::string message, std::string path = {}) {
    return {std::error_code(rc, sqlite_category()), std::move(message), std::move(path)};
}

inline error errno_error(int err, std::string message, std::string path = {}) {
    return {std::error_code(err, std::generic_category()), std::move(message), std::move(path)};
}

// Outcome's customisation points for a custom error type (see Boost.Outcome's
// error_code_extended example): the code for comparisons, the message kept when thrown.
inline std::error_code make_error_code(const error& e) noexcept { return e.code; }

[[noreturn]] inline void outcome_throw_as_system_error_with_payload(const error& e) {
    throw std::system_error(e.code, e.message);
}

template <class T>
using result = boost::outcome_v2::result<T, error>;

using boost::outcome_v2::success;

}  // namespace dbsafe

template <>
struct std::is_error_code_enum<dbsafe::errc> : std::true_type {};

namespace boost::outcome_v2::trait {
template <>
struct is_error_type<dbsafe::error> {
    static constexpr bool value = true;
};
}  // namespace boost::outcome_v2::trait

// DBSAFE_TRY(auto x, expr) / DBSAFE_TRYV(expr): propagate a failure, else bind the value.
// Our own spelling because BOOST_OUTCOME_TRY changed its declaration syntax between Boost
// 1.74 (Debian 12) and 1.76+ (Conan/vcpkg); this one works with every Boost we support.
#define DBSAFE_CAT2(a, b) a##b
#define DBSAFE_CAT(a, b) DBSAFE_CAT2(a, b)
#define DBSAFE_TRY(decl, ...)                                             \
    auto&& DBSAFE_CAT(dbsafe_try_, __LINE__) = (__VA_ARGS__);             \
    if (!DBSAFE_CAT(dbsafe_try_, __LINE__))                               \
        return std::move(DBSAFE_CAT(dbsafe_try_, __LINE__)).as_failure(); \
    decl = std::move(DBSAFE_CAT(dbsafe_try_, __LINE__)).value()
#define DBSAFE_TRYV(...)                                                \
    do {                                                                \
        auto&& dbsafe_tryv_ = (__VA_ARGS__);                            \
        if (!dbsafe_tryv_) return std::move(dbsafe_tryv_).as_failure(); \
    } while (0)
