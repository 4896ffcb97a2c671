// popgate's allocator for the bundled mbedTLS (tls/record_memory.hpp): record-buffer-sized
// blocks get pages of their own, zeroed; trim gives back all but the first page and keeps what
// is on it; every other size and pointer behaves like calloc/free.

#include "tls/record_memory.hpp"

#include <cstring>
#include <vector>

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tls/mbedtls_compat.hpp"

#include <mbedtls/platform.h>

namespace popgate::tls {
namespace {

// What mbedTLS 3.6 asks for per record buffer with popgate's config: 16384 of content plus
// header, IV, MAC and padding room (library/ssl_misc.h).
constexpr std::size_t kRecordBuffer = 16717;

// Resident pages of [p, p + length), from mincore(2).
std::size_t resident_pages(const unsigned char* p, std::size_t length) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  // The page p lies in, by pointer arithmetic: no integer-to-pointer cast.
  const unsigned char* start = p - reinterpret_cast<std::uintptr_t>(p) % page;
  const std::size_t span = static_cast<std::size_t>(p - start) + length;
  std::vector<unsigned char> vec((span + page - 1) / page);
  if (mincore(const_cast<unsigned char*>(start), span, vec.data()) != 0) {
    return 0;
  }
  std::size_t n = 0;
  for (const unsigned char v : vec) {
    n += v & 1U;
  }
  return n;
}

class TlsRecordMemory : public ::testing::Test {
protected:
  void SetUp() override {
    install_record_memory();
    if (!record_memory_installed()) {
      GTEST_SKIP() << "record allocator not in use (system mbedTLS or AddressSanitizer)";
    }
  }
};

TEST_F(TlsRecordMemory, RecordBufferIsZeroedAndUntouchedPagesAreNotResident) {
  auto* buf = static_cast<unsigned char*>(mbedtls_calloc(1, kRecordBuffer));
  ASSERT_NE(buf, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(buf) % 16, 0U);
  EXPECT_LE(resident_pages(buf, kRecordBuffer), 1U); // the allocator's header is on the first
  for (std::size_t i = 0; i < kRecordBuffer; i += 997) {
    EXPECT_EQ(buf[i], 0) << i;
  }
  mbedtls_free(buf);
}

TEST_F(TlsRecordMemory, TrimKeepsTheFirstPageAndZeroesTheRest) {
  auto* buf = static_cast<unsigned char*>(mbedtls_calloc(1, kRecordBuffer));
  ASSERT_NE(buf, nullptr);
  std::memset(buf, 0xab, kRecordBuffer);
  const std::size_t touched = resident_pages(buf, kRecordBuffer);
  EXPECT_GE(touched, 5U);
  trim_record_buffer(buf);
  EXPECT_LE(resident_pages(buf, kRecordBuffer), 1U);
  // The record counter and header at the start survive; what lay beyond the first page reads
  // back as zeros.
  EXPECT_EQ(buf[0], 0xab);
  EXPECT_EQ(buf[13], 0xab);
  EXPECT_EQ(buf[kRecordBuffer - 1], 0);
  mbedtls_free(buf);
}

TEST_F(TlsRecordMemory, OtherSizesAndNullAreLeftToCalloc) {
  auto* small = static_cast<unsigned char*>(mbedtls_calloc(3, 100));
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(small[299], 0);
  trim_record_buffer(small); // not a record buffer: nothing happens
  small[0] = 1;
  mbedtls_free(small);
  mbedtls_free(nullptr);
  volatile std::size_t huge = SIZE_MAX / 2;    // volatile: gcc would refuse the constant call
  EXPECT_EQ(mbedtls_calloc(huge, 4), nullptr); // overflow is refused, not wrapped
}

} // namespace
} // namespace popgate::tls
