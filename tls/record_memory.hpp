#pragma once

// Where the bundled mbedTLS keeps its two record buffers, so that idle sessions do not pin them.
//
// mbedTLS allocates an input and an output buffer of about 16.7 KB per connection for its whole
// life (MBEDTLS_SSL_IN_CONTENT_LEN must stay 16384 for arbitrary clients, tls/mbedtls_config.h)
// and has no way to release them while idle. With MBEDTLS_PLATFORM_MEMORY (bundled build only)
// popgate owns mbedTLS's allocations: requests of a record buffer's size get pages of their own
// from mmap, everything else goes to calloc. Fresh pages cost nothing until touched, where a
// reused heap chunk is cleared whole by calloc; and trim_record_buffer() hands a drained
// buffer's pages back to the kernel (MADV_DONTNEED) except the first, which holds the record
// counter and header mbedTLS keeps between records.
//
// Without the bundled build (POPGATE_HAVE_RECORD_MEMORY 0) both functions do nothing.

#if defined(POPGATE_MBEDTLS_BUNDLED)
#define POPGATE_HAVE_RECORD_MEMORY 1
#else
#define POPGATE_HAVE_RECORD_MEMORY 0
#endif

// mbedtls_ssl_context is a typedef of this struct in <mbedtls/ssl.h>.
struct mbedtls_ssl_context;

namespace popgate::tls {

// Routes mbedTLS's allocations through popgate's allocator; idempotent and thread-safe. Memory
// allocated before it is called is still freed correctly: every block says where it came from.
void install_record_memory();

// Whether install_record_memory() took effect: not without the bundled build, and not under
// AddressSanitizer (record_memory.cpp says why).
bool record_memory_installed();

// Releases the pages of a drained record buffer `buffer` (mbedTLS's in_buf or out_buf) beyond
// its first. Only call it when mbedTLS holds no record in it: nothing partly received, nothing
// unsent, no decrypted data unread. Does nothing for a buffer not allocated by
// install_record_memory()'s allocator. The pages read back as zeros when mbedTLS next uses them.
void trim_record_buffer(unsigned char* buffer);

// Frees what a finished TLS 1.3 server handshake leaves behind. mbedTLS 3.6 frees its handshake
// state (transcript hashes, key schedule, ECDHE and certificate working data: about 20 KiB) at
// the end of a TLS 1.2 handshake but keeps it for a TLS 1.3 connection's whole life, although a
// TLS 1.3 server never uses it again (after the handshake every handshake message from the
// client is an error, library/ssl_msg.c). Call only after mbedtls_ssl_handshake() returned 0.
// Bundled build only: it calls mbedTLS's internal mbedtls_ssl_handshake_free().
void release_tls13_handshake(::mbedtls_ssl_context* ssl);

} // namespace popgate::tls
