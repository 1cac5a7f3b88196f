// A storage target of your own: every backup in two directories (say, a local disk and a
// mounted network share), published only when both copies are complete.
//
// `mirrored_directory` models dbsafe::storage_target by composition: two local_directory
// members do the real work, so it inherits their commit protocol (temp file, fsync, rename,
// manifest last, directory fsync) and their debris handling for free. The vault writes the
// snapshot once, into the primary's staging file; commit() publishes it there and then copies
// it into the mirror through the mirror's own stage/commit. If the mirror fails, the primary
// copy is removed again: "a backup exists" keeps meaning "both copies exist".
//
//   $ ./example_custom_storage_target [WORK_DIR]
//
// Exits 0 when the backup exists, byte-identical, in both directories and verifies from each.
#include <sqlite3.h>
#include <stdlib.h>

#include <dbsafe/dbsafe.hpp>
#include <filesystem>
#include <iostream>
#include <string>

namespace {

class mirrored_directory {
  public:
    mirrored_directory() = default;
    mirrored_directory(std::filesystem::path primary, std::filesystem::path mirror)
        : primary_(std::move(primary)), mirror_(std::move(mirror)) {}

    [[nodiscard]] const std::filesystem::path& location() const noexcept {
        return primary_.location();  // the free-space guard checks the primary
    }

    dbsafe::result<dbsafe::staged_backup> stage(std::string_view id) { return primary_.stage(id); }

    dbsafe::result<dbsafe::manifest> commit(const dbsafe::staged_backup& staged,
                                            dbsafe::manifest m) {
        DBSAFE_TRY(dbsafe::manifest published, primary_.commit(staged, m));
        if (auto mirrored = copy_to_mirror(published, std::move(m)); !mirrored) {
            (void)primary_.remove(published.id);  // neither copy, rather than one
            return mirrored.as_failure();
        }
        return published;
    }

    void discard(const dbsafe::staged_backup& staged) noexcept { primary_.discard(staged); }

    // Reads come from the primary; the mirror is for the day the primary disk is gone (point a
    // plain local_directory at it then).
    [[nodiscard]] dbsafe::result<dbsafe::listing> list() const { return primary_.list(); }
    [[nodiscard]] dbsafe::result<dbsafe::readable_backup> open(std::string_view id) const {
        return primary_.open(id);
    }

    dbsafe::result<void> remove(std::string_view id) {
        DBSAFE_TRYV(primary_.remove(id));
        if (auto r = mirror_.remove(id); !r && !r.error().is(dbsafe::errc::not_found)) return r;
        return dbsafe::success();
    }
    dbsafe::result<void> remove_debris(const dbsafe::debris& d) {
        return primary_.remove_debris(d);
    }

  private:
    dbsafe::result<void> copy_to_mirror(const dbsafe::manifest& published, dbsafe::manifest m) {
        DBSAFE_TRY(const dbsafe::staged_backup copy, mirror_.stage(published.id));
        std::error_code ec;
        std::filesystem::copy_file(published.data_path, copy.path,
                                   std::filesystem::copy_options::overwrite_existing, ec);
        if (ec) {
            mirror_.discard(copy);
            return dbsafe::error(dbsafe::errc::io_error,
                                 "cannot copy backup " + published.id + " to the mirror " +
                                     mirror_.location().string() + ": " + ec.message() +
                                     " (is the share mounted and writable?)");
        }
        auto committed = mirror_.commit(copy, std::move(m));  // fsync, rename, manifest
        if (!committed) {
            mirror_.discard(copy);
            return committed.as_failure();
        }
        return dbsafe::success();
    }

    dbsafe::local_directory primary_;
    dbsafe::local_directory mirror_;
};

// What the vault's static_assert checks, spelled out where the type is defined.
static_assert(dbsafe::storage_target<mirrored_directory>);

}  // namespace

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    std::string dir_template = (fs::temp_directory_path() / "dbsafe-mirror-XXXXXX").string();
    const fs::path work = argc > 1 ? fs::path(argv[1]) : fs::path(::mkdtemp(dir_template.data()));
    struct remove_temporary {  // a directory we made up is ours to remove; WORK_DIR is not
        fs::path dir;
        ~remove_temporary() {
            std::error_code ec;
            if (!dir.empty()) fs::remove_all(dir, ec);
        }
    } cleanup{argc > 1 ? fs::path() : work};
    fs::create_directories(work);
    const fs::path app = work / "app.db";
    {
        sqlite3* db = nullptr;
        sqlite3_open(app.c_str(), &db);
        sqlite3_exec(db,
                     "CREATE TABLE IF NOT EXISTS notes(id INTEGER PRIMARY KEY, body TEXT);"
                     "INSERT INTO notes(body) VALUES ('first'), ('second');",
                     nullptr, nullptr, nullptr);
        sqlite3_close(db);
    }

    dbsafe::basic_vault<dbsafe::online_backup, dbsafe::standard_checks, dbsafe::keep_all,
                        mirrored_directory>
        vault{.storage = mirrored_directory{work / "local", work / "share"}};
    auto made = vault.backup(app);
    if (!made) {
        std::cerr << made.error().message << "\n";
        return 1;
    }
    const std::string id = made.value().id;
    std::cout << "backup " << id << " in " << (work / "local").string() << " and "
              << (work / "share").string() << "\n";

    // The mirror is a complete backup directory on its own: verify the copy from there.
    const dbsafe::vault from_mirror{.storage = dbsafe::local_directory{work / "share"}};
    auto checked = from_mirror.verify(id);
    if (!checked) {
        std::cerr << checked.error().message << "\n";
        return 1;
    }
    std::cout << "the mirror's copy verifies (checksum " << checked.value().checksum.hex << ")\n";
    return checked.value().checksum.hex == made.value().checksum.hex ? 0 : 1;
}
