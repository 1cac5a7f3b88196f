# Finds xxhash.h. dbsafe uses xxHash header-only (XXH_INLINE_ALL), so only the header matters;
# Debian's libxxhash-dev ships no CMake package, Conan's and vcpkg's do (xxHash::xxhash).
if(TARGET xxHash::xxhash)
    set(xxHash_FOUND TRUE)
    return()
endif()
find_path(xxHash_INCLUDE_DIR NAMES xxhash.h)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(xxHash REQUIRED_VARS xxHash_INCLUDE_DIR)
if(xxHash_FOUND AND NOT TARGET xxHash::xxhash)
    add_library(xxHash::xxhash INTERFACE IMPORTED)
    set_target_properties(xxHash::xxhash PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${xxHash_INCLUDE_DIR}")
endif()
mark_as_advanced(xxHash_INCLUDE_DIR)
