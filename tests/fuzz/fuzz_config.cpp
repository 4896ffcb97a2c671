// The config loader: arbitrary popgate.toml text. load_config_text() is load_config() after the
// file is read, so the text is fed from memory rather than through a temporary file per input.
// The loader must either load a Config or report errors that name FILE:LINE:COL inside the
// text, sorted in file order, with a message; it must never crash or let an exception escape.

#include "fuzz_util.hpp"
#include "proxy/config/config_loader.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

using popgate::fuzz::check;
using popgate::proxy::ConfigError;
using popgate::proxy::load_config_text;

namespace {

const std::string kPath = "/etc/popgate/popgate.toml";

void check_error(const ConfigError& e, std::size_t lines) {
  check(e.file == kPath);
  check(e.line >= 1 && e.line <= lines);
  check(e.column >= 1);
  check(!e.message.empty());
  const std::string position =
      kPath + ":" + std::to_string(e.line) + ":" + std::to_string(e.column) + ": ";
  check(e.to_string() == position + e.message);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // One more than the line ends: an error may point just past the last one (end of input).
  const std::size_t lines =
      static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  const auto result = load_config_text(text, kPath);
  if (result.has_value()) {
    check(result.value().path == kPath);
    return 0;
  }
  const auto& errors = result.error();
  check(!errors.empty());
  for (const ConfigError& e : errors) {
    check_error(e, lines);
  }
  check(std::is_sorted(errors.begin(), errors.end(), [](const auto& a, const auto& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  }));
  return 0;
}
