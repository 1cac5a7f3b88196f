// The manifest: a small JSON file written beside each backup's data file, last, so that a
// backup exists exactly when its manifest does. It describes the backup without opening it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbsafe/backup_id.hpp"
#include "dbsafe/backup_kind.hpp"
#include "dbsafe/checksum.hpp"
#include "dbsafe/detail/iso8601.hpp"
#include "dbsafe/error.hpp"

namespace dbsafe {

inline constexpr int manifest_format_version = 1;

struct compression_info {
    std::string algorithm;  // "zstd"
    int level = 0;
    std::uint64_t compressed_size = 0;
};

struct manifest {
    int format_version = manifest_format_version;
    std::string id;
    backup_kind kind = backup_kind::manual;
    std::chrono::system_clock::time_point created_at{};
    std::string source_path;       // the live database, as given
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
    std::string method;  // "backup-api" or "vacuum-into"
    std::string dbsafe_version;
    double seconds = 0;  // wall time of the snapshot + verify
    std::optional<compression_info> compression;

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
    return j;
}

inline constexpr std::size_t max_manifest_bytes = std::size_t{1} << 20;

// Parses and validates a manifest. `origin` names the file in error messages. Ids and data
// file names are checked here, so nothing from a manifest reaches a path unvalidated.
inline result<manifest> parse_manifest(std::string_view text, const std::string& origin) {
    const auto bad = [&](const std::string& why) {
        return error(errc::invalid_manifest,
                     "manifest " + origin + " is invalid: " + why +
                         " (it was edited or damaged; the backup cannot be trusted: verify it "
                         "with `dbsafe verify --file` or remove it)");
    };
    if (text.size() > max_manifest_bytes) return bad("larger than 1 MiB");
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    try {
        manifest m;
        m.format_version = j.at("format_version").get<int>();
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
        m.file = j.at("file").get<std::string>();
        if (m.file != m.id + ".db" && !m.file.starts_with(m.id + ".db.")) {
            return bad("data file '" + m.file + "' does not belong to id '" + m.id + "'");
        }
        if (auto v = validate_id(m.file); !v) return bad(v.error().message);
        m.size_bytes = j.at("size_bytes").get<std::uint64_t>();
        m.checksum.algorithm = j.at("checksum").at("algorithm").get<std::string>();
        m.checksum.hex = j.at("checksum").at("hex").get<std::string>();
        m.page_size = j.value("page_size", std::int64_t{0});
        m.page_count = j.value("page_count", std::int64_t{0});
        m.sqlite_version = j.value("sqlite_version", "");
        m.schema_version = j.value("schema_version", std::int64_t{0});
        m.schema_policy = j.value("schema_policy", "user_version");
        m.migrations = j.value("migrations", std::vector<std::string>{});
        m.user_version = j.value("user_version", std::int64_t{0});
        m.method = j.value("method", "");
        m.dbsafe_version = j.value("dbsafe_version", "");
        m.seconds = j.value("seconds", 0.0);
        if (j.contains("compression") && !j["compression"].is_null()) {
            const auto& c = j["compression"];
            m.compression =
                compression_info{c.at("algorithm").get<std::string>(), c.value("level", 0),
                                 c.value("compressed_size", std::uint64_t{0})};
        }
        return m;
    } catch (const nlohmann::json::exception& e) {
        return bad(std::string("missing or mistyped field (") + e.what() + ")");
    }
}

}  // namespace dbsafe
