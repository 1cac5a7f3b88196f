// The verifier concept: judge one backup file and say precisely what is wrong with it. Most
// checks also judge an open database (database_verifier.hpp), which is how restore applies the
// vault's verifier to the database it restored; checks of bytes against a manifest (checksum,
// seal) exist only at this file level.
#pragma once

#include <concepts>
#include <filesystem>
#include <string>

#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/progress.hpp"

namespace dbsafe {

// What a verifier looks at: a plain SQLite file, and the manifest that describes it when there
// is one (`dbsafe verify --file` on a lone file has none).
struct backup_file {
    std::filesystem::path path;
    const manifest* description = nullptr;
    // Set by the vault at backup time, when the manifest's checksum was computed from this very
    // file moments ago: hashing it again would only re-read the page cache and prove nothing.
    bool checksum_fresh = false;
    // Told how the checks advance (progress_phase::checksum, progress_phase::check); may be
    // empty. A verifier of your own may ignore it.
    progress_callback on_progress{};
};

template <class V>
concept verifier = requires(const V& v, const backup_file& f) {
    { v.verify(f) } -> std::same_as<result<void>>;
};

// Optional, at backup time: a verifier that adds evidence to the manifest (sha256_seal's seal)
// also provides `record`. basic_vault::backup calls it on the finished, uncompressed staged
// copy, after the checksum and before verify() and commit, so the evidence is checked once
// before anything is published. Detected with `requires`, so the core needs none of the
// libraries a recording verifier uses.
template <class V>
concept recording_verifier = verifier<V> &&
    requires(V& v, const std::filesystem::path& file, manifest& m) {
    { v.record(file, m) } -> std::same_as<result<void>>;
};

// A `record` member with another signature would simply never be called: a vault meant to
// seal its backups would publish unsealed ones. basic_vault rejects such a verifier instead.
template <class V>
concept has_record_member = requires {
    &V::record;
};
template <class V>
concept has_unusable_record = has_record_member<V> && !recording_verifier<V>;

// Optional, at backup time: a verifier whose verify() ran SQLite's check on the backup names
// that check ("integrity_check", "quick_check"; empty: it ran none). basic_vault records it in
// the manifest's `verified` field when the backup passed, and the verifier may later rely on
// it for a backup whose checksum still matches (standard_checks.hpp: the trust chain).
template <class V>
concept attesting_verifier = verifier<V> && requires(const V& v) {
    { v.attested_checks() } -> std::convertible_to<std::string>;
};

// Optional, at backup time: whether judging a fresh snapshot needs the snapshot's file. A
// backup into a page repository can skip the staged copy altogether (snapshot_sink.hpp) when
// the answer is no: the vault then runs the verifier's check() (database_verifier.hpp) on the
// source connection, inside the read transaction the pages were read in. A verifier answers
// no (`bool needs_file_of_fresh_snapshot() const` returning false) only when its record()
// records nothing and its verify() of a fresh snapshot judges nothing its check() does not.
// Without the member the answer is yes: a verify() dbsafe cannot see into keeps its file.
template <class V>
concept declares_file_need = requires(const V& v) {
    { v.needs_file_of_fresh_snapshot() } -> std::convertible_to<bool>;
};

namespace detail {

template <class V>
bool fresh_snapshot_needs_file(const V& v) {
    if constexpr (declares_file_need<V>) {
        return v.needs_file_of_fresh_snapshot();
    } else {
        return true;
    }
}

template <class V>
std::string attested_checks_if_any(const V& v) {
    if constexpr (attesting_verifier<V>) {
        return v.attested_checks();
    } else {
        return {};
    }
}

template <class V>
result<void> record_if_any(V& v, const std::filesystem::path& file, manifest& m) {
    if constexpr (recording_verifier<V>) {
        return v.record(file, m);
    } else {
        return success();
    }
}

}  // namespace detail

}  // namespace dbsafe
