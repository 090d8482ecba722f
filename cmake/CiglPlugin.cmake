# cigl_add_plugin(<name> KIND <kind> SOURCES <files...>)
#
# Builds one plugin: a MODULE library libcigl_<kind>_<name>.so linked to
# cigl::cigl, and installs it into the plugin folder of the install prefix.
# <kind> is method, model, dataset, metric, distribution, schedule or
# optimizer; it only names the file (a plugin may register components of
# any kind).
#
# The same file serves the cigl tree and the installed SDK
# (find_package(cigl)):
# - in the tree the library lands in the build tree's plugin folder
#   (CIGL_BUILD_PLUGIN_DIR), with the project's warnings and precompiled
#   header;
# - out of the tree it lands in CIGL_PLUGIN_OUTPUT_DIR (default
#   ${CMAKE_BINARY_DIR}/plugins), the folder to give cigl-run through
#   CIGL_PLUGIN_PATH or [plugins] paths. Plugins must be compiled by the
#   compiler family and major version that built cigl (part of the build
#   fingerprint the loader checks), so a mismatch stops here instead.
function(cigl_add_plugin name)
  cmake_parse_arguments(ARG "" "KIND" "SOURCES" ${ARGN})
  if(NOT ARG_KIND OR NOT ARG_SOURCES)
    message(FATAL_ERROR "cigl_add_plugin(${name}): KIND and SOURCES are required")
  endif()
  set(target cigl_${ARG_KIND}_${name})

  if(DEFINED CIGL_BUILD_PLUGIN_DIR)
    set(output_dir ${CIGL_BUILD_PLUGIN_DIR})
  elseif(DEFINED CIGL_PLUGIN_OUTPUT_DIR)
    set(output_dir ${CIGL_PLUGIN_OUTPUT_DIR})
  else()
    set(output_dir ${CMAKE_BINARY_DIR}/plugins)
  endif()
  if(DEFINED CIGL_PLUGIN_INSTALL_DIR)  # set by ciglConfig.cmake
    set(install_dir ${CIGL_PLUGIN_INSTALL_DIR})
  else()
    set(install_dir ${CMAKE_INSTALL_LIBDIR}/cigl/plugins)
  endif()

  if(DEFINED CIGL_CXX_COMPILER_ID)  # the installed SDK
    string(REGEX MATCH "^[0-9]+" major "${CMAKE_CXX_COMPILER_VERSION}")
    if(NOT CMAKE_CXX_COMPILER_ID STREQUAL CIGL_CXX_COMPILER_ID OR
       NOT major STREQUAL CIGL_CXX_COMPILER_MAJOR)
      message(FATAL_ERROR
        "cigl_add_plugin(${name}): cigl (${cigl_DIR}) was built with "
        "${CIGL_CXX_COMPILER_ID} ${CIGL_CXX_COMPILER_MAJOR} "
        "(${CIGL_CXX_COMPILER}), this build uses ${CMAKE_CXX_COMPILER_ID} "
        "${major}, and cigl-run refuses a plugin whose build fingerprint "
        "names another compiler. Configure this project again in a fresh "
        "build folder with -DCMAKE_CXX_COMPILER=${CIGL_CXX_COMPILER}.")
    endif()
  endif()

  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE cigl::cigl)
  # Hidden by default: only the entry point CIGL_PLUGIN defines is
  # exported, so two plugins' helpers never shadow each other.
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${output_dir}
    INSTALL_RPATH_USE_LINK_PATH ON)
  if(COMMAND cigl_set_warnings)
    cigl_set_warnings(${target})
  endif()
  if(COMMAND cigl_use_pch)
    cigl_use_pch(${target})
  endif()
  if(TARGET cigl_plugins)
    add_dependencies(cigl_plugins ${target})
  endif()
  install(TARGETS ${target} LIBRARY DESTINATION ${install_dir})
endfunction()
