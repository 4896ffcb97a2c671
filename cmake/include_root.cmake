# Each part of popgate gets an include root of its own, holding nothing but that part's folder
# (a symlink under the build tree). A target sees a header only through the targets it links,
# so a core that includes another core's header fails to build (SPEC section 1), instead of
# compiling because the project root happens to be on every include path.
#
#   popgate_include_root(popgate_pop3 PUBLIC)   # exports proxy/pop3 as "proxy/pop3/..."
function(popgate_include_root target scope)
  file(RELATIVE_PATH folder ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  set(root ${PROJECT_BINARY_DIR}/include_roots/${target})
  get_filename_component(parent ${root}/${folder} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  if(NOT EXISTS ${root}/${folder})
    file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${root}/${folder} SYMBOLIC)
  endif()
  target_include_directories(${target} ${scope} ${root})
endfunction()
