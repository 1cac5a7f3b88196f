# Install rules and the CMake config package:
#   find_package(dbsafe CONFIG REQUIRED [COMPONENTS zstd sha256 pages])
#       ->  dbsafe::dbsafe [, dbsafe::zstd] [, dbsafe::sha256] [, dbsafe::pages]
#
# Layout under the prefix:
#   include/dbsafe/...                       the core headers
#   include/dbsafe/backends/...              each backend's headers, with its component
#   bin/dbsafe                               the CLI (tools/CMakeLists.txt)
#   share/cmake/dbsafe/dbsafeConfig.cmake    + version file, FindxxHash.cmake, Findzstd.cmake,
#                                            dbsafe-targets.cmake, dbsafe-zstd-targets.cmake,
#                                            dbsafe-sha256-targets.cmake,
#                                            dbsafe-pages-targets.cmake
# The config lives under share/: the library is header-only, so the package is the same for
# every architecture (ARCH_INDEPENDENT version file).
include(CMakePackageConfigHelpers)

option(DBSAFE_INSTALL "Generate the install rules and the CMake package" ${DBSAFE_TOP_LEVEL})
if(NOT DBSAFE_INSTALL)
    return()
endif()

set(DBSAFE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_DATADIR}/cmake/dbsafe
    CACHE STRING "Where dbsafeConfig.cmake is installed, relative to the prefix")

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/dbsafe
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT dbsafe_development
        FILES_MATCHING PATTERN "*.hpp")

install(TARGETS dbsafe EXPORT dbsafe-targets)
install(EXPORT dbsafe-targets
        NAMESPACE dbsafe::
        FILE dbsafe-targets.cmake
        DESTINATION ${DBSAFE_INSTALL_CMAKEDIR}
        COMPONENT dbsafe_development)

# Backends: each is an optional component with its own export set, so a consumer that does not
# ask for it never needs its dependency. The backend's CMakeLists installs its headers
# (backends/<name>/CMakeLists.txt).
if(TARGET dbsafe::zstd)
    get_target_property(dbsafe_zstd_target dbsafe::zstd ALIASED_TARGET)
    if(NOT dbsafe_zstd_target)
        set(dbsafe_zstd_target dbsafe::zstd)
    endif()
    set_target_properties(${dbsafe_zstd_target} PROPERTIES EXPORT_NAME zstd)
    install(TARGETS ${dbsafe_zstd_target} EXPORT dbsafe-zstd-targets)
    install(EXPORT dbsafe-zstd-targets
            NAMESPACE dbsafe::
            FILE dbsafe-zstd-targets.cmake
            DESTINATION ${DBSAFE_INSTALL_CMAKEDIR}
            COMPONENT dbsafe_development)
    # The backend found libzstd through this module; consumers must get the same zstd::libzstd.
    install(FILES ${PROJECT_SOURCE_DIR}/cmake/Findzstd.cmake
            DESTINATION ${DBSAFE_INSTALL_CMAKEDIR}
            COMPONENT dbsafe_development)
endif()

# The SHA-256 seal (backends/sha256): same shape.
if(TARGET dbsafe::sha256)
    get_target_property(dbsafe_sha256_target dbsafe::sha256 ALIASED_TARGET)
    if(NOT dbsafe_sha256_target)
        set(dbsafe_sha256_target dbsafe::sha256)
    endif()
    set_target_properties(${dbsafe_sha256_target} PROPERTIES EXPORT_NAME sha256)
    install(TARGETS ${dbsafe_sha256_target} EXPORT dbsafe-sha256-targets)
    install(EXPORT dbsafe-sha256-targets
            NAMESPACE dbsafe::
            FILE dbsafe-sha256-targets.cmake
            DESTINATION ${DBSAFE_INSTALL_CMAKEDIR}
            COMPONENT dbsafe_development)
endif()

# The page repository (backends/pages): same shape; it links dbsafe::zstd and OpenSSL::Crypto.
if(TARGET dbsafe::pages)
    get_target_property(dbsafe_pages_target dbsafe::pages ALIASED_TARGET)
    if(NOT dbsafe_pages_target)
        set(dbsafe_pages_target dbsafe::pages)
    endif()
    set_target_properties(${dbsafe_pages_target} PROPERTIES EXPORT_NAME pages)
    install(TARGETS ${dbsafe_pages_target} EXPORT dbsafe-pages-targets)
    install(EXPORT dbsafe-pages-targets
            NAMESPACE dbsafe::
            FILE dbsafe-pages-targets.cmake
            DESTINATION ${DBSAFE_INSTALL_CMAKEDIR}
            COMPONENT dbsafe_development)
endif()

configure_package_config_file(
    ${PROJECT_SOURCE_DIR}/cmake/dbsafeConfig.cmake.in
    ${PROJECT_BINARY_DIR}/cmake/dbsafeConfig.cmake
    INSTALL_DESTINATION ${DBSAFE_INSTALL_CMAKEDIR})
write_basic_package_version_file(
    ${PROJECT_BINARY_DIR}/cmake/dbsafeConfigVersion.cmake
    VERSION ${PROJECT_VERSION}
    COMPATIBILITY SameMajorVersion
    ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/cmake/dbsafeConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/dbsafeConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FindxxHash.cmake
        DESTINATION ${DBSAFE_INSTALL_CMAKEDIR}
        COMPONENT dbsafe_development)
