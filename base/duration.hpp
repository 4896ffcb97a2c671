#pragma once

// Durations as the config writes them: "500ms", "30s", "10m", "1h", "2d", or a bare "0".
// One unit per value; a mail admin reads "90s" more easily than "1m30s", and refusing the
// compound form keeps the grammar trivially unambiguous.

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace popgate {

using Millis = std::chrono::milliseconds;

inline std::optional<Millis> parse_duration(std::string_view text) {
  std::uint64_t n = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, n);
  if (ec != std::errc{} || end == first) {
    return std::nullopt;
  }
  std::string_view unit(end, static_cast<std::size_t>(last - end));
  std::uint64_t scale = 0;
  // "0" alone is a duration too (shutdown_grace = "0"): any scale will do, so milliseconds.
  if (unit == "ms" || (unit.empty() && n == 0)) {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else if (unit == "d") {
    scale = 86'400'000;
  } else {
    return std::nullopt;
  }
  // 100 years is far beyond any sensible timeout and keeps the product within int64.
  if (n > 3'153'600'000'000ULL / scale) {
    return std::nullopt;
  }
  return Millis(static_cast<std::int64_t>(n * scale));
}

} // namespace popgate
