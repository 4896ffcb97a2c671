#pragma once

// `popgate --healthcheck`: asks the running popgate's own /healthz (the config's [metrics]
// bind) and exits 0 on 200. It needs nothing the slim container image lacks (no curl), which
// is why the image's HEALTHCHECK uses it.

#include <string>

namespace popgate::proxy {

// Returns the process exit code: 0 healthy, 1 not (the reason is printed on stderr).
int run_healthcheck(const std::string& config_path);

} // namespace popgate::proxy
