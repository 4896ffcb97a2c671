#pragma once

// Scrape-time collectors for what no handle counts: the process_* families (read from /proc and
// getrlimit when Prometheus asks, as the official clients do) and each libuv loop's busy time.

#include "metrics/metrics.hpp"

#include <cstdint>
#include <mutex>
#include <uv.h>

namespace popgate::proxy {

// Adds the process_* collector to `metrics`.
void add_process_collector(metrics::Metrics& metrics);

// One event loop's busy time: wall time since start() minus the time libuv spent waiting in
// the poll (uv_metrics_idle_time, which needs UV_METRICS_IDLE_TIME set before the loop runs;
// libuv 1.39 and later). seconds() may be called from any thread: libuv guards the idle time
// with its own lock, and finish() freezes the value before the loop is closed, after which
// the loop is never touched again.
class LoopBusy {
public:
  // Call before the loop runs; enables libuv's idle time accounting on it.
  static void enable(uv_loop_t* loop);

  void start(uv_loop_t* loop); // the loop is about to run
  void finish();               // the loop has ended; before uv_loop_close()
  [[nodiscard]] double seconds() const;

private:
  [[nodiscard]] double measure() const; // with mutex_ held

  mutable std::mutex mutex_;
  uv_loop_t* loop_ = nullptr; // nullptr before start() and after finish()
  std::uint64_t started_ns_ = 0;
  mutable double last_ = 0; // monotonic: a counter never goes back
};

} // namespace popgate::proxy
