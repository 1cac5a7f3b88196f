// libFuzzer harness for the small text parsers that take user input: backup ids,
// ISO 8601 times, durations and sizes, and the UTF-8 cleaning of paths written to manifests. None
// may crash or read out of bounds; what they accept must be well-formed (an accepted id is a safe
// file name; an accepted time formats back to a string the parser accepts again).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <dbsafe/backup_id.hpp>
#include <dbsafe/detail/iso8601.hpp>
#include <dbsafe/manifest.hpp>
#include <dbsafe/parse_units.hpp>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (dbsafe::validate_id(text)) {
        if (text.find('/') != std::string_view::npos || text.find("..") != std::string_view::npos ||
            text.front() == '.') {
            std::abort();
        }
    }
    if (const auto t = dbsafe::detail::parse_iso8601(text)) {
        if (!dbsafe::detail::parse_iso8601(dbsafe::detail::format_iso8601(*t))) std::abort();
    }
    // Whatever bytes a path holds, the manifest writer's UTF-8 cleaning makes dump() safe.
    try {
        (void)nlohmann::json(dbsafe::detail::to_valid_utf8(text)).dump();
    } catch (const nlohmann::json::exception&) {
        std::abort();
    }
    (void)dbsafe::parse_duration(text);
    (void)dbsafe::parse_size(text);
    return 0;
}
