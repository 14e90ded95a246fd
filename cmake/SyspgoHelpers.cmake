# SPDX-License-Identifier: Apache-2.0
# Shared compile settings for syspgo's own targets.

# Warnings are errors in our code (not in system headers).
set(SYSPGO_WARNINGS -Wall -Wextra -Werror -Wno-unused-parameter
    -Wno-missing-field-initializers)
# The product's code (not its tests) also: no shadowed names, no silent
# narrowing or integer-to-floating conversions. Sign conversions are left
# out: sizes cross between size_t, off_t and the kernel's int APIs at
# checked boundaries everywhere, and the casts would hide nothing.
set(SYSPGO_STRICT_WARNINGS ${SYSPGO_WARNINGS} -Wshadow -Wconversion -Wno-sign-conversion)

set(SYSPGO_SANITIZER_FLAGS "")
if(SYSPGO_SANITIZE)
  set(SYSPGO_SANITIZER_FLAGS -fsanitize=address,undefined
      -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_compile_options(${SYSPGO_SANITIZER_FLAGS})
  add_link_options(${SYSPGO_SANITIZER_FLAGS})
endif()

# ThreadSanitizer, for the tests of the concurrent fetch code (make test
# builds fs_test this way).
if(SYSPGO_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()

# Fuzzing instruments every library for coverage, not only the targets.
if(SYSPGO_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# syspgo_library(NAME SOURCES... DEPS ...)
function(syspgo_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${SYSPGO_STRICT_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# syspgo_test(NAME SOURCES... DEPS ... LABELS ...)
# Unit tests are labelled "unit"; tests that need root, a registry, runc or
# the kernel are labelled "integration".
function(syspgo_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${SYSPGO_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  gtest_discover_tests(${name} PROPERTIES LABELS "${ARG_LABELS}"
                       DISCOVERY_TIMEOUT 60)
endfunction()
