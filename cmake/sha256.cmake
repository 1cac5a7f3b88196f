# dbsafe::sha256: the SHA-256 seal verifier (include/dbsafe/verify/sha256_seal.hpp). One
# INTERFACE target that adds OpenSSL's libcrypto; the core (dbsafe::dbsafe) never needs it, and
# OpenSSL is looked for only here, when this target is wanted (DBSAFE_WITH_SHA256).
find_package(OpenSSL COMPONENTS Crypto)
if(NOT TARGET OpenSSL::Crypto)
    message(STATUS "dbsafe: OpenSSL's libcrypto not found, the SHA-256 seal (dbsafe::sha256) "
                   "is not built")
    return()
endif()

add_library(dbsafe_sha256 INTERFACE)
add_library(dbsafe::sha256 ALIAS dbsafe_sha256)
target_link_libraries(dbsafe_sha256 INTERFACE dbsafe::dbsafe OpenSSL::Crypto)
# The header lives with the core's verifiers (dbsafe/verify/sha256_seal.hpp) but is installed
# only with this component (cmake/install.cmake).
