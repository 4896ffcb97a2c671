#include "proxy/server/session_id.hpp"

#include <atomic>
#include <cstdint>
#include <random>
#include <string_view>

namespace popgate::proxy {
namespace {

// RFC 4648 base32 alphabet in lower case, without the letters that read like digits.
std::string random_prefix() {
  static constexpr std::string_view kAlphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  std::random_device random;
  std::uniform_int_distribution<std::size_t> pick(0, kAlphabet.size() - 1);
  std::string prefix(8, ' ');
  for (auto& c : prefix) {
    c = kAlphabet[pick(random)];
  }
  return prefix;
}

} // namespace

std::string next_session_id() {
  static const std::string prefix = random_prefix();
  static std::atomic<std::uint64_t> counter{0};
  auto n = counter.fetch_add(1, std::memory_order_relaxed) + 1;
  return prefix + "-" + std::to_string(n);
}

} // namespace popgate::proxy
