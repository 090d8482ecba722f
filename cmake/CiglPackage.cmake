# The installed SDK as a CMake package: `find_package(cigl)` with
# CMAKE_PREFIX_PATH at the install prefix finds <prefix>/lib/cmake/cigl.
include(CMakePackageConfigHelpers)

set(CIGL_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/cigl)
set(CIGL_PLUGIN_SUBDIR ${CMAKE_INSTALL_LIBDIR}/cigl/plugins)
file(STRINGS ${CMAKE_SOURCE_DIR}/framework/include/cigl/plugin.hpp api_line
     REGEX "^#define CIGL_PLUGIN_API_VERSION [0-9]+")
string(REGEX MATCH "[0-9]+$" CIGL_PLUGIN_API_VERSION "${api_line}")
string(REGEX MATCH "^[0-9]+" CIGL_CXX_COMPILER_MAJOR "${CMAKE_CXX_COMPILER_VERSION}")
# The real compiler, not /usr/bin/c++, which an alternatives switch moves.
get_filename_component(CIGL_CXX_COMPILER ${CMAKE_CXX_COMPILER} REALPATH)

install(EXPORT ciglTargets
  NAMESPACE cigl::
  DESTINATION ${CIGL_CMAKE_INSTALL_DIR})
configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/ciglConfig.cmake.in
  ${CMAKE_BINARY_DIR}/ciglConfig.cmake
  INSTALL_DESTINATION ${CIGL_CMAKE_INSTALL_DIR}
  PATH_VARS CIGL_PLUGIN_SUBDIR)
# 0.x: a minor release may change the plugin API, so only the same minor
# version is compatible.
write_basic_package_version_file(
  ${CMAKE_BINARY_DIR}/ciglConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_BINARY_DIR}/ciglConfig.cmake
  ${CMAKE_BINARY_DIR}/ciglConfigVersion.cmake
  ${CMAKE_CURRENT_LIST_DIR}/CiglPlugin.cmake
  DESTINATION ${CIGL_CMAKE_INSTALL_DIR})
