# Findzstd: the one place where dbsafe normalises libzstd to the target `zstd::libzstd`.
#
# libzstd's own CMake package names its targets differently across versions: Debian 12's 1.5.4
# exports only zstd::libzstd_shared / zstd::libzstd_static, 1.5.6+ adds zstd::libzstd, and some
# distributions ship no package at all. This module (found before the package because dbsafe
# puts cmake/ on CMAKE_MODULE_PATH, and installed beside dbsafeConfig.cmake for consumers) tries
# the package first, then falls back to a plain header + library search.
if(TARGET zstd::libzstd)
    set(zstd_FOUND TRUE)
    return()
endif()

find_package(zstd CONFIG QUIET)
if(NOT TARGET zstd::libzstd)
    if(TARGET zstd::libzstd_shared)
        add_library(zstd::libzstd INTERFACE IMPORTED)
        set_target_properties(zstd::libzstd PROPERTIES INTERFACE_LINK_LIBRARIES zstd::libzstd_shared)
    elseif(TARGET zstd::libzstd_static)
        add_library(zstd::libzstd INTERFACE IMPORTED)
        set_target_properties(zstd::libzstd PROPERTIES INTERFACE_LINK_LIBRARIES zstd::libzstd_static)
    else()
        find_path(zstd_INCLUDE_DIR NAMES zstd.h)
        find_library(zstd_LIBRARY NAMES zstd libzstd zstd_static)
        mark_as_advanced(zstd_INCLUDE_DIR zstd_LIBRARY)
        if(zstd_INCLUDE_DIR AND zstd_LIBRARY)
            add_library(zstd::libzstd UNKNOWN IMPORTED)
            set_target_properties(zstd::libzstd PROPERTIES
                IMPORTED_LOCATION "${zstd_LIBRARY}"
                INTERFACE_INCLUDE_DIRECTORIES "${zstd_INCLUDE_DIR}")
        endif()
    endif()
endif()

if(TARGET zstd::libzstd)
    set(zstd_TARGET zstd::libzstd)
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(zstd REQUIRED_VARS zstd_TARGET)
