#include "tls/record_memory.hpp"

#if POPGATE_HAVE_RECORD_MEMORY

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>

#include <sys/mman.h>
#include <unistd.h>

#include "tls/mbedtls_compat.hpp"

#include <mbedtls/platform.h>
#include <mbedtls/ssl.h>

// Internal to mbedTLS (library/ssl_misc.h), with external linkage in the static library.
extern "C" void mbedtls_ssl_handshake_free(mbedtls_ssl_context* ssl);
extern "C" void mbedtls_ssl_transform_free(mbedtls_ssl_transform* transform);

#if !defined(MBEDTLS_PLATFORM_MEMORY)
#error "the bundled mbedTLS is configured with MBEDTLS_PLATFORM_MEMORY (tls/mbedtls_config.h)"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define POPGATE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POPGATE_ASAN 1
#endif
#endif

namespace popgate::tls {
namespace {

// A record buffer is MBEDTLS_SSL_IN/OUT_BUFFER_LEN bytes: 16384 of content plus header, IV, MAC
// and padding room (library/ssl_misc.h, not a public header). Anything of about that size is
// treated as one: an unrelated block of that size merely gets its own pages too.
constexpr std::size_t kMinRecordBuffer = 16384;
constexpr std::size_t kMaxRecordBuffer = 16384 + 4096;

// Every mapped block starts with this header; the caller's pointer is just after it. The word
// right before the pointer is all ones: for a block from malloc that word is glibc's chunk size
// field, which can never be all ones, so free() tells the two kinds apart without a lookup.
struct Header {
  std::size_t mapped;   // bytes mapped, header included
  std::uint64_t marker; // kMarker
};
constexpr std::uint64_t kMarker = ~std::uint64_t{0};
static_assert(sizeof(Header) == 16, "keeps the buffer 16-byte aligned, as malloc's are");

const std::size_t kPage = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
std::atomic<bool> installed{false};

Header* header_of(void* p) {
  auto* words = static_cast<std::uint64_t*>(p);
  if (words[-1] != kMarker) {
    return nullptr;
  }
  return reinterpret_cast<Header*>(static_cast<unsigned char*>(p) - sizeof(Header));
}

void* record_calloc(std::size_t count, std::size_t size) {
  if (size != 0 && count > SIZE_MAX / size) {
    return nullptr;
  }
  const std::size_t bytes = count * size;
  if (bytes == 0) {
    // calloc(0) may return NULL, which mbedTLS would take for a failure; glibc gives a unique
    // pointer, as this does on every libc.
    return std::calloc(1, 1);
  }
  if (bytes < kMinRecordBuffer || bytes > kMaxRecordBuffer) {
    return std::calloc(count, size);
  }
  const std::size_t mapped = (bytes + sizeof(Header) + kPage - 1) / kPage * kPage;
  // Anonymous pages are zero-filled on first touch: calloc's contract at no cost up front.
  void* base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) {
    return nullptr;
  }
  auto* header = static_cast<Header*>(base);
  header->mapped = mapped;
  header->marker = kMarker;
  return header + 1;
}

void record_free(void* p) {
  if (p == nullptr) {
    return;
  }
  if (Header* header = header_of(p); header != nullptr) {
    munmap(header, header->mapped);
    return;
  }
  std::free(p);
}

} // namespace

void install_record_memory() {
#if defined(POPGATE_ASAN)
  // header_of() reads the word before a malloc'd block, which ASan rightly reports: under ASan
  // mbedTLS keeps plain calloc, and ASan sees its buffers instead.
  return;
#endif
  static std::once_flag once;
  std::call_once(once, [] {
    mbedtls_platform_set_calloc_free(record_calloc, record_free);
    installed.store(true);
  });
}

bool record_memory_installed() { return installed.load(); }

void trim_record_buffer(unsigned char* buffer) {
  // Without the allocator installed (ASan builds) the buffer came from calloc: the word before
  // it is not ours to read.
  if (buffer == nullptr || !installed.load()) {
    return;
  }
  Header* header = header_of(buffer);
  if (header == nullptr) {
    return;
  }
  // Keep the first page: the record counter and header live at the buffer's start.
  auto* first = reinterpret_cast<unsigned char*>(header);
  if (header->mapped > kPage) {
    (void)madvise(first + kPage, header->mapped - kPage, MADV_DONTNEED);
  }
}

void release_tls13_handshake(::mbedtls_ssl_context* ssl) {
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
  if (ssl == nullptr || ssl->MBEDTLS_PRIVATE(handshake) == nullptr ||
      ssl->MBEDTLS_PRIVATE(tls_version) != MBEDTLS_SSL_VERSION_TLS1_3 ||
      !mbedtls_ssl_is_handshake_over(ssl)) {
    return;
  }
  // What mbedtls_ssl_handshake_wrapup_free_hs_transform() does for TLS 1.2 (ssl_tls.c).
  mbedtls_ssl_handshake_free(ssl);
  mbedtls_free(ssl->MBEDTLS_PRIVATE(handshake));
  ssl->MBEDTLS_PRIVATE(handshake) = nullptr;
  // mbedtls_ssl_free() frees these only while a handshake struct exists, so they go now too:
  // mbedtls_ssl_setup() allocates the TLS 1.2 transform whatever version is negotiated.
#if defined(MBEDTLS_SSL_PROTO_TLS1_2)
  mbedtls_ssl_transform_free(ssl->MBEDTLS_PRIVATE(transform_negotiate));
  mbedtls_free(ssl->MBEDTLS_PRIVATE(transform_negotiate));
  ssl->MBEDTLS_PRIVATE(transform_negotiate) = nullptr;
#endif
  mbedtls_ssl_session_free(ssl->MBEDTLS_PRIVATE(session_negotiate));
  mbedtls_free(ssl->MBEDTLS_PRIVATE(session_negotiate));
  ssl->MBEDTLS_PRIVATE(session_negotiate) = nullptr;
#else
  (void)ssl;
#endif
}

} // namespace popgate::tls

#else

namespace popgate::tls {
void install_record_memory() {}
bool record_memory_installed() { return false; }
void trim_record_buffer(unsigned char* /*buffer*/) {}
void release_tls13_handshake(::mbedtls_ssl_context* /*ssl*/) {}
} // namespace popgate::tls

#endif
