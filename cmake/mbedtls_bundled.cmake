# The bundled mbedTLS (POPGATE_MBEDTLS=bundled): Debian 13's mbedtls 3.6 source package, built
# here with popgate's configuration (tls/mbedtls_config.h) into static libraries that only
# popgate links. Nothing is installed: the Everest option changes struct layouts, so these
# objects must never stand in for the distribution's shared library.
#
# scripts/setup fetches and unpacks the source package (apt-get source, Debian's patches
# applied) into a cache outside the clone and points POPGATE_CACHE/mbedtls/source at it.
#
# Defines the INTERFACE target mbedtls_all (what tls/ links), as the system branch does.

set(_popgate_cache "/var/cache/popgate")
if(DEFINED ENV{POPGATE_CACHE})
  set(_popgate_cache "$ENV{POPGATE_CACHE}")
endif()
set(POPGATE_MBEDTLS_SOURCE_DIR "${_popgate_cache}/mbedtls/source" CACHE PATH
    "Unpacked Debian mbedtls 3.6 source tree for POPGATE_MBEDTLS=bundled (scripts/setup makes it)")
set(_src "${POPGATE_MBEDTLS_SOURCE_DIR}")
if(NOT EXISTS "${_src}/include/mbedtls/build_info.h" OR NOT EXISTS "${_src}/library/ssl_tls.c")
  message(FATAL_ERROR
    "POPGATE_MBEDTLS=bundled: no mbedtls source tree at ${_src}. Run scripts/setup (it fetches "
    "Debian 13's mbedtls source package), pass -DPOPGATE_MBEDTLS_SOURCE_DIR=DIR, or build "
    "against the distribution's library with -DPOPGATE_MBEDTLS=system.")
endif()
file(STRINGS "${_src}/include/mbedtls/build_info.h" _version_line
     REGEX "^#define MBEDTLS_VERSION_STRING +\"[0-9.]+\"")
string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" POPGATE_MBEDTLS_VERSION "${_version_line}")
if(NOT POPGATE_MBEDTLS_VERSION MATCHES "^3\\.6\\.")
  message(FATAL_ERROR "POPGATE_MBEDTLS=bundled expects mbedtls 3.6.x; ${_src} is "
                      "'${POPGATE_MBEDTLS_VERSION}'. Re-run scripts/setup.")
endif()
message(STATUS "mbedTLS: bundled ${POPGATE_MBEDTLS_VERSION} from ${_src}")

enable_language(C)

# The same split as mbedTLS's library/CMakeLists.txt (crypto, x509, tls), taken from the file
# names so that a new upstream source file lands in the right library without an edit here.
file(GLOB _all CONFIGURE_DEPENDS "${_src}/library/*.c")
set(_x509 "${_all}")
list(FILTER _x509 INCLUDE REGEX "/(x509[a-z_]*|pkcs7)\\.c$")
set(_tls "${_all}")
list(FILTER _tls INCLUDE REGEX "/(ssl_[a-z0-9_]*|debug|mps_[a-z]*|net_sockets)\\.c$")
set(_crypto "${_all}")
list(REMOVE_ITEM _crypto ${_x509} ${_tls})
set(_everest
  "${_src}/3rdparty/everest/library/everest.c"
  "${_src}/3rdparty/everest/library/x25519.c"
  "${_src}/3rdparty/everest/library/Hacl_Curve25519_joined.c")

# Flags. The top level's warning flags are for popgate's C++ (-Wold-style-cast is not even C),
# so they are dropped here: this is third-party code, warning-checked by its own CI. Sanitizer
# and fuzzer flags are kept, so ASan sees mbedTLS's buffers too. -O2 whatever the build type:
# mbedTLS at -O3 runs AES-GCM about 20% slower (issue 10); only Everest's field arithmetic gains
# from -O3. Hardening as Debian builds its own package (dpkg-buildflags, hardening=+all).
get_directory_property(_inherited COMPILE_OPTIONS)
list(FILTER _inherited EXCLUDE REGEX "^-W")
set(_flags ${_inherited} -w -O2 -fstack-protector-strong -fstack-clash-protection -fcf-protection)
if(NOT POPGATE_SANITIZE AND NOT POPGATE_FUZZ)
  list(APPEND _flags -D_FORTIFY_SOURCE=2)
endif()

set(_config "${PROJECT_SOURCE_DIR}/tls/mbedtls_config.h")
function(_popgate_mbedtls_library name)
  add_library(${name} STATIC ${ARGN})
  set_property(TARGET ${name} PROPERTY COMPILE_OPTIONS ${_flags})
  set_property(TARGET ${name} PROPERTY C_STANDARD 99)
  set_property(TARGET ${name} PROPERTY POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${name} SYSTEM PUBLIC "${_src}/include"
                                                   "${_src}/3rdparty/everest/include")
  target_include_directories(${name} PRIVATE "${_src}/library")
  target_compile_definitions(${name} PUBLIC "MBEDTLS_USER_CONFIG_FILE=\"${_config}\"")
endfunction()

_popgate_mbedtls_library(popgate_mbedtls_everest ${_everest})
target_include_directories(popgate_mbedtls_everest PRIVATE
  "${_src}/3rdparty/everest/include/everest" "${_src}/3rdparty/everest/include/everest/kremlib")
target_compile_options(popgate_mbedtls_everest PRIVATE -O3)
_popgate_mbedtls_library(popgate_mbedcrypto ${_crypto})
target_link_libraries(popgate_mbedcrypto PUBLIC popgate_mbedtls_everest Threads::Threads)
_popgate_mbedtls_library(popgate_mbedx509 ${_x509})
target_link_libraries(popgate_mbedx509 PUBLIC popgate_mbedcrypto)
_popgate_mbedtls_library(popgate_mbedtls ${_tls})
target_link_libraries(popgate_mbedtls PUBLIC popgate_mbedx509)

add_library(mbedtls_all INTERFACE)
target_link_libraries(mbedtls_all INTERFACE popgate_mbedtls)
# tls/build_info.cpp reports these in --version and popgate_build_info.
target_compile_definitions(mbedtls_all INTERFACE POPGATE_MBEDTLS_BUNDLED=1)
