# Warnings at zero with -Wall -Wextra on project code; LibTorch and Boost
# headers come in as system headers so their warnings stay theirs.
function(cigl_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  # LibTorch 2.x compiles its users as C++20, where GCC 12 reports
  # -Wstringop-overflow and -Warray-bounds on inlined constexpr
  # std::string concatenation ("text" + std::string) that cannot overflow
  # (GCC bug 105651, fixed in GCC 13); with LibTorch 1.x (C++17) the same
  # code is silent.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND
     CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13 AND
     Torch_VERSION VERSION_GREATER_EQUAL 2)
    target_compile_options(${target} PRIVATE -Wno-stringop-overflow
                                             -Wno-array-bounds)
  endif()
endfunction()
