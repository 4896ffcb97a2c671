#pragma once

// What every event loop shares: the config snapshot and the TLS context built from it. Both are
// immutable; a reload builds a new Runtime and hands it to the loops. Sessions keep the
// Runtime they started with, so a reload never changes the rules under a session's feet.

#include "policy/access_list.hpp"
#include "policy/rule_set.hpp"
#include "proxy/config/config.hpp"
#include "proxy/server/runtime_metrics.hpp"
#include "tls/server_context.hpp"

#include <memory>

namespace popgate::proxy {

struct Runtime {
  std::shared_ptr<const Config> config;
  std::shared_ptr<const tls::ServerContext> tls;
  policy::AccessList access;
  policy::RuleSet rules;
  // Set by the gateway once the process's Metrics exist; empty for `--check`.
  std::shared_ptr<const RuntimeMetrics> metrics;
};

} // namespace popgate::proxy
