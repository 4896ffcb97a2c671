#pragma once

// Shell-style globs for user names in rules ("archive-*", "?bot"): '*' matches any run of
// characters, '?' exactly one; everything else matches itself, case-insensitively, since mail
// systems treat "Alice" and "alice" as one login. No character classes: user names are
// matched, not paths.

#include "base/ascii.hpp"

#include <string_view>

namespace popgate::policy {

inline bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos; // position of the last '*' seen
  std::size_t resume = 0;                    // where text matching resumes after that '*'
  while (t < text.size()) {
    if (p < pattern.size() &&
        (pattern[p] == '?' || ascii::lower(pattern[p]) == ascii::lower(text[t]))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      // Let the last '*' absorb one more character and try again: linear backtracking, no
      // recursion, so a hostile pattern or name cannot blow up the work.
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

} // namespace popgate::policy
