"""Conan 2 recipe for dbsafe: a header-only library, consumed with find_package.

    conan create . -o "dbsafe/*:with_zstd=True"       # builds and runs test_package/
    # consumer conanfile: requires("dbsafe/0.1.0"); generators CMakeDeps, CMakeToolchain
    find_package(dbsafe CONFIG REQUIRED)              # dbsafe::dbsafe
    find_package(dbsafe CONFIG REQUIRED COMPONENTS zstd)   # + dbsafe::zstd
    find_package(dbsafe CONFIG REQUIRED COMPONENTS sha256) # + dbsafe::sha256 (with_sha256)
    find_package(dbsafe CONFIG REQUIRED COMPONENTS pages)  # + dbsafe::pages (both options)

The requirements mirror the CMake package (cmake/dbsafeConfig.cmake.in); the suite's
package.recipes test keeps the two, and the version, in step.
"""
import os

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy
from conan.tools.layout import basic_layout

required_conan_version = ">=2.0"


class DbsafeConan(ConanFile):
    name = "dbsafe"
    version = "0.1.0"
    description = "Verified backups, safe restores and guarded migrations for SQLite"
    topics = ("sqlite", "backup", "restore", "migration", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {"with_zstd": [True, False], "with_sha256": [True, False]}
    # with_sha256 is off by default: it pulls in OpenSSL for an opt-in tamper-evidence seal.
    default_options = {"with_zstd": True, "with_sha256": False, "boost/*:header_only": True}
    exports_sources = \
        "include/*", "backends/zstd/include/*", "backends/sha256/include/*", \
        "backends/pages/include/*", "LICENSE*"
    no_copy_source = True

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        # transitive_headers: dbsafe's public headers include theirs.
        self.requires("sqlite3/[>=3.35 <4]", transitive_headers=True)
        self.requires("boost/[>=1.74 <2]", transitive_headers=True)  # Outcome only
        self.requires("nlohmann_json/[>=3.10 <4]", transitive_headers=True)
        self.requires("xxhash/[>=0.8 <0.9]", transitive_headers=True)
        if self.options.with_zstd:
            self.requires("zstd/[>=1.4 <2]", transitive_headers=True)
        if self.options.with_sha256:
            # EVP_MD_CTX_new/EVP_sha256: OpenSSL 1.1 and later.
            self.requires("openssl/[>=1.1 <4]", transitive_headers=True)

    def package_id(self):
        # The same headers for every configuration; the options only change package_info().
        self.info.clear()

    def validate(self):
        if self.settings.get_safe("compiler.cppstd"):
            check_min_cppstd(self, 20)
        if self.settings.os == "Windows":
            raise ConanInvalidConfiguration("dbsafe is POSIX-only for now (Linux, macOS)")

    def package(self):
        copy(self, "LICENSE*", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"),
             os.path.join(self.package_folder, "include"))
        for backend in ("zstd", "sha256", "pages"):  # each backend's headers, beside the core's
            copy(self, "*.hpp", os.path.join(self.source_folder, "backends", backend, "include"),
                 os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "dbsafe")
        # The aggregate target must not collide with the core component's dbsafe::dbsafe.
        self.cpp_info.set_property("cmake_target_name", "dbsafe::all")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []

        core = self.cpp_info.components["core"]
        core.set_property("cmake_target_name", "dbsafe::dbsafe")
        core.requires = ["sqlite3::sqlite3", "boost::headers", "nlohmann_json::nlohmann_json",
                         "xxhash::xxhash"]
        core.bindirs = []
        core.libdirs = []
        if self.settings.os in ("Linux", "FreeBSD"):
            core.system_libs = ["pthread"]  # Threads::Threads in the CMake package

        if self.options.with_zstd:
            backend = self.cpp_info.components["zstd"]
            backend.set_property("cmake_target_name", "dbsafe::zstd")
            backend.requires = ["core", "zstd::zstd"]
            backend.bindirs = []
            backend.libdirs = []

        if self.options.with_sha256:
            seal = self.cpp_info.components["sha256"]
            seal.set_property("cmake_target_name", "dbsafe::sha256")
            seal.requires = ["core", "openssl::crypto"]
            seal.bindirs = []
            seal.libdirs = []

        if self.options.with_zstd and self.options.with_sha256:
            # The page repository: zstd frames, pages addressed by OpenSSL's SHA-256.
            pages = self.cpp_info.components["pages"]
            pages.set_property("cmake_target_name", "dbsafe::pages")
            pages.requires = ["core", "zstd", "zstd::zstd", "openssl::crypto"]
            pages.bindirs = []
            pages.libdirs = []
