// The database_verifier concept: judge an OPEN database, whichever it is: a backup file the
// verifier opened itself, the live database restore just copied a backup into, or the new file
// a restore wrote. The SQLite checks, required_tables, standard_checks and your own checks
// (check_with) are written once at this level; their file-level verify() (verifier.hpp) opens
// the backup read-only and runs the same check, so restore can apply the vault's own verifier
// to the database it restored. File-only checks (checksum_matches, a SHA-256 seal) have no
// connection level: they judge bytes on disk, which a live database has no manifest for.
#pragma once

#include <sqlite3.h>

#include <concepts>
#include <string>
#include <type_traits>
#include <utility>

#include "dbsafe/detail/fast_copy_vfs.hpp"
#include "dbsafe/detail/sqlite.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/progress.hpp"
#include "dbsafe/verify/verifier.hpp"

namespace dbsafe {

// What the open database is, so a check can choose its cost and say what the damage means.
enum class check_subject {
    backup,          // a backup file (published, or a lone file), opened read-only
    fresh_snapshot,  // the copy a backup just took, not yet published: damage is the source's
    restored_live,   // the live database, after restore copied a verified backup into it
    restored_file,   // the new file a restore wrote (restore_to, a missing or damaged database)
};

struct checked_database {
    // Open; may be the caller's own connection (restore into a connection), so a check leaves
    // its settings as it found them.
    sqlite3* db = nullptr;
    std::string name;  // for messages: the file's path, or the connection's database name
    check_subject subject = check_subject::backup;
    const manifest* description = nullptr;  // the backup judged or just restored, when known
    // Set by restore when the restored file, read back after the copy, holds exactly the
    // verified backup's image (verify/same_image.hpp): its content is proven byte for byte, so
    // SQLite's checks of it can add nothing the backup's own check did not already say.
    bool same_image_as_backup = false;
    // Told how SQLite's check of this database advances (progress_phase::check; may be empty).
    progress_callback on_progress{};
};

template <class V>
concept database_verifier = requires(const V& v, const checked_database& d) {
    { v.check(d) } -> std::same_as<result<void>>;
};

// A `check` member with another signature (taking sqlite3*, not const, returning bool) would
// simply never run on a restored database: a rule meant to guard the live data would guard
// nothing. basic_vault and all_of reject such a verifier instead (a data member named `check`,
// like the CLI's seal wrapper has, is no such attempt).
template <class V>
concept has_check_member = std::is_member_function_pointer_v<decltype(&V::check)>;
template <class V>
concept has_unusable_check = has_check_member<V> && !database_verifier<V>;

// A backup file's subject: the vault sets checksum_fresh only on the snapshot it just took.
[[nodiscard]] inline check_subject subject_of(const backup_file& f) noexcept {
    return f.checksum_fresh ? check_subject::fresh_snapshot : check_subject::backup;
}

// The file level of a connection-level verifier: open the backup read-only and check it. A
// verifier of your own writes `verify` as `return check_backup_file(*this, f);`.
template <database_verifier V>
[[nodiscard]] result<void> check_backup_file(const V& v, const backup_file& f) {
    DBSAFE_TRY(auto db, detail::open_database(f.path, detail::open_mode::read_only, 5000,
                                              detail::fast_read_vfs()));
    return v.check(checked_database{db.get(), f.path.string(), subject_of(f), f.description, false,
                                    f.on_progress});
}

namespace detail {

template <class V>
result<void> check_if_any(const V& v, const checked_database& d) {
    if constexpr (database_verifier<V>) {
        return v.check(d);
    } else {
        return success();
    }
}

}  // namespace detail

// check_with(fn): a connection check written as a lambda, taking `sqlite3*` or
// `const checked_database&` and returning result<void>; a verifier at both levels, so it
// composes with all_of and restore applies it to the database it restored.
template <class F>
requires std::invocable<const F&, const checked_database&> || std::invocable<const F&, sqlite3*>
struct check_with {
    F fn;

    [[nodiscard]] result<void> check(const checked_database& d) const {
        result<void> out = success();
        if constexpr (std::invocable<const F&, const checked_database&>) {
            out = fn(d);
        } else {
            out = fn(d.db);
        }
        if (out) return out;
        return out.error().within("check of " + d.name + " failed");
    }
    [[nodiscard]] result<void> verify(const backup_file& f) const {
        return check_backup_file(*this, f);
    }
    // check() judges a fresh snapshot as verify() would (verifier.hpp).
    [[nodiscard]] static constexpr bool needs_file_of_fresh_snapshot() noexcept { return false; }
};

template <class F>
check_with(F) -> check_with<F>;

}  // namespace dbsafe
