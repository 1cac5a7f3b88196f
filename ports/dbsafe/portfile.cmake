# Overlay port for dbsafe, built from this source tree:
#   vcpkg install dbsafe[zstd,sha256,pages,tools] --overlay-ports=<dbsafe>/ports
# The library is header-only; `sha256` adds the SHA-256 seal (OpenSSL), `tools` the dbsafe CLI
# (which can seal backups when both are on).
set(VCPKG_BUILD_TYPE release)  # nothing to build per configuration but the optional CLI

get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)

vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
    FEATURES
        zstd   DBSAFE_WITH_ZSTD
        sha256 DBSAFE_WITH_SHA256
        pages  DBSAFE_WITH_PAGES
        tools  DBSAFE_BUILD_TOOLS)

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        ${FEATURE_OPTIONS}
        -DDBSAFE_INSTALL=ON
        -DDBSAFE_BUILD_TESTS=OFF
        -DDBSAFE_BUILD_BENCHMARKS=OFF
        -DDBSAFE_BUILD_EXAMPLES=OFF)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/dbsafe)

if("tools" IN_LIST FEATURES)
    vcpkg_copy_tools(TOOL_NAMES dbsafe AUTO_CLEAN)
endif()
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/lib" "${CURRENT_PACKAGES_DIR}/bin")

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
if(EXISTS "${SOURCE_PATH}/LICENSE")
    vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
else()
    file(WRITE "${CURRENT_PACKAGES_DIR}/share/${PORT}/copyright"
         "dbsafe ${VERSION}: see README.md in the source tree for its terms.\n")
endif()
