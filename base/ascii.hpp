#pragma once

// ASCII text helpers for protocol keywords, shared by every part. POP3 keywords, capability
// tags, SASL mechanism names and response codes are ASCII and case-insensitive (RFC 1939 §3,
// RFC 2449 §5); std::toupper would depend on the locale, so these fold 'a'-'z' only.

#include <cstddef>
#include <string_view>

namespace popgate::ascii {

constexpr char upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}
constexpr char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool starts_with_ignore_case(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (upper(s[i]) != upper(prefix[i])) {
      return false;
    }
  }
  return true;
}

constexpr bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && starts_with_ignore_case(a, b);
}

// The space-separated words of a line, in order; runs of spaces count as one (RFC 1939 §3:
// "separated by a single SPACE", but servers and clients are lenient, and so is this).
class Words {
public:
  explicit constexpr Words(std::string_view text) : rest_(text) {}

  // The next word, or "" when none is left.
  constexpr std::string_view next() {
    skip_spaces();
    std::size_t end = rest_.find(' ');
    std::string_view word = rest_.substr(0, end);
    rest_.remove_prefix(word.size());
    return word;
  }
  constexpr bool done() {
    skip_spaces();
    return rest_.empty();
  }

private:
  constexpr void skip_spaces() {
    while (!rest_.empty() && rest_.front() == ' ') {
      rest_.remove_prefix(1);
    }
  }
  std::string_view rest_;
};

} // namespace popgate::ascii
