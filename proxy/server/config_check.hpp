#pragma once

// `popgate --check`: everything a start would load (config, certificates, keys), plus what a
// start cannot see yet: whether [server] user can read the TLS files that renewals replace, and
// certificates about to expire. Errors are FILE:LINE:COL: message lines on stderr (exit 1);
// warnings use the same form with "warning:" and do not change the exit status.

#include "proxy/config/config.hpp"

#include <string>

namespace popgate::proxy {

// Transparent mode needs CAP_NET_ADMIN: what it cannot do with this process's privileges is
// printed as FILE:LINE:COL lines; false when a backend could not work at all. Shared by
// --check and the start.
bool privileges_allow(const Config& config);

// Returns the exit status: 0 valid, 1 not.
int run_check(const std::string& config_path);

// Days before notAfter from which --check warns (the shipped alert fires at the same point).
inline constexpr int kExpiryWarningDays = 14;

} // namespace popgate::proxy
