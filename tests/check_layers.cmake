# The layers of dbsafe's headers, checked by ctest (layers.hold):
#   cmake -DROOT=<dbsafe source dir> -P tests/check_layers.cmake
#
# A header includes headers of its own layer and of the layers below it, never above
# (docs/concepts.md, "Layers"):
#   0 error model  error.hpp error_name.hpp progress.hpp version.hpp
#   1 detail       detail/: operating-system, SQLite and VFS plumbing; knows only the error model
#   2 vocabulary   the values every policy speaks: ids, kinds, checksums, the manifest, units
#   3 policies     snapshot/ verify/ retention/ schema/ storage/: each folder stands alone (no
#                  policy folder includes another)
#   4 composition  the operations that combine policies: vault, restore, prune, health, ...
#   5 backends     backends/<name>/include: the core's public headers (for files, the
#                  storage/file_operations.hpp extension point), never detail/ nor another
#                  backend, except one it is built on (its CMake target links that backend's):
#                  those pairs are listed in `backend_builds_on` below
# Every header must have a layer: a new header at the top of include/dbsafe/ is placed in one
# of the lists below (and in docs/concepts.md), which is how the layering stays visible.
#
# With -DSELF_TEST=ON it runs itself on tests/layers_fixture, a tree that breaks each rule
# once, and fails unless every break is reported (layers.detects_breaks).
cmake_minimum_required(VERSION 3.20)
if(SELF_TEST)
    execute_process(COMMAND ${CMAKE_COMMAND} -DROOT=${CMAKE_CURRENT_LIST_DIR}/layers_fixture
                            -P ${CMAKE_CURRENT_LIST_FILE}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    set(expected
        "dbsafe/detail/reaches_up.hpp includes dbsafe/manifest.hpp: it reaches up from the detail layer to the vocabulary layer"
        "dbsafe/verify/tied.hpp includes dbsafe/storage/storage_target.hpp: it ties the verify/ policy to the storage/ policy"
        "dbsafe/backends/fake.hpp includes dbsafe/detail/posix_file.hpp: it is a backend reaching into detail/"
        "dbsafe/unplaced.hpp has no layer"
        "4 problem\\(s\\) with the layers")
    if(rc EQUAL 0)
        message(FATAL_ERROR "the fixture's broken layers passed the check:\n${out}")
    endif()
    string(REGEX REPLACE "[ \t\r\n]+" " " flat "${out}")
    foreach(e IN LISTS expected)
        if(NOT flat MATCHES "${e}")
            message(FATAL_ERROR "not reported: ${e}\nthe check said:\n${out}")
        endif()
    endforeach()
    message(STATUS "every break in tests/layers_fixture is reported")
    return()
endif()
if(NOT DEFINED ROOT)
    message(FATAL_ERROR "usage: cmake -DROOT=<dbsafe source dir> -P check_layers.cmake")
endif()

set(layer_names "error model" detail vocabulary policies composition backends)
set(error_model error.hpp error_name.hpp progress.hpp version.hpp)
set(vocabulary backup_kind.hpp backup_id.hpp checksum.hpp manifest.hpp parse_units.hpp
    database_ref.hpp database_connection.hpp free_space.hpp snapshot_sink.hpp)
set(policy_folders snapshot verify retention schema storage)
# <backend>:<backend it decorates>. The page repository decorates the zstd archive (one
# directory reads plain, zstd and page backups), and dbsafe::pages links dbsafe::zstd.
set(backend_builds_on "pages:zstd")
set(composition vault.hpp restore.hpp restore_file.hpp migration_guard.hpp migration_record.hpp
    prune.hpp health.hpp backup_async.hpp source_identity.hpp vault_like.hpp vault_options.hpp
    dbsafe.hpp)

# `name` is an include name (dbsafe/...). Sets <out>_layer (index into layer_names, or -1 when
# the header has none) and <out>_group (the policy folder or the backend; empty otherwise).
function(classify name out)
    set(layer -1)
    set(group "")
    file(GLOB backend_dirs LIST_DIRECTORIES true ${ROOT}/backends/*)
    foreach(dir IN LISTS backend_dirs)
        if(EXISTS ${dir}/include/${name})
            set(layer 5)
            get_filename_component(group ${dir} NAME)
        endif()
    endforeach()
    string(REGEX REPLACE "^dbsafe/" "" rel "${name}")
    string(REGEX MATCH "^[^/]+/" folder "${rel}")
    string(REGEX REPLACE "/$" "" folder "${folder}")
    if(layer EQUAL 5)
    elseif(rel IN_LIST error_model)
        set(layer 0)
    elseif(folder STREQUAL "detail")
        set(layer 1)
    elseif(rel IN_LIST vocabulary)
        set(layer 2)
    elseif(folder AND folder IN_LIST policy_folders)
        set(layer 3)
        set(group ${folder})
    elseif(rel IN_LIST composition)
        set(layer 4)
    endif()
    set(${out}_layer ${layer} PARENT_SCOPE)
    set(${out}_group "${group}" PARENT_SCOPE)
endfunction()

set(headers)
file(GLOB_RECURSE core RELATIVE ${ROOT}/include ${ROOT}/include/dbsafe/*.hpp)
foreach(h IN LISTS core)
    list(APPEND headers "${ROOT}/include|${h}")
endforeach()
file(GLOB backend_dirs LIST_DIRECTORIES true ${ROOT}/backends/*)
foreach(dir IN LISTS backend_dirs)
    file(GLOB_RECURSE own RELATIVE ${dir}/include ${dir}/include/dbsafe/*.hpp)
    foreach(h IN LISTS own)
        list(APPEND headers "${dir}/include|${h}")
    endforeach()
endforeach()

set(problems)
set(checked 0)
foreach(entry IN LISTS headers)
    string(REPLACE "|" ";" parts "${entry}")
    list(GET parts 0 base)
    list(GET parts 1 name)
    math(EXPR checked "${checked} + 1")
    classify(${name} self)
    if(self_layer EQUAL -1)
        string(CONCAT problem "${name} has no layer: add it to a list in "
                              "tests/check_layers.cmake and to docs/concepts.md (Layers)")
        list(APPEND problems "${problem}")
        continue()
    endif()
    list(GET layer_names ${self_layer} self_name)
    file(STRINGS ${base}/${name} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]dbsafe/")
    foreach(line IN LISTS lines)
        string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"](dbsafe/[^>\"]+)[>\"].*$" "\\1"
                             included "${line}")
        classify(${included} dep)
        if(dep_layer EQUAL -1)
            continue()  # reported as a header without a layer, or not dbsafe's
        endif()
        list(GET layer_names ${dep_layer} dep_name)
        set(why "")
        if(dep_layer GREATER self_layer)
            set(why "reaches up from the ${self_name} layer to the ${dep_name} layer: move the "
                    "shared piece down, or this header up")
        elseif(self_layer EQUAL 3 AND dep_layer EQUAL 3 AND NOT self_group STREQUAL dep_group)
            set(why "ties the ${self_group}/ policy to the ${dep_group}/ policy: policies stand "
                    "alone, so move the shared piece down to the vocabulary")
        elseif(self_layer EQUAL 5 AND dep_layer EQUAL 1)
            set(why "is a backend reaching into detail/: use the public API (for files, "
                    "dbsafe/storage/file_operations.hpp)")
        elseif(self_layer EQUAL 5 AND dep_layer EQUAL 5 AND NOT self_group STREQUAL dep_group
               AND NOT "${self_group}:${dep_group}" IN_LIST backend_builds_on)
            set(why "ties the ${self_group} backend to the ${dep_group} backend")
        endif()
        if(why)
            string(CONCAT problem "${name} includes ${included}: it " ${why})
            list(APPEND problems "${problem}")
        endif()
    endforeach()
endforeach()

if(problems)
    list(LENGTH problems count)
    list(JOIN problems "\n  " text)
    message(FATAL_ERROR "${count} problem(s) with the layers (tests/check_layers.cmake):\n"
                        "  ${text}")
endif()
message(STATUS "${checked} headers, every include within its layer or below")
