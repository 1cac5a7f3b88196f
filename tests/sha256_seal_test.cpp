// backends/sha256_seal.hpp: a sealed backup's manifest carries the SHA-256 of the database, equal
// to what `sha256sum` prints; a change that keeps the xxh3 checksum (an edited row with the
// manifest's xxh3 recomputed) passes every other check and is caught by the seal; vaults
// without the seal verify sealed backups without checking it; a sealing vault refuses unsealed
// backups or stripped seals; all_of forwards record(); archives are sealed uncompressed; the
// CLI's --sha256 and --require-seal.
#include "dbsafe/backends/sha256_seal.hpp"  // first: the header compiles on its own

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "dbsafe/dbsafe.hpp"
#include "support/child_process.hpp"
#include "support/manifest_edit.hpp"
#include "support/sqlite_fixtures.hpp"
#include "support/temp_dir.hpp"
#if defined(DBSAFE_TEST_ZSTD)
#include "dbsafe/backends/zstd_archive.hpp"
#endif

namespace {

using namespace dbsafe;
namespace fs = std::filesystem;
using json = nlohmann::json;

using sealed_checks = all_of<standard_checks, sha256_seal>;
using sealed_vault = basic_vault<online_backup, sealed_checks, keep_all, local_directory>;

// The hook is found on all_of only when a member records, and a record() with the wrong
// signature is rejected rather than silently never called.
struct void_record {
    [[nodiscard]] result<void> verify(const backup_file&) const { return success(); }
    void record(const fs::path&, manifest&) const {}
};
static_assert(recording_verifier<sha256_seal>);
static_assert(recording_verifier<sealed_checks>);
static_assert(!recording_verifier<standard_checks>);
static_assert(!recording_verifier<all_of<standard_checks, quick_check>>);
static_assert(!has_unusable_record<all_of<standard_checks, quick_check>>);
static_assert(!has_unusable_record<sealed_checks>);
static_assert(has_unusable_record<void_record>);

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_bytes(const fs::path& p, const std::string& data) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << data;
}

// The first word of `command`'s output: the digest `sha256sum` prints.
std::string first_word_of(const std::string& command) {
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    if (p == nullptr) return out;
    char buf[512];
    while (const size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
    return out.substr(0, out.find_first_of(" \n"));
}

std::string sha256sum(const fs::path& file) {
    return first_word_of("sha256sum '" + file.string() + "'");
}

sealed_vault make_sealed(const fs::path& dir) {
    return sealed_vault{.storage = local_directory{dir},
                        .snapshot = {},
                        .verification = sealed_checks(standard_checks{}, sha256_seal{}),
                        .retention = {},
                        .options = {}};
}

// What an attacker who can write the backup directory and compute xxh3 does: edits a row in
// place (a valid database: integrity_check still passes) and rewrites the manifest's checksum
// to match. Returns false when the row was not found.
bool edit_row_and_rewrite_checksum(const local_directory& storage, const manifest& m) {
    std::string bytes = read_bytes(m.data_path);
    const auto at = bytes.find("order 00000042");
    if (at == std::string::npos) return false;
    bytes[at + 13] = '7';  // "order 00000047": same length, same record header
    write_bytes(m.data_path, bytes);
    json j = json::parse(read_bytes(storage.manifest_path(m.id)));
    j["checksum"]["hex"] = hash_file(m.data_path).value().hex;
    dbsafe::test::reseal_manifest(j);
    write_bytes(storage.manifest_path(m.id), j.dump(2));
    return true;
}

class Sha256Seal : public ::testing::Test {
  protected:
    test::temp_dir tmp;
    fs::path db = tmp / "live.db";
    fs::path dir = tmp / "backups";

    void SetUp() override { test::create_sample_db(db, 200); }
};

TEST_F(Sha256Seal, SealedBackupVerifiesAndItsManifestStoresTheSeal) {
    auto vault = make_sealed(dir);
    auto made = vault.backup(db);
    ASSERT_TRUE(made) << made.error().message;
    const manifest& m = made.value();
    ASSERT_TRUE(m.seal.has_value());
    EXPECT_EQ(m.seal->algorithm, "sha256");
    EXPECT_EQ(m.seal->hex.size(), 64U);
    EXPECT_EQ(m.format_version, 1);

    // As stored: re-read from disk, the seal survives (and format_version is still 1).
    const json stored = json::parse(read_bytes(vault.storage.manifest_path(m.id)));
    EXPECT_EQ(stored["format_version"], 1);
    EXPECT_EQ(stored["seal"], (json{{"algorithm", "sha256"}, {"hex", m.seal->hex}}));
    auto checked = vault.verify(m.id);
    ASSERT_TRUE(checked) << checked.error().message;
    EXPECT_EQ(checked.value().seal, m.seal);
    EXPECT_EQ(test::dump_rows(m.data_path), test::dump_rows(db));
}

TEST_F(Sha256Seal, SealIsWhatSha256sumPrintsForTheBackupFile) {
    auto vault = make_sealed(dir);
    auto made = vault.backup(db);
    ASSERT_TRUE(made) << made.error().message;
    const std::string printed = sha256sum(made.value().data_path);
    ASSERT_EQ(printed.size(), 64U) << "sha256sum did not run";
    EXPECT_EQ(made.value().seal->hex, printed);
}

TEST_F(Sha256Seal, HashesKnownVectorsAndFilesAcrossTheOneMebibyteReadBoundary) {
    write_bytes(tmp / "abc", "abc");
    write_bytes(tmp / "empty", "");
    EXPECT_EQ(detail::sha256_file(tmp / "abc").value().hex,
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2
    EXPECT_EQ(detail::sha256_file(tmp / "empty").value().hex,
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    std::string big(std::size_t{5} << 19, '\0');  // 2.5 MiB: three reads, the last one partial
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) ^ (i >> 9));
    write_bytes(tmp / "big", big);
    EXPECT_EQ(detail::sha256_file(tmp / "big").value().hex, sha256sum(tmp / "big"));

    const auto missing = detail::sha256_file(tmp / "nope");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find((tmp / "nope").string()), std::string::npos)
        << missing.error().message;
}

TEST_F(Sha256Seal, CatchesAnEditedRowWhoseXxh3ChecksumWasRewrittenToMatch) {
    auto sealing = make_sealed(dir);
    auto made = sealing.backup(db);
    ASSERT_TRUE(made) << made.error().message;
    ASSERT_TRUE(edit_row_and_rewrite_checksum(sealing.storage, made.value()));

    // Every check but the seal passes: the forged backup is a valid database with a matching
    // xxh3 checksum.
    const vault unsealed{.storage = local_directory{dir}};
    auto fooled = unsealed.verify(made.value().id);
    ASSERT_TRUE(fooled) << "the edit was not a clean forgery: " << fooled.error().message;

    auto caught = sealing.verify(made.value().id);
    ASSERT_FALSE(caught);
    EXPECT_EQ(caught.error().code, make_error_code(errc::checksum_mismatch));
    const std::string& why = caught.error().message;
    EXPECT_NE(why.find("SHA-256 seal mismatch"), std::string::npos) << why;
    EXPECT_NE(why.find(made.value().id), std::string::npos) << why;
    EXPECT_NE(why.find(made.value().seal->hex), std::string::npos) << why;
    EXPECT_NE(why.find("do not restore it"), std::string::npos) << why;

    // And restore refuses it, leaving the live database as it was.
    const auto before = test::dump_rows(db);
    auto restored = sealing.restore(db, {.id = made.value().id});
    EXPECT_FALSE(restored);
    EXPECT_EQ(test::dump_rows(db), before);
}

TEST_F(Sha256Seal, DefaultVaultVerifiesASealedBackupWithoutCheckingTheSeal) {
    auto sealer = make_sealed(dir);
    auto made = sealer.backup(db);
    ASSERT_TRUE(made) << made.error().message;
    const vault plain{.storage = local_directory{dir}};
    auto r = plain.verify(made.value().id);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().seal, made.value().seal);  // read, kept, not judged

    // A wrong seal is not its business either: only a sealing verifier judges seals.
    json j = json::parse(read_bytes(sealer.storage.manifest_path(made.value().id)));
    j["seal"]["hex"] = std::string(64, '0');
    dbsafe::test::reseal_manifest(j);
    write_bytes(sealer.storage.manifest_path(made.value().id), j.dump(2));
    EXPECT_TRUE(plain.verify(made.value().id));
    EXPECT_FALSE(sealer.verify(made.value().id));

    // The default vault's own backups carry no seal.
    vault unsealing{.storage = local_directory{tmp / "plain"}};
    auto own = unsealing.backup(db);
    ASSERT_TRUE(own) << own.error().message;
    EXPECT_FALSE(own.value().seal.has_value());
    EXPECT_FALSE(
        json::parse(read_bytes(unsealing.storage.manifest_path(own.value().id))).contains("seal"));
}

TEST_F(Sha256Seal, UnsealedBackupsAndStrippedSealsFailUnderASealingVault) {
    vault plain{.storage = local_directory{dir}};
    auto unsealed = plain.backup(db);
    ASSERT_TRUE(unsealed) << unsealed.error().message;
    const auto sealer = make_sealed(dir);
    auto r = sealer.verify(unsealed.value().id);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::verification_failed));
    EXPECT_NE(r.error().message.find("has no SHA-256 seal"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find(unsealed.value().id), std::string::npos);

    // Removing the seal from a sealed backup's manifest is caught the same way.
    auto sealing = make_sealed(dir);
    auto sealed = sealing.backup(db);
    ASSERT_TRUE(sealed) << sealed.error().message;
    json j = json::parse(read_bytes(sealing.storage.manifest_path(sealed.value().id)));
    j.erase("seal");
    dbsafe::test::reseal_manifest(j);
    write_bytes(sealing.storage.manifest_path(sealed.value().id), j.dump(2));
    r = sealing.verify(sealed.value().id);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("has no SHA-256 seal"), std::string::npos);

    // require_seal = false: unsealed backups pass, sealed ones are still checked.
    const sha256_seal lenient{.require_seal = false};
    auto m = plain.storage.load_manifest(unsealed.value().id).value();
    m.data_path = dir / m.file;
    EXPECT_TRUE(lenient.verify(backup_file{m.data_path, &m}));
    m.seal = checksum{.algorithm = "sha256", .hex = std::string(64, 'a')};
    EXPECT_FALSE(lenient.verify(backup_file{m.data_path, &m}));
}

TEST_F(Sha256Seal, ManifestParsesWellFormedSealsAndRejectsMalformedOnes) {
    auto vault = make_sealed(dir);
    auto made = vault.backup(db);
    ASSERT_TRUE(made) << made.error().message;
    const json good = json::parse(read_bytes(vault.storage.manifest_path(made.value().id)));
    auto parsed = parse_manifest(good.dump(), "m.json");
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed.value().seal, made.value().seal);

    const auto with_seal = [&](const json& seal) {
        json j = good;
        j["seal"] = seal;
        dbsafe::test::reseal_manifest(j);
        return parse_manifest(j.dump(), "m.json");
    };
    const std::string hex = made.value().seal->hex;
    std::string upper = hex;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const json& bad :
         {json{{"algorithm", "sha256"}, {"hex", hex.substr(1)}},
          json{{"algorithm", "sha256"}, {"hex", hex + "0"}},
          json{{"algorithm", "sha256"}, {"hex", upper}},
          json{{"algorithm", "sha256"}, {"hex", hex.substr(2) + "zz"}},
          json{{"algorithm", "sha256"}}, json{{"algorithm", ""}, {"hex", hex}},
          json{{"algorithm", "sha256"}, {"hex", 42}}, json("sha256:" + hex), json::array()}) {
        auto r = with_seal(bad);
        ASSERT_FALSE(r) << bad.dump();
        EXPECT_EQ(r.error().code, make_error_code(errc::invalid_manifest)) << bad.dump();
        EXPECT_NE(r.error().message.find("m.json"), std::string::npos) << r.error().message;
    }
    EXPECT_TRUE(with_seal(nullptr));  // null: no seal, as when absent

    // A seal of an algorithm this dbsafe does not know parses (a newer dbsafe wrote it), and
    // the seal verifier says it cannot check it instead of calling it damaged.
    auto newer = with_seal(json{{"algorithm", "blake3"}, {"hex", hex}});
    ASSERT_TRUE(newer) << newer.error().message;
    auto m = newer.value();
    auto r = sha256_seal{}.verify(backup_file{made.value().data_path, &m});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, make_error_code(errc::unsupported));
    EXPECT_NE(r.error().message.find("blake3"), std::string::npos) << r.error().message;
}

// Records in order, or fails on request: shows all_of's forwarding and the vault's handling
// of a failed record().
struct logging_recorder {
    std::vector<std::string>* log = nullptr;
    bool fail = false;
    [[nodiscard]] result<void> verify(const backup_file&) const { return success(); }
    [[nodiscard]] result<void> record(const fs::path& file, manifest& m) const {
        log->push_back("record " + file.filename().string() + (m.seal ? " sealed" : " unsealed"));
        if (fail) return error(errc::io_error, "recorder refused " + file.string());
        return success();
    }
};

TEST_F(Sha256Seal, AllOfForwardsRecordToEachMemberAndAFailedRecordPublishesNothing) {
    std::vector<std::string> log;
    using checks = all_of<sha256_seal, quick_check, logging_recorder>;
    basic_vault<online_backup, checks, keep_all, local_directory> v{
        .storage = local_directory{dir},
        .snapshot = {},
        .verification = checks(sha256_seal{}, quick_check{}, logging_recorder{&log, false}),
        .retention = {},
        .options = {}};
    auto made = v.backup(db);
    ASSERT_TRUE(made) << made.error().message;
    ASSERT_EQ(log.size(), 1U);
    // The staged (uncompressed, unpublished) copy, after the seal was recorded.
    EXPECT_TRUE(log[0].starts_with("record " + made.value().id + ".db")) << log[0];
    EXPECT_TRUE(log[0].ends_with(" sealed")) << log[0];
    EXPECT_TRUE(made.value().seal.has_value());

    std::get<2>(v.verification.checks).fail = true;
    auto refused = v.backup(db);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, make_error_code(errc::io_error));
    EXPECT_NE(refused.error().message.find("was not published: recorder refused"),
              std::string::npos)
        << refused.error().message;
    auto listed = v.list();
    ASSERT_TRUE(listed);
    EXPECT_EQ(listed.value().backups.size(), 1U);
    EXPECT_TRUE(listed.value().leftovers.empty());
    for (const auto& e : fs::directory_iterator(dir)) {
        EXPECT_FALSE(e.path().string().ends_with(".tmp")) << e.path();
    }
}

#if defined(DBSAFE_TEST_ZSTD)
TEST_F(Sha256Seal, CompressedBackupIsSealedUncompressedAndVerifiedAfterDecompression) {
    using zstd_sealed = basic_vault<online_backup, sealed_checks, keep_all, zstd_archive>;
    zstd_sealed v{.storage = zstd_archive{dir, {.level = 3, .threads = 1, .scratch = {}}},
                  .snapshot = {},
                  .verification = sealed_checks(standard_checks{}, sha256_seal{}),
                  .retention = {},
                  .options = {}};
    auto made = v.backup(db);
    ASSERT_TRUE(made) << made.error().message;
    const manifest& m = made.value();
    ASSERT_TRUE(m.compression && m.seal);
    const std::string of_database =
        first_word_of("zstd -q -dc '" + m.data_path.string() + "' | sha256sum");
    ASSERT_EQ(of_database.size(), 64U) << "zstd or sha256sum did not run";
    EXPECT_EQ(m.seal->hex, of_database);
    EXPECT_NE(m.seal->hex, sha256sum(m.data_path));  // not the archive's bytes
    auto checked = v.verify(m.id);
    ASSERT_TRUE(checked) << checked.error().message;

    // A forged seal is reported naming the archive, not the temporary decompressed file.
    json j = json::parse(read_bytes(v.storage.directory().manifest_path(m.id)));
    j["seal"]["hex"] = std::string(64, 'f');
    dbsafe::test::reseal_manifest(j);
    write_bytes(v.storage.directory().manifest_path(m.id), j.dump(2));
    auto caught = v.verify(m.id);
    ASSERT_FALSE(caught);
    EXPECT_NE(caught.error().message.find(m.data_path.string()), std::string::npos)
        << caught.error().message;
}
#endif

class Sha256SealCli : public Sha256Seal {
  protected:
    test::child_result cli(std::vector<std::string> args) {
        args.insert(args.begin(), DBSAFE_CLI_PATH);
        return test::run(args, {}, tmp.path());
    }
};

TEST_F(Sha256SealCli, BackupSha256SealsAndVerifyChecksTheSeal) {
    ASSERT_TRUE(fs::exists(DBSAFE_CLI_PATH)) << "build the dbsafe_cli target first";
    auto r = cli({"backup", db.string(), "--dir", dir.string(), "--sha256", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json made = json::parse(r.out);
    ASSERT_TRUE(made.contains("seal")) << r.out;
    EXPECT_EQ(made["seal"]["algorithm"], "sha256");
    EXPECT_EQ(made["seal"]["hex"], sha256sum(made["path"].get<std::string>()));

    r = cli({"backup", db.string(), "--dir", dir.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("xxh3-128"), std::string::npos);
    EXPECT_EQ(r.out.find("sealed"), std::string::npos) << "sealed without --sha256: " << r.out;

    // Seals are checked whenever present; unsealed backups pass unless --require-seal.
    r = cli({"verify", "--dir", dir.string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    r = cli({"verify", "--dir", dir.string(), made["id"].get<std::string>(), "--require-seal"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    r = cli({"verify", "--dir", dir.string(), "--require-seal"});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.out.find("has no SHA-256 seal"), std::string::npos) << r.out;

    const local_directory storage{dir};
    auto m = storage.load_manifest(made["id"].get<std::string>()).value();
    m.data_path = dir / m.file;
    ASSERT_TRUE(edit_row_and_rewrite_checksum(storage, m));
    r = cli({"verify", "--dir", dir.string(), m.id, "--json"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    const json verdicts = json::parse(r.out)["backups"];
    ASSERT_EQ(verdicts.size(), 1U) << r.out;
    EXPECT_FALSE(verdicts[0]["ok"].get<bool>());
    EXPECT_NE(verdicts[0]["error"].get<std::string>().find("SHA-256 seal mismatch"),
              std::string::npos)
        << r.out;
    // The lone-file form reads the manifest beside the file and checks the seal too.
    r = cli({"verify", "--file", m.data_path.string()});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.out.find("SHA-256 seal mismatch"), std::string::npos) << r.out;
}

}  // namespace
