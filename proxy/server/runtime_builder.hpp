#pragma once

// Config file → Runtime: load and validate the TOML, then load certificates and keys into a
// TLS context. The same path serves startup, `--check`, SIGHUP and certificate renewal, so a
// config that `--check` accepts is exactly one that a reload accepts.
//
// Every error is one line "FILE:LINE:COL: message"; certificate errors point at the `cert` or
// `key` value that named the bad file.

#include "base/result.hpp"
#include "proxy/server/runtime.hpp"

#include <string>
#include <vector>

namespace popgate::proxy {

Result<std::shared_ptr<const Runtime>, std::vector<std::string>>
build_runtime(const std::string& config_path);

} // namespace popgate::proxy
