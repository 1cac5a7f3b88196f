// The manifest: a small JSON file written beside each backup's data file, last, so that a
// backup exists exactly when its manifest does. It describes the backup without opening it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "dbsafe/backup_id.hpp"
#include "dbsafe/backup_kind.hpp"
#include "dbsafe/checksum.hpp"
#include "dbsafe/detail/iso8601.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe {

inline constexpr int manifest_format_version = 1;

// The method of restore's byte copy of a live database SQLite could not open (see
// restore_file.hpp): a `safety` backup that is not an SQLite image, so SQLite checks
// fail on it by design; its checksum proves the copy is faithful.
inline constexpr std::string_view file_copy_method = "file-copy";

struct compression_info {
    std::string algorithm;  // "zstd"
    int level = 0;
    std::uint64_t compressed_size = 0;
};

// A backup stored as pages in the location's page repository (backends/page_repository.hpp):
// its data file is the snapshot object `<id>.pages`, of `object_size` bytes; `pages_new` pages
// and `bytes_added` bytes (packs, index, list, object) were added to the repository by it.
struct page_snapshot_info {
    std::uint64_t object_size = 0;
    std::uint64_t pages_new = 0;
    std::uint64_t bytes_added = 0;
};

// What the verifier checked when the backup was taken (see verify/standard_checks.hpp): the
// SQLite check that passed ("integrity_check" or "quick_check") and when. A backup whose
// checksum still matches has not changed since, so verify and restore may rely on this check
// instead of running it again. Absent: provenance unknown (an older dbsafe, a backup taken
// without verification, a safety backup), and the full check runs.
struct verification_record {
    std::string checks;
    std::chrono::system_clock::time_point at{};
};

struct manifest {
    int format_version = manifest_format_version;
    std::string id;
    backup_kind kind = backup_kind::manual;
    std::chrono::system_clock::time_point created_at{};
    // The live database this is a backup of (see source_identity.hpp): its canonical absolute
    // path (0.1 manifests: the path as given, maybe relative), and the file's identity when
    // the backup was taken, a hint that says "the same file, moved" in messages.
    std::string source_path;
    std::optional<std::uint64_t> source_device;
    std::optional<std::uint64_t> source_inode;
    std::string file;              // data file name inside the backup directory
    std::uint64_t size_bytes = 0;  // of the (uncompressed) database image
    dbsafe::checksum checksum;     // of the (uncompressed) database image
    std::int64_t page_size = 0;
    std::int64_t page_count = 0;
    std::string sqlite_version;
    std::int64_t schema_version = 0;  // as read by the schema policy below
    std::string schema_policy = "user_version";
    std::vector<std::string> migrations;  // for migration-table schema policies
    std::int64_t user_version = 0;
    std::string method;  // "backup-api", "vacuum-into" or file_copy_method
    std::string dbsafe_version;
    double seconds = 0;  // wall time of the snapshot + verify
    std::optional<compression_info> compression;
    std::optional<page_snapshot_info> pages;  // stored as pages, not as a file
    // Optional tamper evidence beside `checksum`, of the same (uncompressed) image:
    // {"sha256", 64 hex digits}, written and checked by backends/sha256_seal.hpp. Readers that
    // do not check seals ignore it; format_version stays 1.
    std::optional<dbsafe::checksum> seal;
    std::optional<verification_record> verified;

    // Not stored: where the data file is, filled in by the storage target that listed it.
    std::filesystem::path data_path;
};

namespace detail {

// JSON text must be UTF-8 and nlohmann's dump() throws on anything else, but a POSIX path is
// just bytes (a Latin-1 "caf\xe9.db" is a fine file name). The source path in a manifest is
// informational, so invalid bytes become U+FFFD rather than an exception out of backup().
inline std::string to_valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t len = c < 0x80           ? 1
                                : (c >> 5) == 0x6  ? 2
                                : (c >> 4) == 0xe  ? 3
                                : (c >> 3) == 0x1e ? 4
                                                   : 0;
        bool ok = len != 0 && i + len <= s.size() && !(len == 2 && c < 0xc2);
        for (std::size_t k = 1; ok && k < len; ++k) {
            ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
        }
        if (ok && len == 3) {  // no overlong forms, no UTF-16 surrogates
            const auto c1 = static_cast<unsigned char>(s[i + 1]);
            ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
        }
        if (ok && len == 4) {  // no overlong forms, nothing above U+10FFFF
            const auto c1 = static_cast<unsigned char>(s[i + 1]);
            ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90) && c <= 0xf4;
        }
        if (ok) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out += "\xef\xbf\xbd";
            ++i;
        }
    }
    return out;
}

}  // namespace detail

inline nlohmann::json to_json(const manifest& m) {
    nlohmann::json j = {
        {"format_version", m.format_version},
        {"id", m.id},
        {"kind", std::string(to_string(m.kind))},
        {"created_at", detail::format_iso8601(m.created_at)},
        {"source_path", detail::to_valid_utf8(m.source_path)},
        {"file", m.file},
        {"size_bytes", m.size_bytes},
        {"checksum", {{"algorithm", m.checksum.algorithm}, {"hex", m.checksum.hex}}},
        {"page_size", m.page_size},
        {"page_count", m.page_count},
        {"sqlite_version", m.sqlite_version},
        {"schema_version", m.schema_version},
        {"schema_policy", m.schema_policy},
        {"migrations", m.migrations},
        {"user_version", m.user_version},
        {"method", m.method},
        {"dbsafe_version", m.dbsafe_version},
        {"seconds", m.seconds},
    };
    if (m.compression) {
        j["compression"] = {{"algorithm", m.compression->algorithm},
                            {"level", m.compression->level},
                            {"compressed_size", m.compression->compressed_size}};
    }
    if (m.pages) {
        j["pages"] = {{"object_size", m.pages->object_size},
                      {"pages_new", m.pages->pages_new},
                      {"bytes_added", m.pages->bytes_added}};
    }
    if (m.seal) j["seal"] = {{"algorithm", m.seal->algorithm}, {"hex", m.seal->hex}};
    if (m.verified) {
        j["verified"] = {{"checks", m.verified->checks},
                         {"at", detail::format_iso8601(m.verified->at)}};
    }
    if (m.source_device) j["source_device"] = *m.source_device;
    if (m.source_inode) j["source_inode"] = *m.source_inode;
    return j;
}

inline constexpr std::size_t max_manifest_bytes = std::size_t{1} << 20;

namespace detail {

// Reads an integer field without letting nlohmann convert a float (UB when out of range: a
// fuzzed "size_bytes": 4e152) or wrap a negative or oversized value. Absent → `fallback`, or
// nullopt when the field is required.
template <class Int>
std::optional<Int> manifest_integer(const nlohmann::json& object, const char* key,
                                    std::optional<Int> fallback) {
    const auto it = object.find(key);
    if (it == object.end()) return fallback;
    if (it->is_number_unsigned()) {
        const auto v = it->template get<std::uint64_t>();
        if (v > static_cast<std::uint64_t>(std::numeric_limits<Int>::max())) return std::nullopt;
        return static_cast<Int>(v);
    }
    if (it->is_number_integer()) {
        const auto v = it->template get<std::int64_t>();
        if constexpr (std::is_unsigned_v<Int>) {
            if (v < 0) return std::nullopt;
            return static_cast<Int>(v);
        } else {
            if (v < std::numeric_limits<Int>::min() || v > std::numeric_limits<Int>::max())
                return std::nullopt;
            return static_cast<Int>(v);
        }
    }
    return std::nullopt;
}

}  // namespace detail

// The manifest's own checksum: xxh3-128 of the canonical text of every other field, i.e. the
// manifest object without "manifest_checksum", dumped by nlohmann::json with no whitespace, keys
// in byte order, strings as UTF-8 (see docs/format.md). Computed over the JSON, not the struct,
// so fields added later, and fields this version does not know, are covered as they are.
inline checksum manifest_self_checksum(nlohmann::json j) {
    j.erase("manifest_checksum");
    const std::string canonical = j.dump();
    xxh3_128_hasher h;
    h.update(std::as_bytes(std::span(canonical)));
    return h.finish();
}

// The text written to <id>.json: to_json(m) sealed with its manifest_checksum.
inline std::string manifest_text(const manifest& m) {
    nlohmann::json j = to_json(m);
    const checksum self = manifest_self_checksum(j);
    j["manifest_checksum"] = {{"algorithm", self.algorithm}, {"hex", self.hex}};
    return j.dump(2);
}

namespace detail {

// A parsed manifest and every field that disagrees with what it can be checked against (its
// own checksum, the time and kind in its id), one "field: why" each. Empty: all agree.
struct checked_manifest {
    manifest value;
    std::vector<std::string> disagreements;
};

inline std::string manifest_advice() {
    return " (it was edited or damaged: dbsafe will not select, restore or delete this backup; "
           "check its data file with the vault's verifier, and remove its files by hand if you no "
           "longer need them)";
}

// The cross-checks of a manifest that need only the manifest itself.
inline std::vector<std::string> manifest_disagreements(const nlohmann::json& j, const manifest& m) {
    std::vector<std::string> out;
    if (const auto it = j.find("manifest_checksum"); it != j.end()) {
        const checksum self = manifest_self_checksum(j);
        if (!it->is_object() || it->value("algorithm", "") != self.algorithm ||
            it->value("hex", "") != self.hex) {
            out.push_back("manifest_checksum: the manifest's fields do not hash to the recorded " +
                          (it->is_object()
                               ? it->value("algorithm", "?") + " " + it->value("hex", "?")
                               : std::string("value")) +
                          " (" + self.hex + " now): a field was changed after the backup");
        }
    }
    if (const auto parts = parse_generated_id(m.id)) {
        if (std::chrono::floor<std::chrono::milliseconds>(m.created_at) != parts->created_at) {
            out.push_back("created_at: " + format_iso8601(m.created_at) +
                          " disagrees with the time in the id, " +
                          format_iso8601(parts->created_at));
        }
        if (m.kind != parts->kind) {
            out.push_back("kind: " + std::string(to_string(m.kind)) +
                          " disagrees with the kind in the id, " +
                          std::string(to_string(parts->kind)));
        }
    }
    return out;
}

// Parses a manifest: a malformed one (missing or mistyped field, unsafe id or file name) is an
// error; one that parses is returned with its disagreements for the caller to add to and judge.
inline result<checked_manifest> parse_manifest_fields(std::string_view text,
                                                      const std::string& origin) {
    const auto bad = [&](const std::string& why) {
        return error(errc::invalid_manifest,
                     "manifest " + origin + " is invalid: " + why +
                         " (it was edited or damaged; the backup cannot be trusted: verify its "
                         "data file with the vault's verifier, or remove it)");
    };
    if (text.size() > max_manifest_bytes) return bad("larger than 1 MiB");
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    try {
        manifest m;
        const auto format_version = detail::manifest_integer<int>(j, "format_version", {});
        if (!format_version) return bad("format_version is missing or not an integer");
        m.format_version = *format_version;
        if (m.format_version != manifest_format_version) {
            return bad("format_version " + std::to_string(m.format_version) +
                       " is not supported by this dbsafe (expected 1): upgrade dbsafe");
        }
        m.id = j.at("id").get<std::string>();
        if (auto v = validate_id(m.id); !v) return bad(v.error().message);
        const auto kind = parse_backup_kind(j.at("kind").get<std::string>());
        if (!kind) return bad("unknown kind '" + j.at("kind").get<std::string>() + "'");
        m.kind = *kind;
        const auto created = detail::parse_iso8601(j.at("created_at").get<std::string>());
        if (!created) return bad("created_at is not an ISO 8601 UTC time");
        m.created_at = *created;
        m.source_path = j.value("source_path", "");
        if (j.contains("source_device") || j.contains("source_inode")) {
            const auto device = detail::manifest_integer<std::uint64_t>(j, "source_device", {});
            const auto inode = detail::manifest_integer<std::uint64_t>(j, "source_inode", {});
            if (!device || !inode) {
                return bad("source_device and source_inode must both be non-negative integers");
            }
            m.source_device = device;
            m.source_inode = inode;
        }
        m.file = j.at("file").get<std::string>();
        if (m.file != m.id + ".db" && !m.file.starts_with(m.id + ".db.") &&
            m.file != m.id + ".pages") {
            return bad("data file '" + m.file + "' does not belong to id '" + m.id + "'");
        }
        if (auto v = validate_id_chars(m.file); !v) return bad(v.error().message);
        const auto size_bytes = detail::manifest_integer<std::uint64_t>(j, "size_bytes", {});
        if (!size_bytes) return bad("size_bytes is missing or not a non-negative integer");
        m.size_bytes = *size_bytes;
        m.checksum.algorithm = j.at("checksum").at("algorithm").get<std::string>();
        m.checksum.hex = j.at("checksum").at("hex").get<std::string>();
        const auto integer = [&](const char* key) {
            return detail::manifest_integer<std::int64_t>(j, key, std::int64_t{0});
        };
        const auto page_size = integer("page_size");
        const auto page_count = integer("page_count");
        const auto schema_version = integer("schema_version");
        const auto user_version = integer("user_version");
        if (!page_size || !page_count || !schema_version || !user_version) {
            return bad("page_size, page_count, schema_version and user_version must be integers");
        }
        m.page_size = *page_size;
        m.page_count = *page_count;
        m.sqlite_version = j.value("sqlite_version", "");
        m.schema_version = *schema_version;
        m.schema_policy = j.value("schema_policy", "user_version");
        m.migrations = j.value("migrations", std::vector<std::string>{});
        m.user_version = *user_version;
        m.method = j.value("method", "");
        m.dbsafe_version = j.value("dbsafe_version", "");
        m.seconds = j.value("seconds", 0.0);
        if (j.contains("compression") && !j["compression"].is_null()) {
            const auto& c = j["compression"];
            if (!c.is_object()) return bad("compression is not an object");
            const auto level = detail::manifest_integer<int>(c, "level", 0);
            const auto compressed_size =
                detail::manifest_integer<std::uint64_t>(c, "compressed_size", std::uint64_t{0});
            if (!level || !compressed_size) {
                return bad("compression level and compressed_size must be integers");
            }
            m.compression =
                compression_info{c.at("algorithm").get<std::string>(), *level, *compressed_size};
        }
        if (j.contains("pages") && !j["pages"].is_null()) {
            const auto& p = j["pages"];
            if (!p.is_object()) return bad("pages is not an object");
            const auto object_size = detail::manifest_integer<std::uint64_t>(p, "object_size", {});
            const auto pages_new =
                detail::manifest_integer<std::uint64_t>(p, "pages_new", std::uint64_t{0});
            const auto bytes_added =
                detail::manifest_integer<std::uint64_t>(p, "bytes_added", std::uint64_t{0});
            if (!object_size || !pages_new || !bytes_added) {
                return bad(
                    "pages object_size, pages_new and bytes_added must be non-negative "
                    "integers");
            }
            if (m.compression) return bad("a backup cannot be both compressed and pages");
            m.pages = page_snapshot_info{*object_size, *pages_new, *bytes_added};
        }
        if ((m.file == m.id + ".pages") != m.pages.has_value()) {
            return bad("data file '" + m.file + "' and the pages field disagree");
        }
        if (j.contains("seal") && !j["seal"].is_null()) {
            const auto& s = j["seal"];
            if (!s.is_object()) return bad("seal is not an object");
            checksum seal{.algorithm = s.at("algorithm").get<std::string>(),
                          .hex = s.at("hex").get<std::string>()};
            // Another algorithm parses (a newer dbsafe may seal differently; the verifier then
            // says it cannot check it), but every seal's hex must be well formed.
            if (seal.algorithm.empty() || !detail::is_lower_hex(seal.hex) ||
                (seal.algorithm == "sha256" && seal.hex.size() != 64)) {
                return bad(
                    "seal must be {\"algorithm\": \"sha256\", \"hex\": <64 lower-case hex "
                    "digits>}");
            }
            m.seal = std::move(seal);
        }
        if (j.contains("verified") && !j["verified"].is_null()) {
            const auto& v = j["verified"];
            const auto at = v.is_object() && v.contains("at") && v["at"].is_string()
                                ? detail::parse_iso8601(v["at"].get<std::string>())
                                : std::nullopt;
            if (!v.is_object() || !v.contains("checks") || !v["checks"].is_string() || !at) {
                return bad(
                    "verified must be {\"checks\": <the SQLite check>, \"at\": <ISO 8601 UTC "
                    "time>}");
            }
            m.verified = verification_record{v["checks"].get<std::string>(), *at};
        }
        auto disagreements = manifest_disagreements(j, m);
        return checked_manifest{std::move(m), std::move(disagreements)};
    } catch (const nlohmann::json::exception& e) {
        return bad(std::string("missing or mistyped field (") + e.what() + ")");
    }
}

// The error for a manifest whose fields disagree: every disagreement, by field name.
inline error manifest_disagrees(const std::string& origin,
                                const std::vector<std::string>& disagreements) {
    std::string why;
    for (const auto& d : disagreements) why += (why.empty() ? "" : "; ") + d;
    return error(errc::invalid_manifest,
                 "manifest " + origin + " fails its checks: " + why + manifest_advice());
}

}  // namespace detail

// Parses and validates a manifest. `origin` names the file in error messages. Ids and data
// file names are checked here, so nothing from a manifest reaches a path unvalidated; so are
// the manifest's own checksum and the created_at and kind its id encodes.
inline result<manifest> parse_manifest(std::string_view text, const std::string& origin) {
    DBSAFE_TRY(auto checked, detail::parse_manifest_fields(text, origin));
    if (!checked.disagreements.empty()) {
        return detail::manifest_disagrees(origin, checked.disagreements);
    }
    return std::move(checked.value);
}

}  // namespace dbsafe
