# Finds LibTorch from Debian's libtorch-dev or from the `torch` wheel of
# PyPI (CMAKE_PREFIX_PATH = torch.utils.cmake_prefix_path), and says what
# was found:
#   CIGL_TORCH_SOURCE   "pip" (a Python site-packages folder) or "system"
#   CIGL_TORCH_CUDA     ON when this LibTorch has CUDA (the wheel)
#   CIGL_TORCH_PYTHON   the Python whose `import torch` is this LibTorch
#                       (the wheel's virtual environment, or Debian's
#                       /usr/bin/python3 with python3-torch), for the
#                       model.pt interop test
#
# The wheel is CUDA-enabled, and its CMake config enables the CUDA
# language: it needs the CUDA toolkit (nvcc), of a major version the
# wheel's libraries run with. nvcc is looked for on PATH, then in CUDA_HOME
# and /usr/local/cuda, so a toolkit installed in the usual place is found
# without setting anything. cigl itself compiles no CUDA code.
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
  find_program(CIGL_NVCC nvcc
    HINTS ENV CUDA_HOME ENV CUDA_PATH
    PATHS /usr/local/cuda
    PATH_SUFFIXES bin)
  if(CIGL_NVCC)
    set(CMAKE_CUDA_COMPILER ${CIGL_NVCC} CACHE FILEPATH "nvcc for LibTorch's CUDA config")
    get_filename_component(cigl_cuda_root ${CIGL_NVCC} DIRECTORY)
    get_filename_component(cigl_cuda_root ${cigl_cuda_root} DIRECTORY)
    if(NOT DEFINED CUDA_TOOLKIT_ROOT_DIR)
      set(CUDA_TOOLKIT_ROOT_DIR ${cigl_cuda_root} CACHE PATH "the CUDA toolkit")
    endif()
  endif()
endif()

# TorchConfig.cmake finds its libraries with find_library(... PATHS
# <torch>/lib), which searches the system folders first: with Debian's
# libtorch-dev installed too, a wheel's config would take Debian's
# libtorch.so. The wheel's package folder goes first on the prefix path.
foreach(cigl_prefix IN LISTS CMAKE_PREFIX_PATH)
  if(cigl_prefix MATCHES "^(.*/site-packages/torch)/share/cmake/?$")
    list(PREPEND CMAKE_PREFIX_PATH ${CMAKE_MATCH_1})
    break()
  endif()
endforeach()
find_package(Torch REQUIRED)
if(TORCH_LIBRARY AND Torch_DIR MATCHES "^(.*/site-packages/torch)/" AND
   NOT TORCH_LIBRARY MATCHES "^${CMAKE_MATCH_1}/")
  message(FATAL_ERROR "LibTorch's config in ${Torch_DIR} found another "
    "LibTorch's library ${TORCH_LIBRARY}; configure in a fresh build folder "
    "with -DCMAKE_PREFIX_PATH=<torch.utils.cmake_prefix_path>")
endif()
message(STATUS "LibTorch ${Torch_VERSION} from ${Torch_DIR}")

if(Torch_DIR MATCHES "^(.*)/lib/python[0-9.]+/site-packages/torch/")
  set(CIGL_TORCH_SOURCE pip)
  set(cigl_python_prefix ${CMAKE_MATCH_1})
else()
  set(CIGL_TORCH_SOURCE system)
  set(cigl_python_prefix "")
endif()
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(CIGL_TORCH_CUDA ON)
else()
  set(CIGL_TORCH_CUDA OFF)
endif()

# The wheel's CUDA libraries (site-packages/nvidia/*/lib) are the ones
# libtorch_cuda.so runs with, found through its own RUNPATH. At link time
# the toolkit's folder comes first (it is on the link line for cudart), and
# a toolkit's NCCL older than the wheel's lacks symbols libtorch_cuda.so
# needs: `-rpath-link` makes the linker look in the wheel's folders first.
# The cigl target carries the options to everything that links it,
# out-of-tree plugins included.
set(CIGL_TORCH_LINK_OPTIONS "")
if(CIGL_TORCH_SOURCE STREQUAL "pip" AND CIGL_TORCH_CUDA AND
   Torch_DIR MATCHES "^(.*/site-packages)/torch/")
  file(GLOB cigl_wheel_cuda_dirs LIST_DIRECTORIES true
       "${CMAKE_MATCH_1}/nvidia/*/lib")
  foreach(cigl_dir IN LISTS cigl_wheel_cuda_dirs)
    list(APPEND CIGL_TORCH_LINK_OPTIONS "LINKER:-rpath-link,${cigl_dir}")
  endforeach()
endif()

if(NOT DEFINED CIGL_TORCH_PYTHON)
  if(cigl_python_prefix AND EXISTS ${cigl_python_prefix}/bin/python)
    set(cigl_python ${cigl_python_prefix}/bin/python)
  else()
    set(cigl_python /usr/bin/python3)
  endif()
  set(CIGL_TORCH_PYTHON ${cigl_python} CACHE FILEPATH
      "Python with the torch of this LibTorch (tests: model.pt in PyTorch)")
endif()
message(STATUS "LibTorch source: ${CIGL_TORCH_SOURCE}, CUDA: ${CIGL_TORCH_CUDA}, "
               "its Python: ${CIGL_TORCH_PYTHON}")
