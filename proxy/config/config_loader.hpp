#pragma once

// Reads a popgate.toml (SPEC section 3) into a Config.
//
// Contract:
// - Every problem found is reported, not just the first: TOML syntax (then nothing else, as
//   toml++ stops at the first syntax error), unknown keys, wrong types, bad values, missing
//   required keys and dangling references between sections. Errors come sorted in file order.
// - Each error names FILE:LINE:COL of the offending key or value; for a missing key, the table
//   that should hold it; for a missing top-level section, 1:1.
// - Relative paths (tls.client_ca, tls.certificate cert/key) are resolved against the folder of
//   the config file. The files themselves are not opened here: the TLS part does that and reports
//   its errors at the positions recorded in the Config (SourcePos fields).
// - No exception escapes: an unreadable file is one error "FILE:1:1: cannot read: <reason>".

#include "base/result.hpp"
#include "proxy/config/config.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace popgate::proxy {

struct ConfigError {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string message;

  // "FILE:LINE:COL: message", as compilers print it, so editors can jump to the spot.
  [[nodiscard]] std::string to_string() const;
};

using ConfigResult = Result<Config, std::vector<ConfigError>>;

// Loads and validates the file at `path`. On success Config::path is `path`.
ConfigResult load_config(const std::string& path);

// Same, from text already in memory. `path_for_messages` is used in errors, as Config::path, and
// as the base for relative certificate paths (its folder).
ConfigResult load_config_text(std::string_view text, const std::string& path_for_messages);

} // namespace popgate::proxy
