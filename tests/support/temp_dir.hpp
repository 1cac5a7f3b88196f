// A fresh directory per test, removed afterwards (kept when DBSAFE_KEEP_TEST_DIRS is set, for
// post-mortems).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace dbsafe::test {

class temp_dir {
  public:
    // Under `parent` (another file system, say), the system's temp directory by default.
    explicit temp_dir(
        const std::filesystem::path& parent = std::filesystem::temp_directory_path()) {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = info != nullptr
                               ? std::string(info->test_suite_name()) + "." + info->name()
                               : std::string("dbsafe");
        for (char& c : name) {
            if (c == '/') c = '_';
        }
        std::string pattern = (parent / ("dbsafe-" + name + "-XXXXXX")).string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        if (std::getenv("DBSAFE_KEEP_TEST_DIRS") == nullptr) {
            std::error_code ec;
            std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                         std::filesystem::perm_options::add, ec);
            std::filesystem::remove_all(path_, ec);
        }
    }
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] std::filesystem::path operator/(const std::string& name) const {
        return path_ / name;
    }

  private:
    std::filesystem::path path_;
};

}  // namespace dbsafe::test
