# Warnings at zero with -Wall -Wextra on project code; LibTorch and Boost
# headers come in as system headers so their warnings stay theirs.
function(cigl_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
endfunction()
