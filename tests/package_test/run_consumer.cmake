# Configures, builds and runs the consumer project against an installed dbsafe.
#   cmake -DPREFIX=... -DWORK=... -DMODE=core|zstd|sha256|pages|missing-component|unknown-component
#         -DREPO=<source dir> -DREADME=... -DSAMPLE=<dbsafe-sample> -DGENERATOR=... -DCXX=... -DBUILD_TYPE=...
#         -DCXX_FLAGS=... -DCXX_FLAGS_CONFIG=<flags of BUILD_TYPE> -P run_consumer.cmake
# MODE install: a fresh `cmake --install BUILD_DIR --prefix PREFIX` (the fixture's setup).
# MODE core: the quick start program extracted from README.md.
# MODE zstd: Conan's test_package/ (find_package ... COMPONENTS zstd), built with CMake alone.
# MODE sha256: sha256_consumer.cpp (find_package ... COMPONENTS sha256): a sealed backup.
# MODE pages: pages_consumer.cpp (find_package ... COMPONENTS pages): two page snapshots.
# MODE missing-component: the prefix without the zstd component; configuring must fail and say
#   how to get it. MODE unknown-component: COMPONENTS nosuch must fail and name it.
cmake_minimum_required(VERSION 3.20)

foreach(var PREFIX WORK MODE)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
    endif()
endforeach()
set(here ${CMAKE_CURRENT_LIST_DIR})

if(MODE STREQUAL "install")
    file(REMOVE_RECURSE ${PREFIX})  # no stale file from an earlier install may help a consumer
    set(config_args)
    if(CONFIG)
        set(config_args --config ${CONFIG})
    endif()
    execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} ${config_args}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "cmake --install ${BUILD_DIR} failed (is everything built?):\n${out}\n${err}")
    endif()
    # The installed CLI runs from the prefix and knows its version.
    execute_process(COMMAND ${PREFIX}/bin/dbsafe --version
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0 OR NOT out MATCHES "^dbsafe [0-9]+\\.[0-9]+\\.[0-9]+")
        message(FATAL_ERROR "${PREFIX}/bin/dbsafe --version failed (${rc}):\n${out}\n${err}")
    endif()
    return()
endif()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(prefix ${PREFIX})
set(components "")
set(expect_failure "")
set(expect_output "")
set(source "")
set(project_dir ${here}/consumer)
set(extra_args "")
set(executable consumer)

if(MODE STREQUAL "core")
    # The quick start between the markers in README.md, compiled exactly as printed.
    file(READ ${README} readme)
    string(REGEX MATCH "<!-- quickstart:begin -->[^`]*```cpp\n(.*)```[ \t\n]*<!-- quickstart:end -->"
           matched "${readme}")
    if(NOT matched)
        message(FATAL_ERROR "README.md has no ```cpp block between <!-- quickstart:begin --> "
                            "and <!-- quickstart:end -->")
    endif()
    file(WRITE ${WORK}/quickstart.cpp "${CMAKE_MATCH_1}")
    set(source ${WORK}/quickstart.cpp)
    set(expect_output "verified and restored; migration committed")
elseif(MODE STREQUAL "zstd")
    # Conan's test_package/ is a plain find_package project: build it against this prefix.
    set(project_dir ${REPO}/test_package)
    set(extra_args -DDBSAFE_TEST_ZSTD=ON)
    set(executable test_package)
    set(expect_output "zstd_archive: backup [^ ]+ verified")
elseif(MODE STREQUAL "sha256")
    set(source ${here}/sha256_consumer.cpp)
    set(components sha256)
    set(expect_output "sealed backup [^ ]+ verified: sha256 [0-9a-f]+")
elseif(MODE STREQUAL "pages")
    set(source ${here}/pages_consumer.cpp)
    set(components pages)
    set(expect_output "page snapshot [^ ]+ verified: [0-9]+ new pages")
elseif(MODE STREQUAL "missing-component")
    # A copy of the prefix whose package lacks the zstd component, as a build without libzstd
    # would install it.
    set(prefix ${WORK}/prefix-without-zstd)
    file(COPY ${PREFIX}/ DESTINATION ${prefix})
    file(GLOB_RECURSE zstd_exports ${prefix}/*/dbsafe-zstd-targets*.cmake)
    if(zstd_exports)  # absent already when this build has no zstd backend
        file(REMOVE ${zstd_exports})
    endif()
    set(components zstd)
    set(expect_failure "installed without its 'zstd' component")
elseif(MODE STREQUAL "unknown-component")
    set(components nosuch)
    set(expect_failure "dbsafe has no component 'nosuch'")
else()
    message(FATAL_ERROR "run_consumer.cmake: unknown MODE ${MODE}")
endif()

# The consumer is built with this build's flags for its configuration too (the ci preset's
# -O1, not CMake's default -O2 -g for RelWithDebInfo: the four consumers took 3.5 min of CPU).
set(config_flags)
if(BUILD_TYPE)
    string(TOUPPER "${BUILD_TYPE}" upper)
    set(config_flags "-DCMAKE_CXX_FLAGS_${upper}=${CXX_FLAGS_CONFIG}")
endif()
execute_process(
    COMMAND ${CMAKE_COMMAND} -S ${project_dir} -B ${WORK}/build -G ${GENERATOR}
            -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
            "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" ${config_flags} -DCMAKE_PREFIX_PATH=${prefix}
            -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
            -DCONSUMER_SOURCE=${source} "-DCONSUMER_COMPONENTS=${components}" ${extra_args}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(expect_failure)
    if(rc EQUAL 0)
        message(FATAL_ERROR "find_package(dbsafe COMPONENTS ${components}) succeeded; expected "
                            "it to fail with '${expect_failure}'.\n${out}")
    endif()
    string(REPLACE "\n" " " flat "${err}")
    string(REGEX REPLACE "[ \t]+" " " flat "${flat}")
    string(FIND "${flat}" "${expect_failure}" at)
    if(at EQUAL -1)
        message(FATAL_ERROR "find_package failed, but without saying '${expect_failure}':\n${err}")
    endif()
    message(STATUS "find_package failed as expected:\n${err}")
    return()
endif()
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "configuring the consumer failed:\n${out}\n${err}")
endif()
string(REGEX MATCH "consumer: dbsafe_DIR=([^\n]*)" found_line "${out}")
string(FIND "${CMAKE_MATCH_1}" "${prefix}" at)
if(NOT at EQUAL 0)
    message(FATAL_ERROR "find_package found dbsafe in '${CMAKE_MATCH_1}', not in ${prefix}")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK}/build
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "building the consumer against the installed package failed:\n${out}\n${err}")
endif()

# Run it on a real database, in a directory of its own (the quick start uses relative paths).
execute_process(COMMAND ${SAMPLE} ${WORK}/app.db --size-mib 1 --seed 8
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "dbsafe-sample failed:\n${out}\n${err}")
endif()
execute_process(COMMAND ${WORK}/build/${executable} app.db WORKING_DIRECTORY ${WORK}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "consumer output:\n${out}${err}")
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the consumer exited with ${rc}")
endif()
if(expect_output AND NOT out MATCHES "${expect_output}")
    message(FATAL_ERROR "the consumer succeeded but did not print '${expect_output}'")
endif()
