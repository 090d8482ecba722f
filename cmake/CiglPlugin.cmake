# cigl_add_plugin(<name> KIND <kind> SOURCES <files...>)
# Builds one plugin shared library named cigl_<kind>_<name> into the build
# tree's plugin folder and installs it under lib/cigl/plugins.
function(cigl_add_plugin name)
  cmake_parse_arguments(ARG "" "KIND" "SOURCES" ${ARGN})
  if(NOT ARG_KIND OR NOT ARG_SOURCES)
    message(FATAL_ERROR "cigl_add_plugin(${name}): KIND and SOURCES are required")
  endif()
  set(target cigl_${ARG_KIND}_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE cigl::cigl)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY ${CIGL_BUILD_PLUGIN_DIR})
  if(COMMAND cigl_set_warnings)
    cigl_set_warnings(${target})
  endif()
  if(COMMAND cigl_use_pch)
    cigl_use_pch(${target})
  endif()
  install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/cigl/plugins)
endfunction()
