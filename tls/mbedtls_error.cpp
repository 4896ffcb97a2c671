#include "tls/mbedtls_error.hpp"

#include <array>
#include <cstdio>

#include <mbedtls/error.h>

namespace popgate::tls {

std::string mbedtls_error_text(int code) {
  std::array<char, 160> text{};
  mbedtls_strerror(code, text.data(), text.size());
  std::array<char, 24> hex{};
  const int magnitude = code < 0 ? -code : code;
  std::snprintf(hex.data(), hex.size(), " (%s0x%04X)", code < 0 ? "-" : "",
                static_cast<unsigned>(magnitude));
  return std::string(text.data()) + hex.data();
}

} // namespace popgate::tls
