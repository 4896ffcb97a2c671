#pragma once

// The one place that knows which mbedTLS major version we build against.
//
// Debian 12 ships mbedTLS 2.28 (TLS 1.2 only); Debian 13 ships 3.6 (TLS 1.2 and 1.3). The 3.x
// API moved struct fields behind MBEDTLS_PRIVATE, gave key parsing and pair checks an RNG, and
// replaced the (major, minor) version setters with mbedtls_ssl_conf_{min,max}_tls_version. Code
// under tls/ tests POPGATE_MBEDTLS_3 rather than the version number, so every difference is
// greppable.

#include <mbedtls/version.h>

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define POPGATE_MBEDTLS_3 1
#include <mbedtls/build_info.h>
#include <psa/crypto.h>
#else
#define POPGATE_MBEDTLS_3 0
#include <mbedtls/config.h>
#endif

// The bundled build's include directory must win over /usr/include's 2.28 headers; if it did
// not, struct layouts would disagree with the library (tls/mbedtls_config.h).
#if defined(POPGATE_MBEDTLS_BUNDLED) &&                                                            \
    (!POPGATE_MBEDTLS_3 || !defined(MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED))
#error "POPGATE_MBEDTLS=bundled, but these are not the bundled mbedTLS 3.6 headers and config"
#endif

#if POPGATE_MBEDTLS_3 && defined(MBEDTLS_SSL_PROTO_TLS1_3)
#define POPGATE_HAVE_TLS13 1
#else
#define POPGATE_HAVE_TLS13 0
#endif

#if !defined(MBEDTLS_SSL_SRV_C) || !defined(MBEDTLS_SSL_PROTO_TLS1_2) ||                           \
    !defined(MBEDTLS_SSL_SERVER_NAME_INDICATION)
#error "popgate needs an mbedTLS build with the TLS server, TLS 1.2 and SNI"
#endif
