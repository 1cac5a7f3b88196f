// libFuzzer harness: the page repository's binary parsers (pack trailer, index, page list,
// snapshot object) on arbitrary bytes. The first byte chooses the parser (bits 0-1) and
// whether the rest is the whole file or, so the fuzzer gets past the checksum to the fields,
// the file without its trailing xxh3-128, which the harness appends (bit 2). Each must return a
// result (never throw, crash or allocate beyond what the input holds); what one accepts must be
// plausible (entries inside the pack, page numbers in range) and encode back to the same bytes, so
// no two files mean the same thing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <dbsafe/backends/pages/index_file.hpp>
#include <dbsafe/backends/pages/pack_file.hpp>
#include <dbsafe/backends/pages/page_list.hpp>
#include <dbsafe/backends/pages/snapshot_object.hpp>
#include <span>
#include <vector>

namespace {

void same_bytes(const std::vector<std::byte>& a, std::span<const std::byte> b) {
    if (a.size() != b.size() || !std::equal(a.begin(), a.end(), b.begin())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const auto input = std::as_bytes(std::span(data + 1, size - 1));
    std::vector<std::byte> sealed;
    if ((data[0] & 4) != 0) {
        dbsafe::pages_detail::byte_writer w;
        w.bytes(input);
        sealed = std::move(w).finish();
    }
    const std::span<const std::byte> file = (data[0] & 4) != 0 ? std::span(sealed) : input;
    switch (data[0] % 4) {
        case 0: {
            auto entries = dbsafe::parse_pack(file, "fuzz.pack");
            if (!entries) return 0;
            for (const auto& e : entries.value()) {
                if (std::uint64_t{e.frame_offset} + e.frame_length > file.size()) std::abort();
            }
            break;
        }
        case 1: {
            auto packs = dbsafe::parse_index(file, "fuzz.idx");
            if (packs) same_bytes(dbsafe::encode_index(packs.value()), file);
            break;
        }
        case 2: {
            auto list = dbsafe::parse_page_list(file, "fuzz.list");
            if (!list) return 0;
            same_bytes(dbsafe::encode_page_list(list.value()), file);
            // Applying it to a short list never reaches outside it.
            std::vector<dbsafe::page_digest> pages(3);
            if (dbsafe::apply_page_list(pages, list.value(), "fuzz.list") &&
                pages.size() != list.value().page_count) {
                std::abort();
            }
            break;
        }
        default: {
            auto object = dbsafe::parse_snapshot_object(file, "fuzz.pages");
            if (object) same_bytes(dbsafe::encode_snapshot_object(object.value()), file);
            break;
        }
    }
    return 0;
}
