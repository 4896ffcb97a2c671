#include "proxy/pop3/sasl.hpp"

#include <array>
#include <cstdint>

namespace popgate::pop3 {
namespace {

constexpr int kInvalid = -1;

constexpr std::array<int, 256> make_decode_table() {
  std::array<int, 256> table{};
  for (auto& v : table) {
    v = kInvalid;
  }
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
  }
  return table;
}

constexpr std::array<int, 256> kDecode = make_decode_table();

int sextet(char c) { return kDecode[static_cast<unsigned char>(c)]; }

} // namespace

bool is_mechanism_name(std::string_view name) {
  if (name.empty() || name.size() > 20) {
    return false;
  }
  for (const char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool is_base64(std::string_view text) {
  // RFC 4648 §4: groups of four; "=" only at the end, at most two of them.
  if (text.size() % 4 != 0) {
    return false;
  }
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  for (std::size_t i = 0; i + padding < text.size(); ++i) {
    if (sextet(text[i]) == kInvalid) {
      return false;
    }
  }
  return true;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (!is_base64(text)) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    if (c == '=') {
      break;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(sextet(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFFu));
    }
  }
  return out;
}

std::optional<std::string> plain_authcid(std::string_view base64_message) {
  auto decoded = base64_decode(base64_message);
  if (!decoded) {
    return std::nullopt;
  }
  const std::string_view message = *decoded;
  std::optional<std::string> result;
  const std::size_t first = message.find('\0');
  if (first != std::string_view::npos) {
    const std::size_t second = message.find('\0', first + 1);
    if (second != std::string_view::npos && second > first + 1) {
      result = std::string(message.substr(first + 1, second - first - 1));
    }
  }
  secure_clear(*decoded); // it holds the password
  return result;
}

std::optional<std::string> login_user(std::string_view base64_response) {
  auto decoded = base64_decode(base64_response);
  if (!decoded || decoded->empty() || decoded->find('\0') != std::string::npos) {
    return std::nullopt;
  }
  return decoded;
}

void secure_clear(std::string& s) {
  volatile char* p = s.data();
  for (std::size_t i = 0; i < s.size(); ++i) {
    p[i] = '\0';
  }
  s.clear();
}

} // namespace popgate::pop3
