# cmake -DVERSION=X.Y.Z -DSOURCE_DIR=DIR -P check_versions.cmake
# The version is set once, in project(VERSION) (the binary's --version and popgate_build_info
# come from it); the files that must repeat it for their own tools are checked here, so a
# release bump that misses one fails the unit tests instead of shipping two versions.
function(expect_version file regex)
  file(STRINGS "${SOURCE_DIR}/${file}" lines REGEX "${regex}" LIMIT_COUNT 1)
  if(NOT lines)
    message(SEND_ERROR "${file}: no line matching '${regex}'")
    return()
  endif()
  string(REGEX MATCH "${regex}" _ "${lines}")
  if(NOT CMAKE_MATCH_1 STREQUAL VERSION)
    message(SEND_ERROR "${file}: version '${CMAKE_MATCH_1}', but CMakeLists.txt project(VERSION)"
                       " is '${VERSION}'; bump them together")
  endif()
endfunction()

# The upstream part of the newest entry: "popgate (0.1.0-1) unstable; urgency=medium".
expect_version(debian/changelog "^popgate \\(([0-9.]+)-[^)]*\\)")
expect_version(CHANGELOG.md "^## ([0-9.]+)")
expect_version(man/popgate.8 "^\\.TH POPGATE 8 [^ ]+ \"popgate ([0-9.]+)\"")
expect_version(man/popgate.toml.5 "^\\.TH POPGATE\\.TOML 5 [^ ]+ \"popgate ([0-9.]+)\"")
