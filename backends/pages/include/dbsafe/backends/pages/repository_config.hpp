// The repository's config, `pages/config.json`: written once (page_repository::init, or the
// first page backup), read before anything else. It records how the repository stores pages
// (hash, compression, frame and pack sizes: a reader must agree before it trusts an address)
// and, when chosen, the location's default format for new backups. A config of a higher
// version or an unknown hash is refused: a newer dbsafe wrote it, and guessing could misread
// every page.
//
//   {"format": "dbsafe-pages", "version": 1, "hash": "sha256", "compression": "zstd",
//    "level": 3, "frame_pages": 16, "pack_bytes": 4194304, "default_format": "pages",
//    "config_checksum": {"algorithm": "xxh3-128", "hex": ...}}
//
// default_format is absent when the repository was created by a page backup rather than by
// init(): no default was chosen, so init() may still choose one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "dbsafe/checksum.hpp"
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
#include "dbsafe/storage/file_operations.hpp"

namespace dbsafe {

// How new backups in a location are stored: plain or zstd files, or page snapshots.
enum class location_format { files, pages };

inline std::string_view to_string(location_format f) {
    return f == location_format::pages ? "pages" : "files";
}

struct repository_config {
    int version = 1;
    std::string hash = "sha256";
    std::string compression = "zstd";
    int level = 3;
    std::uint32_t frame_pages = 16;
    std::uint64_t pack_bytes = std::uint64_t{4} << 20;
    std::optional<location_format> default_format;

    friend bool operator==(const repository_config&, const repository_config&) = default;
};

namespace pages_detail {
inline constexpr int config_version = 1;
inline constexpr std::size_t max_config_bytes = 64 * 1024;

inline checksum config_self_checksum(nlohmann::json j) {
    j.erase("config_checksum");
    const std::string canonical = j.dump();
    xxh3_128_hasher h;
    h.update(std::as_bytes(std::span(canonical)));
    return h.finish();
}
}  // namespace pages_detail

inline std::string repository_config_text(const repository_config& c) {
    nlohmann::json j = {
        {"format", "dbsafe-pages"},     {"version", c.version}, {"hash", c.hash},
        {"compression", c.compression}, {"level", c.level},     {"frame_pages", c.frame_pages},
        {"pack_bytes", c.pack_bytes}};
    if (c.default_format) j["default_format"] = std::string(to_string(*c.default_format));
    const checksum self = pages_detail::config_self_checksum(j);
    j["config_checksum"] = {{"algorithm", self.algorithm}, {"hex", self.hex}};
    return j.dump(2) + "\n";
}

inline result<repository_config> parse_repository_config(std::string_view text,
                                                         const std::string& origin) {
    const auto bad = [&](const std::string& why) {
        return error(errc::invalid_manifest,
                     "repository config " + origin + " is invalid: " + why +
                         " (it was edited or damaged; restore it from a copy, or remove the "
                         "repository's files if no backup needs them)");
    };
    if (text.size() > pages_detail::max_config_bytes) return bad("larger than 64 KiB");
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    repository_config c;
    try {
        if (j.value("format", "") != "dbsafe-pages") return bad("format is not \"dbsafe-pages\"");
        const auto version = detail::manifest_integer<int>(j, "version", {});
        if (!version) return bad("version is missing or not an integer");
        c.version = *version;
        if (c.version > pages_detail::config_version || c.version < 1) {
            return error(errc::unsupported,
                         "repository config " + origin + " has version " +
                             std::to_string(c.version) + ", and this dbsafe reads version " +
                             std::to_string(pages_detail::config_version) +
                             ": a newer dbsafe wrote it; upgrade dbsafe to use this repository");
        }
        c.hash = j.at("hash").get<std::string>();
        if (c.hash != "sha256") {
            return error(errc::unsupported, "repository config " + origin +
                                                " addresses pages by '" + c.hash +
                                                "', which this dbsafe does not know: upgrade "
                                                "dbsafe to use this repository");
        }
        c.compression = j.at("compression").get<std::string>();
        if (c.compression != "zstd") {
            return error(errc::unsupported, "repository config " + origin + " compresses with '" +
                                                c.compression +
                                                "', which this dbsafe does not know: upgrade "
                                                "dbsafe to use this repository");
        }
        const auto level = detail::manifest_integer<int>(j, "level", 3);
        const auto frame_pages = detail::manifest_integer<std::uint32_t>(j, "frame_pages", {});
        const auto pack_bytes = detail::manifest_integer<std::uint64_t>(j, "pack_bytes", {});
        if (!level || !frame_pages || *frame_pages < 1 || *frame_pages > 64) {
            return bad("frame_pages must be an integer in 1..64");
        }
        if (!pack_bytes || *pack_bytes < (std::uint64_t{64} << 10) ||
            *pack_bytes > (std::uint64_t{256} << 20)) {
            return bad("pack_bytes must be an integer in 64 KiB..256 MiB");
        }
        c.level = *level;
        c.frame_pages = *frame_pages;
        c.pack_bytes = *pack_bytes;
        if (const auto it = j.find("default_format"); it != j.end()) {
            const auto f = it->is_string() ? it->get<std::string>() : std::string();
            if (f == "pages") {
                c.default_format = location_format::pages;
            } else if (f == "files") {
                c.default_format = location_format::files;
            } else {
                return bad("default_format must be \"pages\" or \"files\"");
            }
        }
        const auto self = j.find("config_checksum");
        const checksum expected = pages_detail::config_self_checksum(j);
        if (self == j.end() || !self->is_object() ||
            self->value("algorithm", "") != expected.algorithm ||
            self->value("hex", "") != expected.hex) {
            return bad("config_checksum does not match its fields");
        }
    } catch (const nlohmann::json::exception& e) {
        return bad(std::string("missing or mistyped field (") + e.what() + ")");
    }
    return c;
}

namespace pages_detail {

inline std::filesystem::path config_path(const std::filesystem::path& repo) {
    return repo / "config.json";
}

// The config of the repository in `repo` (D/pages); nullopt when there is none.
inline result<std::optional<repository_config>> load_repository_config(
    const std::filesystem::path& repo) {
    const auto path = config_path(repo);
    auto text = file_ops::read_small_file(path, max_config_bytes);
    if (!text) {
        if (text.error().is(errc::not_found)) return std::optional<repository_config>{};
        return text.as_failure();
    }
    DBSAFE_TRY(auto c, parse_repository_config(text.value(), path.string()));
    return std::optional<repository_config>{std::move(c)};
}

}  // namespace pages_detail

}  // namespace dbsafe
