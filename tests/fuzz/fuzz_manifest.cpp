// libFuzzer harness: parse_manifest on arbitrary bytes. It must return a result (never throw,
// crash, or recurse without bound), and a manifest it accepts must name only safe files and
// survive a round trip through to_json.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <dbsafe/manifest.hpp>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = dbsafe::parse_manifest(text, "fuzz.json");
    if (!parsed) return 0;
    const dbsafe::manifest& m = parsed.value();
    if (!dbsafe::validate_id(m.id) || !dbsafe::validate_id_chars(m.file)) std::abort();
    if (m.file.find('/') != std::string::npos) std::abort();
    // Serialising may meet invalid UTF-8 from the input: nlohmann throws type_error 316 there,
    // which the library's writers never see (their strings come from paths and our own ids).
    try {
        auto again = dbsafe::parse_manifest(dbsafe::to_json(m).dump(), "round-trip");
        if (!again || again.value().id != m.id || again.value().file != m.file ||
            !(again.value().checksum == m.checksum)) {
            std::abort();
        }
    } catch (const nlohmann::json::type_error&) {
    }
    return 0;
}
