// vault_like: what the operations built on a vault need from it. Restore, the recovery of an
// interrupted migration, the migration guard and backup_async are written against these
// concepts, not against basic_vault's members, so a wrapper of a vault (one that logs, counts
// or routes to several vaults) works with them too, and a type that is no vault is rejected
// with a sentence at the call, not with an error deep inside restore.
#pragma once

#include <chrono>
#include <concepts>
#include <type_traits>

#include "dbsafe/database_ref.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/schema/schema_version.hpp"
#include "dbsafe/storage/storage_target.hpp"
#include "dbsafe/vault_options.hpp"
#include "dbsafe/verify/verifier.hpp"

namespace dbsafe {

// backup_async needs only this: a backup of a database, on request.
template <class V>
concept backup_taker = requires(V& v, const database_ref& db, const backup_options& opts) {
    { v.backup(db, opts) } -> std::same_as<result<manifest>>;
};

// Restore and the migration guard need the parts too: where backups are (storage), how one is
// judged (verification, applied to the backup and to the live database after the copy), how
// schemas compare (schema), the options (busy timeout, free-space guard) and the clock.
template <class V>
concept vault_like = backup_taker<V> && requires(V& v, const V& cv) {
    requires storage_target<std::remove_cvref_t<decltype(v.storage)>>;
    requires verifier<std::remove_cvref_t<decltype(v.verification)>>;
    requires schema_version_policy<std::remove_cvref_t<decltype(v.schema)>>;
    { cv.options } -> std::convertible_to<const vault_options&>;
    { cv.now() } -> std::same_as<std::chrono::system_clock::time_point>;
};

namespace detail {

// The sentences, shared by every entry point that takes a vault. Called at the top of such a
// function, they name what is missing where the user's code calls it.
template <class V>
constexpr void require_backup_taker() {
    static_assert(backup_taker<V>,
                  "the vault argument must provide `result<manifest> backup(const database_ref&, "
                  "const backup_options&)` (a basic_vault does; see vault_like.hpp)");
}

template <class V>
constexpr void require_vault_like() {
    static_assert(vault_like<V>,
                  "the vault argument must be vault_like: `result<manifest> backup(const "
                  "database_ref&, const backup_options&)`, members `storage` (a storage_target), "
                  "`verification` (a verifier), `schema` (a schema_version_policy), `options` "
                  "(vault_options) and `now()` (a basic_vault has them all; see vault_like.hpp)");
}

}  // namespace detail
}  // namespace dbsafe
