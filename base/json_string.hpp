#pragma once

// A JSON string (RFC 8259 §7) from text a peer sent: the log lines' JSON format and the admin
// socket's JSON replies both write user names and commands this way, so a quote, a CR LF or a
// byte that is not UTF-8 can neither end the value early nor make the document invalid.

#include "base/utf8.hpp"

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace popgate::json {

// The escape for a character that must not appear raw: the short forms where JSON has them,
// else \uXXXX (logfmt values use the same spelling).
inline void append_escape(std::string& out, unsigned code_point) {
  switch (code_point) {
  case '"':
    out += "\\\"";
    return;
  case '\\':
    out += "\\\\";
    return;
  case '\n':
    out += "\\n";
    return;
  case '\r':
    out += "\\r";
    return;
  case '\t':
    out += "\\t";
    return;
  default:
    break;
  }
  constexpr std::string_view kHex = "0123456789abcdef";
  std::array<char, 6> u{'\\', 'u'};
  for (std::size_t i = 0; i < 4; ++i) {
    u[5 - i] = kHex[(code_point >> (4 * i)) & 0xFU];
  }
  out.append(u.data(), u.size());
}

// Appends `value` in double quotes: valid UTF-8 as it is, U+FFFD for a byte that is not, and
// only what §7 requires escaped. Past `max` bytes the value is cut and ends in "...".
inline void append_string(std::string& out, std::string_view value,
                          std::size_t max = std::string_view::npos) {
  out += '"';
  utf8::for_each_char(value, max, [&](std::string_view ch, bool) {
    auto b0 = static_cast<unsigned char>(ch[0]);
    if (ch.size() == 1 && (b0 < 0x20 || b0 == '"' || b0 == '\\')) {
      append_escape(out, b0);
    } else {
      out += ch;
    }
  });
  out += '"';
}

} // namespace popgate::json
