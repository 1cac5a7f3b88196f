// The page repository's file formats (docs/format.md, "Page repository"): each encodes and
// parses back to the same value, and each refuses a flipped bit, a truncation and a count that
// disagrees with its length, with a message naming the file.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <dbsafe/backends/pages/content_file.hpp>
#include <dbsafe/backends/pages/index_file.hpp>
#include <dbsafe/backends/pages/pack_file.hpp>
#include <dbsafe/backends/pages/page_chain_stream.hpp>
#include <dbsafe/backends/pages/page_digest.hpp>
#include <dbsafe/backends/pages/page_list.hpp>
#include <dbsafe/backends/pages/page_spool.hpp>
#include <dbsafe/backends/pages/repository_config.hpp>
#include <dbsafe/backends/pages/repository_lock.hpp>
#include <dbsafe/backends/pages/snapshot_object.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace {

using namespace dbsafe;
using dbsafe::test::temp_dir;

struct stored_file_like {
    std::filesystem::path path;
    page_digest digest;
};

page_digest digest_of(int n) {
    std::vector<std::byte> page(4096, static_cast<std::byte>(n));
    return sha256_of(page).value();
}

// Every single-bit flip and every truncation of `file` is refused by `parse`.
template <class Parse>
void expect_damage_refused(const std::vector<std::byte>& file, Parse parse) {
    for (std::size_t i = 0; i < file.size(); i += std::max<std::size_t>(1, file.size() / 97)) {
        auto flipped = file;
        flipped[i] ^= std::byte{0x10};
        EXPECT_FALSE(parse(flipped)) << "bit flip at byte " << i << " was accepted";
    }
    for (const std::size_t cut : {std::size_t{0}, file.size() / 2, file.size() - 1}) {
        std::vector<std::byte> shorter(file.begin(), file.begin() + static_cast<long>(cut));
        EXPECT_FALSE(parse(shorter)) << "truncation to " << cut << " bytes was accepted";
    }
}

TEST(PageDigest, IsTheSha256OfThePage) {
    const std::string abc = "abc";
    const auto d = sha256_of(std::as_bytes(std::span(abc))).value();
    EXPECT_EQ(d.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(page_digest::from_hex(d.hex()), d);
    EXPECT_FALSE(page_digest::from_hex(std::string(64, 'G')));
}

TEST(PackFile, TrailerParsesBackToItsEntriesAndRefusesDamage) {
    pack_builder b;
    const std::vector<std::byte> frame1(100, std::byte{1});
    const std::vector<std::byte> frame2(50, std::byte{2});
    const std::vector<pack_entry> in1{{digest_of(1), 0, 0, 0, 4096},
                                      {digest_of(2), 0, 0, 4096, 4096}};
    const std::vector<pack_entry> in2{{digest_of(3), 0, 0, 0, 4096}};
    b.add_frame(frame1, in1);
    b.add_frame(frame2, in2);
    const auto entries = b.entries();
    const auto file = std::move(b).finish();
    const auto parsed = parse_pack(file, "p.pack");
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed.value(), entries);
    EXPECT_EQ(parsed.value()[0].frame_offset, 8U);
    EXPECT_EQ(parsed.value()[2].frame_offset, 108U);
    EXPECT_EQ(parsed.value()[2].frame_length, 50U);
    expect_damage_refused(file, [](const auto& f) { return parse_pack(f, "p.pack"); });
    auto bad = file;
    bad[0] ^= std::byte{1};
    const auto refused = parse_pack(bad, "p.pack");
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("pack p.pack is damaged"), std::string::npos);
}

TEST(IndexFile, ParsesBackToItsPacksAndRefusesDamage) {
    std::vector<index_pack> packs{
        {digest_of(7), {{digest_of(1), 8, 100, 0, 4096}, {digest_of(2), 8, 100, 4096, 4096}}},
        {digest_of(8), {{digest_of(3), 8, 77, 0, 1024}}}};
    const auto file = encode_index(packs);
    const auto parsed = parse_index(file, "i.idx");
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed.value(), packs);
    expect_damage_refused(file, [](const auto& f) { return parse_index(f, "i.idx"); });
}

// An index file of 1 MiB or more (a base backup's) is walked in pieces: its entries come back
// exactly, and damage is refused as a whole read refuses it. The callers drop what a file that
// fails handed them: load_stored_digests keeps nothing of a damaged file, and says which.
TEST(IndexFile, ALargeIndexFileIsReadInPiecesAndWhatADamagedOneListedIsDropped) {
    temp_dir dir;
    std::vector<index_pack> packs(3);
    for (std::size_t p = 0; p < packs.size(); ++p) {
        packs[p].pack = digest_of(static_cast<int>(200 + p));
        for (std::uint32_t i = 0; i < 12000; ++i) {
            pack_entry e{{}, 8 + i, 100, 0, 4096};
            for (std::size_t k = 0; k < 32; ++k) {
                e.digest.bytes[k] = static_cast<unsigned char>(p * 89 + i * 13 + k + i / 256);
            }
            packs[p].entries.push_back(e);
        }
    }
    const auto file = encode_index(packs);
    ASSERT_GT(file.size(), std::size_t{1} << 20);
    const auto index_dir = dir / "index";
    std::filesystem::create_directories(index_dir);
    const auto stored = pages_detail::store_content_file(index_dir, ".idx", file).value();
    std::vector<index_pack> walked;
    const auto read = pages_detail::read_index_file(
        stored.path,
        [&](const page_digest& pack, std::uint32_t) {
            walked.push_back({pack, {}});
        },
        [&](const pack_entry& e) { walked.back().entries.push_back(e); });
    ASSERT_TRUE(read) << read.error().message;
    EXPECT_EQ(walked, packs);

    const auto refused_with = [](const std::filesystem::path& f, const std::string& why) {
        const auto r = pages_detail::read_index_file(
            f, [](const page_digest&, std::uint32_t) {}, [](const pack_entry&) {});
        ASSERT_FALSE(r) << why;
        EXPECT_TRUE(r.error().is(errc::checksum_mismatch)) << r.error().message;
        EXPECT_NE(r.error().message.find(f.string()), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
    };
    // An entry's digest changed: the entries parse, the name does not match.
    auto flipped = file;
    flipped[12 + 36 + 48 * 100 + 5] ^= std::byte{0x10};  // in the digest of pack 0's entry 100
    {
        temp_dir other;
        const auto in_place = other / stored.path.filename();
        std::ofstream(in_place, std::ios::binary)
            .write(reinterpret_cast<const char*>(flipped.data()),
                   static_cast<std::streamsize>(flipped.size()));
        refused_with(in_place, "does not hash to its name");
    }
    // Rewritten under the name of its new content: the trailer catches it. Kept in the index
    // directory beside the good file for what follows.
    const auto renamed = pages_detail::store_content_file(index_dir, ".idx", flipped).value();
    refused_with(renamed.path, "its checksum does not match its bytes");

    std::vector<damaged_index_file> damaged;
    const auto digests = load_stored_digests(index_dir, &damaged);
    ASSERT_TRUE(digests) << digests.error().message;
    ASSERT_EQ(damaged.size(), 1U);
    EXPECT_EQ(damaged[0].path, renamed.path);
    std::vector<page_digest> expected;
    for (const auto& p : packs) {
        for (const auto& e : p.entries) expected.push_back(e.digest);
    }
    std::sort(expected.begin(), expected.end());
    expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
    EXPECT_EQ(digests.value(), expected);
    const auto index = load_page_index(index_dir, &damaged);
    ASSERT_TRUE(index) << index.error().message;
    EXPECT_EQ(index.value().pages.size(), 3U * 12000U);
    EXPECT_EQ(index.value().packs.size(), 3U);
}

TEST(PageList, FullAndDeltaParseBackApplyInOrderAndRefuseDamage) {
    const page_list full{page_list_kind::full, 3, {digest_of(1), digest_of(2), digest_of(3)}, {}};
    const std::vector<page_digest> after{digest_of(1), digest_of(9), digest_of(3), digest_of(4)};
    const page_list delta = make_delta(full.pages, after);
    EXPECT_EQ(delta.changes.size(), 2U);
    for (const auto& l : {full, delta}) {
        const auto file = encode_page_list(l);
        const auto parsed = parse_page_list(file, "l.list");
        ASSERT_TRUE(parsed) << parsed.error().message;
        EXPECT_EQ(parsed.value(), l);
        expect_damage_refused(file, [](const auto& f) { return parse_page_list(f, "l.list"); });
    }
    EXPECT_EQ(encode_full_page_list(full.pages), encode_page_list(full));
    std::vector<page_digest> pages;
    ASSERT_TRUE(apply_page_list(pages, full, "full"));
    ASSERT_TRUE(apply_page_list(pages, delta, "delta"));
    EXPECT_EQ(pages, after);
    // Shrinking: a delta to two pages with no changes truncates.
    ASSERT_TRUE(apply_page_list(pages, make_delta(pages, std::span(after).first(2)), "shrink"));
    EXPECT_EQ(pages.size(), 2U);
    // A delta that grows the list without naming the new pages is damaged.
    const page_list grows{page_list_kind::delta, 1000, {}, {{1, digest_of(1)}}};
    EXPECT_FALSE(apply_page_list(pages, grows, "grows"));
}

// A base list of 1 MiB or more (32768 pages and up) is read in pieces, never whole: it must
// come back exactly, and every damage a whole read refuses is refused too, naming the file.
TEST(PageList, ALargeFullListIsReadInPiecesAndRefusesWhatAWholeReadRefuses) {
    temp_dir dir;
    std::vector<page_digest> pages(70000);
    for (std::size_t i = 0; i < pages.size(); ++i) {
        for (std::size_t k = 0; k < 32; ++k)
            pages[i].bytes[k] = static_cast<std::uint8_t>(i * 31 + k * 7 + i / 251);
    }
    const auto file = encode_full_page_list(pages);
    ASSERT_GT(file.size(), std::size_t{2} << 20);
    const auto store = [&](const std::vector<std::byte>& bytes) {
        return pages_detail::store_content_file(dir.path(), ".list", bytes).value();
    };
    const auto limit = pages_detail::list_bytes_limit(pages.size());
    const auto stored = store(file);
    const auto read = pages_detail::read_page_list(stored.path, stored.digest, limit, 0);
    ASSERT_TRUE(read) << read.error().message;
    EXPECT_EQ(read.value(), (page_list{page_list_kind::full, pages.size(), pages, {}}));

    const auto refused = [&](const stored_file_like& f, const std::string& why) {
        const auto r = pages_detail::read_page_list(f.path, f.digest, limit, 0);
        ASSERT_FALSE(r) << why;
        EXPECT_TRUE(r.error().is(errc::checksum_mismatch)) << r.error().message;
        EXPECT_NE(r.error().message.find(f.path.string()), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
    };
    auto flipped = file;
    flipped[file.size() / 2] ^= std::byte{0x10};
    // Damaged in place: the bytes no longer hash to the name.
    {
        temp_dir other;
        const auto path = other / stored.path.filename();
        std::ofstream(path, std::ios::binary)
            .write(reinterpret_cast<const char*>(flipped.data()),
                   static_cast<long>(flipped.size()));
        refused({path, stored.digest}, "does not hash to its name");
    }
    // Rewritten under the name of its new content: the trailer catches it.
    const auto renamed = store(flipped);
    refused({renamed.path, renamed.digest}, "its checksum does not match its bytes");
    // Cut short, or a count that disagrees with the length: read whole, and refused.
    const auto cut = store(std::vector<std::byte>(file.begin(), file.end() - 40));
    refused({cut.path, cut.digest}, "damaged");
    auto recounted = file;
    recounted[9] ^= std::byte{0x01};  // the page count's low byte
    const auto miscounted = store(recounted);
    refused({miscounted.path, miscounted.digest}, "damaged");
    // More bytes than a list of that many pages can take.
    const auto small_limit = pages_detail::read_page_list(stored.path, stored.digest, 1 << 20, 0);
    ASSERT_FALSE(small_limit);
    EXPECT_NE(small_limit.error().message.find("more than"), std::string::npos);
}

// Digests that differ in every byte from page to page, `salt` apart from another list's.
std::vector<page_digest> numbered_digests(std::size_t n, std::uint8_t salt = 0) {
    std::vector<page_digest> out(n);
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t k = 0; k < 32; ++k) {
            out[i].bytes[k] = static_cast<std::uint8_t>(i * 31 + k * 7 + i / 251 + salt);
        }
    }
    return out;
}

// Flips one bit of the byte at `at`: never a no-op, whatever the byte held.
void flip_bit_at(const std::filesystem::path& p, std::streamoff at) {
    std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
    f.seekg(at);
    const char c = static_cast<char>(f.get());
    f.seekp(at);
    f.put(static_cast<char>(c ^ 0x10));
}

std::size_t entries_in(const std::filesystem::path& dir) {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir),
                                                  std::filesystem::directory_iterator()));
}

// The digest list of the snapshot being stored lives in an unlinked file, not in memory: what
// goes in comes back in order, whether it was still buffered or already written, and a page
// replaced afterwards (page 1 of a followed backup) reads back replaced.
TEST(PageSpool, HandsBackWhatWasAppendedInOrderWithReplacedPagesAndLeavesNoName) {
    temp_dir dir;
    auto spool = pages_detail::page_spool::create(dir.path(), "20261203T000000.000Z-x");
    ASSERT_TRUE(spool) << spool.error().message;
    EXPECT_EQ(entries_in(dir.path()), 0U) << "the spool's file must be unlinked at once";
    auto pages = numbered_digests(5000);
    auto& s = spool.value();
    ASSERT_TRUE(s.append(pages[0]));
    ASSERT_TRUE(s.append(std::span(pages).subspan(1, 3000)));
    ASSERT_TRUE(s.append(std::span(pages).subspan(3001)));
    ASSERT_EQ(s.size(), pages.size());
    // Page 1 is in the file by now, the last page still in the buffer.
    pages.front() = digest_of(1);
    pages.back() = digest_of(2);
    ASSERT_TRUE(s.set(0, pages.front()));
    ASSERT_TRUE(s.set(pages.size() - 1, pages.back()));
    EXPECT_FALSE(s.set(pages.size(), digest_of(3))) << "past the end is a bug, not a write";
    EXPECT_EQ(s.all().value(), pages);
    // Started again, shorter: only the new digests come back, still from the one file.
    ASSERT_TRUE(s.restart(dir.path(), "20261203T000000.000Z-x"));
    EXPECT_EQ(entries_in(dir.path()), 0U);
    const auto fewer = numbered_digests(100, 5);
    ASSERT_TRUE(s.append(fewer));
    EXPECT_EQ(s.all().value(), fewer);
}

// A full list too large to hold is written from the spool as it is read: the same bytes as the
// list encoded in memory, so the same name, and no temp file left.
TEST(PageList, AFullListWrittenFromASpoolIsByteForByteTheEncodedOne) {
    temp_dir dir;
    for (const std::size_t n : {std::size_t{1}, std::size_t{2048}, std::size_t{70001}}) {
        const auto pages = numbered_digests(n);
        auto spool = pages_detail::page_spool::create(dir.path(), "x").value();
        ASSERT_TRUE(spool.append(pages));
        const auto written = pages_detail::store_full_page_list(dir.path() / "lists", spool);
        ASSERT_FALSE(written) << "a missing directory is an error, not a success";
        std::filesystem::create_directory(dir.path() / "lists");
        const auto streamed = pages_detail::store_full_page_list(dir.path() / "lists", spool);
        ASSERT_TRUE(streamed) << streamed.error().message;
        const auto encoded = encode_full_page_list(pages);
        const auto expected = sha256_of(encoded).value();
        EXPECT_EQ(streamed.value().digest, expected) << n << " pages";
        EXPECT_TRUE(streamed.value().created);
        std::ifstream in(streamed.value().path, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), {});
        EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), encoded.begin(), encoded.end(),
                               [](char a, std::byte b) { return static_cast<std::byte>(a) == b; }));
        // Stored again: the name stands, nothing else is left.
        const auto again = pages_detail::store_full_page_list(dir.path() / "lists", spool);
        ASSERT_TRUE(again);
        EXPECT_FALSE(again.value().created);
        EXPECT_EQ(entries_in(dir.path() / "lists"), 1U);
        std::filesystem::remove_all(dir.path() / "lists");
    }
}

// A commit walks the previous snapshot's chain in page order instead of loading it: the walk
// must give exactly what load_page_chain gives, through changes, a truncation and a regrowth,
// with the same counts.
TEST(PageChainStream, WalksAChainExactlyAsLoadPageChainAppliesIt) {
    temp_dir dir;
    const auto store = [&](const page_list& l) {
        return pages_detail::store_content_file(dir.path(), ".list", encode_page_list(l))
            .value()
            .digest;
    };
    const auto base = numbered_digests(70000);
    std::vector<page_digest> now = base;
    snapshot_object s{4096, 0, {store({page_list_kind::full, now.size(), now, {}})}};
    const auto add_delta = [&](std::vector<page_digest> after) {
        s.lists.push_back(store(make_delta(now, after)));
        now = std::move(after);
    };
    auto changed = now;
    for (std::size_t i = 0; i < changed.size(); i += 977) changed[i] = digest_of(int(i % 200));
    add_delta(changed);
    add_delta(std::vector<page_digest>(now.begin(), now.begin() + 50000));  // truncated
    auto regrown = now;
    const auto extra = numbered_digests(25000, 99);
    regrown.insert(regrown.end(), extra.begin(), extra.end());  // grown past the base
    regrown[977] = digest_of(7);  // changed by the first delta too: the newest wins
    add_delta(regrown);
    s.page_count = now.size();

    const auto loaded = load_page_chain(dir.path(), s, "s");
    ASSERT_TRUE(loaded) << loaded.error().message;
    ASSERT_EQ(loaded.value().pages, now);
    auto stream = pages_detail::page_chain_stream::open(dir.path(), s, "s");
    ASSERT_TRUE(stream) << stream.error().message;
    EXPECT_EQ(stream.value().page_count, now.size());
    EXPECT_EQ(stream.value().delta_entries, loaded.value().delta_entries);
    EXPECT_EQ(stream.value().largest_count, loaded.value().largest_count);
    std::vector<page_digest> walked;
    for (;;) {
        auto piece = stream.value().next();
        ASSERT_TRUE(piece) << piece.error().message;
        if (piece.value().empty()) break;
        walked.insert(walked.end(), piece.value().begin(), piece.value().end());
    }
    EXPECT_TRUE(stream.value().finish());
    EXPECT_EQ(walked, now);
}

// Damage in the base is found by finish() (what was read before counts for nothing), damage
// in a delta and a delta that grows the list without naming the new pages at open().
TEST(PageChainStream, ADamagedBaseFailsAtFinishADamagedOrUnnamingDeltaAtOpen) {
    temp_dir dir;
    const auto base = numbered_digests(40000);
    const auto base_file =
        pages_detail::store_content_file(dir.path(), ".list", encode_full_page_list(base)).value();
    const auto delta_file =
        pages_detail::store_content_file(
            dir.path(), ".list", encode_page_list(make_delta(base, numbered_digests(40000, 1))))
            .value();
    const snapshot_object s{4096, 40000, {base_file.digest, delta_file.digest}};
    ASSERT_TRUE(pages_detail::page_chain_stream::open(dir.path(), s, "s"));

    // A flipped byte late in the base: every piece reads, finish() refuses, naming the file.
    flip_bit_at(base_file.path, 30000 * 32);
    auto stream = pages_detail::page_chain_stream::open(dir.path(), s, "s");
    ASSERT_TRUE(stream) << stream.error().message;
    for (;;) {
        auto piece = stream.value().next();
        ASSERT_TRUE(piece) << piece.error().message;
        if (piece.value().empty()) break;
    }
    const auto finished = stream.value().finish();
    ASSERT_FALSE(finished);
    EXPECT_TRUE(finished.error().is(errc::checksum_mismatch));
    EXPECT_NE(finished.error().message.find(base_file.path.string()), std::string::npos)
        << finished.error().message;

    // A delta whose bytes no longer hash to its name.
    flip_bit_at(delta_file.path, 30);
    auto bad_delta = pages_detail::page_chain_stream::open(dir.path(), s, "s");
    ASSERT_FALSE(bad_delta);
    EXPECT_NE(bad_delta.error().message.find(delta_file.path.string()), std::string::npos)
        << bad_delta.error().message;

    // A delta that grows 40000 pages to 40002 naming only one of the two.
    const auto small_base = pages_detail::store_content_file(
                                dir.path(), ".list", encode_full_page_list(numbered_digests(3)))
                                .value();
    const auto grows = pages_detail::store_content_file(
                           dir.path(), ".list",
                           encode_page_list({page_list_kind::delta, 5, {}, {{4, digest_of(4)}}}))
                           .value();
    const auto unnamed = pages_detail::page_chain_stream::open(
        dir.path(), snapshot_object{4096, 5, {small_base.digest, grows.digest}}, "s");
    ASSERT_FALSE(unnamed);
    EXPECT_NE(unnamed.error().message.find("without naming every new one"), std::string::npos)
        << unnamed.error().message;
}

TEST(SnapshotObject, ParsesBackAndRefusesDamage) {
    const snapshot_object s{4096, 1234, {digest_of(1), digest_of(2)}};
    const auto file = encode_snapshot_object(s);
    const auto parsed = parse_snapshot_object(file, "x.pages");
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed.value(), s);
    expect_damage_refused(file, [](const auto& f) { return parse_snapshot_object(f, "x.pages"); });
    EXPECT_FALSE(parse_snapshot_object(encode_snapshot_object({1000, 1, {digest_of(1)}}), "odd"));
    EXPECT_FALSE(parse_snapshot_object(encode_snapshot_object({4096, 1, {}}), "no lists"));
}

TEST(RepositoryConfig, RoundTripsAndRefusesAFutureVersionOrUnknownHash) {
    repository_config c;
    c.default_format = location_format::pages;
    const auto text = repository_config_text(c);
    const auto parsed = parse_repository_config(text, "config.json");
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed.value(), c);

    auto future = nlohmann::json::parse(text);
    future["version"] = 2;
    future["config_checksum"]["hex"] = pages_detail::config_self_checksum(future).hex;
    const auto refused = parse_repository_config(future.dump(), "config.json");
    ASSERT_FALSE(refused);
    EXPECT_TRUE(refused.error().is(errc::unsupported));
    EXPECT_NE(refused.error().message.find("upgrade dbsafe"), std::string::npos);

    auto blake = nlohmann::json::parse(text);
    blake["hash"] = "blake3";
    blake["config_checksum"]["hex"] = pages_detail::config_self_checksum(blake).hex;
    EXPECT_TRUE(parse_repository_config(blake.dump(), "config.json").error().is(errc::unsupported));

    auto edited = nlohmann::json::parse(text);
    edited["frame_pages"] = 8;  // without its checksum
    EXPECT_TRUE(
        parse_repository_config(edited.dump(), "config.json").error().is(errc::invalid_manifest));
}

TEST(ContentFile, IsNamedByItsSha256AndStoringTheSameContentTwiceIsFine) {
    temp_dir dir;
    const std::string text = "some bytes";
    const auto bytes = std::as_bytes(std::span(text));
    const auto first = pages_detail::store_content_file(dir.path(), ".list", bytes);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_TRUE(first.value().created);
    EXPECT_EQ(first.value().path.filename().string(), first.value().digest.hex() + ".list");
    const auto again = pages_detail::store_content_file(dir.path(), ".list", bytes);
    ASSERT_TRUE(again);
    EXPECT_FALSE(again.value().created);
    EXPECT_TRUE(pages_detail::read_content_file(first.value().path, first.value().digest, 100));
    EXPECT_FALSE(pages_detail::read_content_file(first.value().path, digest_of(1), 100));
}

// A piece larger than the reader's buffer is the caller's mistake: an invalid_argument that
// says so, never "damaged" (a checksum_mismatch would send a user after a healthy file). A piece
// past the end is damage.
TEST(ContentFile, AReaderAskedForMoreThanAPieceSaysItIsABugNotDamage) {
    temp_dir dir;
    const std::vector<std::byte> bytes((std::size_t{3} << 20) + pages_detail::trailer_bytes,
                                       std::byte{7});
    const auto f = pages_detail::store_content_file(dir.path(), ".list", bytes).value();
    auto reader = pages_detail::content_reader::open(f.path, f.digest, bytes.size());
    ASSERT_TRUE(reader) << reader.error().message;
    const auto too_big = reader.value().next(pages_detail::content_reader::piece_bytes + 1);
    ASSERT_FALSE(too_big);
    EXPECT_TRUE(too_big.error().is(errc::invalid_argument)) << too_big.error().message;
    EXPECT_NE(too_big.error().message.find("bug"), std::string::npos) << too_big.error().message;
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(reader.value().next(pages_detail::content_reader::piece_bytes));
    }
    const auto past_the_end = reader.value().next(1);
    ASSERT_FALSE(past_the_end);
    EXPECT_TRUE(past_the_end.error().is(errc::checksum_mismatch)) << past_the_end.error().message;
}

TEST(RepositoryLock, SharedLocksCoexistAndAnExclusiveOneWaitsThenTimesOut) {
    temp_dir dir;
    using namespace std::chrono_literals;
    auto a = repository_lock::acquire(dir.path(), repository_lock_mode::shared, 0ms);
    auto b = repository_lock::acquire(dir.path(), repository_lock_mode::shared, 0ms);
    ASSERT_TRUE(a && b);
    const auto x = repository_lock::acquire(dir.path(), repository_lock_mode::exclusive, 30ms);
    ASSERT_FALSE(x);
    EXPECT_TRUE(x.error().is(errc::busy_timeout));
    a.value().release();
    b.value().release();
    EXPECT_TRUE(repository_lock::acquire(dir.path(), repository_lock_mode::exclusive, 0ms));
}

}  // namespace
