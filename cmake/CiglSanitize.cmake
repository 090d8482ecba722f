# CIGL_SANITIZE: every target (core, plugins, fixtures, tests, tools) with
# AddressSanitizer and UndefinedBehaviorSanitizer. CIGL_FUZZ: also the
# coverage instrumentation libFuzzer needs, and fuzz/ linked to libFuzzer.
# Both need clang (Debian's clang-14 with libclang-rt-14-dev), and the whole
# tree must be one compiler: the plugin fingerprint names it.
# scripts/sanitize.sh and scripts/fuzz.sh configure build-asan/ this way;
# docs/testing.md says why each flag is there.
if(NOT CIGL_SANITIZE AND NOT CIGL_FUZZ)
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR
    "CIGL_SANITIZE and CIGL_FUZZ need clang (libFuzzer): configure a fresh "
    "build folder with -DCMAKE_CXX_COMPILER=clang++-14")
endif()
if(CIGL_SANITIZE)
  # vptr and function checks compare type_info across shared objects;
  # plugins are loaded RTLD_LOCAL with hidden visibility, so these would
  # report false mismatches. Any other UB stops the process.
  set(cigl_sanitize_flags
    -fsanitize=address,undefined -fno-sanitize=vptr,function
    -fno-sanitize-recover=undefined)
  add_compile_options(${cigl_sanitize_flags} -fno-omit-frame-pointer
                      -gline-tables-only)
  add_link_options(${cigl_sanitize_flags})
endif()
if(CIGL_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
