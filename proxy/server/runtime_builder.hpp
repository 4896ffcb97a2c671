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

// `previous` is the running Runtime on a reload (nullptr at startup and for `--check`): what
// must outlive a reload, such as generated session-ticket keys, is taken over from it.
Result<std::shared_ptr<const Runtime>, std::vector<std::string>>
build_runtime(const std::string& config_path, const Runtime* previous = nullptr);

} // namespace popgate::proxy
