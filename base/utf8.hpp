#pragma once

// Walking text a peer sent, one UTF-8 character at a time (RFC 3629), for writers that must
// emit valid UTF-8 whatever came in: the log lines and the admin socket's JSON. A byte that
// does not start a well-formed sequence stands for itself as U+FFFD.

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace popgate::utf8 {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD"; // U+FFFD

// Length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629 §4: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 when it is not one.
constexpr std::size_t sequence_length(std::string_view s) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](std::size_t i) { return i < s.size() && (byte(i) & 0xC0U) == 0x80U; };
  unsigned char b0 = byte(0);
  if (b0 < 0x80) {
    return 1;
  }
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    return cont(1) ? 2 : 0;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) {
      return 0;
    }
    unsigned char b1 = byte(1);
    bool overlong = b0 == 0xE0 && b1 < 0xA0;
    bool surrogate = b0 == 0xED && b1 >= 0xA0;
    return overlong || surrogate ? 0 : 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) {
      return 0;
    }
    unsigned char b1 = byte(1);
    bool overlong = b0 == 0xF0 && b1 < 0x90;
    bool too_big = b0 == 0xF4 && b1 >= 0x90;
    return overlong || too_big ? 0 : 4;
  }
  return 0;
}

// Calls `emit(ch, valid)` with each well-formed sequence of `value` (valid) or U+FFFD for a
// byte that is not one; stops before `max` bytes of `value` with "..." (a cut at a character
// boundary, so a long name never ends in half a character).
template <typename Emit> void for_each_char(std::string_view value, std::size_t max, Emit emit) {
  std::size_t at = 0;
  while (at < value.size()) {
    std::size_t n = sequence_length(value.substr(at));
    if (at + std::max<std::size_t>(n, 1) > max) {
      emit(std::string_view("..."), true);
      return;
    }
    if (n == 0) {
      emit(kReplacement, false);
      at += 1;
    } else {
      emit(value.substr(at, n), true);
      at += n;
    }
  }
}

} // namespace popgate::utf8
