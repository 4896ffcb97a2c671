#pragma once

// Keys that popgate reads only at start. A reload cannot apply them: the worker threads, the
// user the process runs as, the metrics endpoint's socket and the admin socket already exist. A
// reload that changes one applies everything else and keeps the running value of each such key, and
// says so by name (README, "Reloading"); listeners and backend names are refused outright by the
// gateway, since sessions and metrics are keyed on them.

#include "proxy/config/config.hpp"

#include <string>
#include <vector>

namespace popgate::proxy {

struct RestartKey {
  std::string key;     // as written in the file, e.g. "[server] workers"
  std::string running; // the value popgate keeps until a restart
  std::string wanted;  // the value in the new file
};

// The start-only keys whose value differs between the running and the new configuration.
std::vector<RestartKey> keys_needing_restart(const Config& running, const Config& next);

// `next` with every start-only key set back to its running value, so the loaded config says
// what popgate really does (and the next reload warns again until a restart).
Config with_running_start_keys(const Config& running, Config next);

} // namespace popgate::proxy
