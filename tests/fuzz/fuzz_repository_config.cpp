// libFuzzer harness: parse_repository_config on arbitrary bytes. It must return a result (never
// throw or crash), and a config it accepts must be within the ranges the writer relies on and
// survive a round trip through repository_config_text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <dbsafe/backends/pages/repository_config.hpp>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = dbsafe::parse_repository_config(text, "fuzz.json");
    if (!parsed) return 0;
    const auto& c = parsed.value();
    if (c.hash != "sha256" || c.frame_pages < 1 || c.frame_pages > 64 || c.version != 1) {
        std::abort();
    }
    auto again = dbsafe::parse_repository_config(dbsafe::repository_config_text(c), "again");
    if (!again || !(again.value() == c)) std::abort();
    return 0;
}
