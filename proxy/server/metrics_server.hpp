#pragma once

// Serves `[metrics] bind`: /metrics (Prometheus text format) and /healthz (200 while accepting,
// 503 while draining) from the main loop. The HTTP parsing and the answers live in metrics/
// (HttpExchange, sans-IO); this file only moves bytes. One request per connection
// (Connection: close), a request deadline, and a cap on concurrent scrapers keep a misbehaving
// client from holding resources.

#include "base/address.hpp"
#include "base/result.hpp"
#include "metrics/metrics.hpp"

#include <atomic>
#include <string>
#include <uv.h>

namespace popgate::proxy {

class MetricsServer {
public:
  MetricsServer(uv_loop_t* loop, const metrics::Metrics& metrics, std::string path,
                const std::atomic<bool>& draining);
  Result<void, std::string> listen(const Endpoint& bind);
  void close();

private:
  struct Exchange;
  static void on_connection(uv_stream_t* server, int status);

  uv_loop_t* loop_;
  const metrics::Metrics& metrics_;
  std::string path_;
  const std::atomic<bool>& draining_;
  uv_tcp_t tcp_{};
  bool listening_ = false;
  unsigned active_ = 0;
};

} // namespace popgate::proxy
