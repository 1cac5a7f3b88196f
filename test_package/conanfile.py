"""`conan create` builds this against the freshly created dbsafe package, with find_package."""
import os

from conan import ConanFile
from conan.tools.build import can_run
from conan.tools.cmake import CMake, cmake_layout


class DbsafeTestConan(ConanFile):
    settings = "os", "arch", "compiler", "build_type"
    generators = "CMakeDeps", "CMakeToolchain"

    def requirements(self):
        self.requires(self.tested_reference_str)

    def layout(self):
        cmake_layout(self)

    def build(self):
        cmake = CMake(self)
        with_zstd = bool(self.dependencies["dbsafe"].options.with_zstd)
        cmake.configure(variables={"DBSAFE_TEST_ZSTD": "ON" if with_zstd else "OFF"})
        cmake.build()

    def test(self):
        if can_run(self):
            cmake_binary = os.path.join(self.cpp.build.bindir, "test_package")
            self.run(cmake_binary, env="conanrun")
