#pragma once

// popgate's mbedTLS configuration for the bundled build (-DPOPGATE_MBEDTLS=bundled, the
// default; cmake/mbedtls_bundled.cmake). Unused by the system build.
//
// mbedTLS reads this file as MBEDTLS_USER_CONFIG_FILE: its own default configuration
// (include/mbedtls/mbedtls_config.h of Debian 13's mbedtls 3.6 source package, unchanged) comes
// first, and this file only adds and removes options on top of it. The library and every
// popgate file that includes an mbedTLS header see the same options, because the definition
// sits on the mbedtls_all target: struct layouts (mbedtls_ecdh_context with Everest) must agree.
//
// Each line says why. Where the server-side effect was measured, the figure is from issue 10:
// one core, server CPU of one in-memory TLS 1.2 handshake (ECDSA P-256 certificate).

// --- What Debian 13 adds to the default (debian/rules, override_dh_auto_configure) ---------

// One ServerContext (DRBG, ticket keys) is shared by every worker thread.
#define MBEDTLS_THREADING_C
#define MBEDTLS_THREADING_PTHREAD
// Debian enables it; popgate calls nothing deprecated, and -Werror keeps it that way.
#define MBEDTLS_DEPRECATED_WARNING
// Debian enables CMAC (already in the default) and DTLS-SRTP; DTLS is removed below, so SRTP is
// left out.

// --- Speed -----------------------------------------------------------------------------------

// X25519 through Project Everest's verified 64-bit code instead of mbedTLS's generic Montgomery
// ladder: 1406 -> 419 us per TLS 1.2 X25519 handshake. Built at -O3 (that part only). It
// changes mbedtls_ecdh_context's layout, which is why this build is static and linked into
// popgate only, never installed over the distribution's library.
#define MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED

// Off (as in the default): with it, TLS 1.2 runs every key exchange and record through the PSA
// layer, which is slower here and bypasses Everest. TLS 1.3 uses PSA for ECDHE regardless.
#undef MBEDTLS_USE_PSA_CRYPTO

// Off (as in the default): its 3.8 KB tables per GCM context are never used where the CPU has
// PCLMUL (AES-NI's GHASH path), and each session holds two GCM contexts.
#undef MBEDTLS_GCM_LARGE_TABLE

// --- What a POP3 server over TCP never uses: less code to attack, less per-session state ------

// popgate is TCP only: no DTLS, so no DTLS record state per session.
#undef MBEDTLS_SSL_PROTO_DTLS
#undef MBEDTLS_SSL_DTLS_ANTI_REPLAY
#undef MBEDTLS_SSL_DTLS_HELLO_VERIFY
#undef MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE
#undef MBEDTLS_SSL_DTLS_CONNECTION_ID
#undef MBEDTLS_SSL_DTLS_SRTP
#undef MBEDTLS_SSL_COOKIE_C
// popgate refuses renegotiation anyway (server_context.cpp); without the code a client's attempt
// gets a no_renegotiation alert, and RFC 5746's renegotiation_info is still answered.
#undef MBEDTLS_SSL_RENEGOTIATION
// Only useful to move a DTLS connection between processes.
#undef MBEDTLS_SSL_CONTEXT_SERIALIZATION
// Sockets and timers belong to libuv; the engine is sans-IO.
#undef MBEDTLS_NET_C
#undef MBEDTLS_TIMING_C
// popgate never enables mbedTLS debug output; without it every MBEDTLS_SSL_DEBUG_* on the record
// path compiles to nothing instead of a function call.
#undef MBEDTLS_DEBUG_C
// Session resumption is by tickets only (RFC 5077, RFC 8446 §4.6.1), which scale across workers
// and replicas; a server-side cache would be per process.
#undef MBEDTLS_SSL_CACHE_C

// --- Memory ----------------------------------------------------------------------------------

// popgate owns mbedTLS's allocations (tls/record_memory.hpp): the two ~16.7 KB record buffers
// of each connection get pages of their own, and an idle session gives back the pages a large
// record touched. mbedTLS has no way to shrink them itself while the connection lives.
#define MBEDTLS_PLATFORM_MEMORY

// Kept on purpose: MBEDTLS_SSL_IN_CONTENT_LEN and MBEDTLS_SSL_OUT_CONTENT_LEN stay 16384. A
// client may send full 16 KiB records (RFC 8446 §5.1), and MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH
// shrinks the input buffer together with the output one.
