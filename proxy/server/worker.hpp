#pragma once

// One event loop on its own thread, running sessions. Workers share nothing but the Runtime
// snapshot (shared_ptr<const>) and the thread-safe metrics; each has its own listening sockets
// on the same addresses (SO_REUSEPORT), so the kernel spreads new connections over the loops
// without a lock or a hand-off between threads.
//
// Other threads talk to a worker only through post(), which queues a closure in its LoopInbox
// and wakes the loop.

#include "metrics/metrics.hpp"
#include "policy/ip_limiter.hpp"
#include "policy/shared_bans.hpp"
#include "proxy/server/acceptor.hpp"
#include "proxy/server/log_rate_limit.hpp"
#include "proxy/server/loop_inbox.hpp"
#include "proxy/server/process_metrics.hpp"
#include "proxy/server/runtime.hpp"
#include "proxy/server/session_list.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <uv.h>
#include <vector>

namespace popgate::proxy {

struct WorkerShared {
  metrics::Metrics& metrics;
  std::atomic<unsigned>& connections; // across all workers, against server.max_connections
  std::function<void()> on_exit;      // called on the worker's thread once its loop has ended
  policy::IpLimiter& per_ip;
  policy::SharedBans& bans;
  ServerControl& servers;
};

class Worker {
public:
  // `listen_fds[i]` is a bound, listening socket for runtime->config->listeners[i].
  Worker(WorkerShared shared, std::shared_ptr<const Runtime> runtime, std::vector<int> listen_fds);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start(); // runs the loop on a new thread
  void join();

  // Thread-safe. False when the loop is ending and `fn` will not run.
  bool post(std::function<void()> fn);
  // Runs `fn` on the loop's thread with its live sessions (the admin socket's view and kicks).
  bool visit_sessions(std::function<void(SessionContext&)> fn);
  void set_runtime(std::shared_ptr<const Runtime> runtime);
  void stop(Millis grace); // stop accepting; end the sessions left after `grace`
  // Seconds this worker's loop has spent running callbacks (event_loop_busy_seconds_total).
  [[nodiscard]] double busy_seconds() const { return busy_.seconds(); }

private:
  void run();
  void begin_stop(Millis grace);
  void close_sessions();
  void session_freed();
  void close_loop_handles();
  void accepted(std::size_t listener, int fd);
  void accept_failed(std::size_t listener, int error, unsigned lost);
  static void on_grace_timer(uv_timer_t* timer);

  WorkerShared shared_;
  std::shared_ptr<const Runtime> runtime_;
  std::vector<int> listen_fds_;
  uv_loop_t loop_{};
  LoopBusy busy_;
  uv_timer_t grace_timer_{};
  std::vector<std::unique_ptr<Acceptor>> listeners_; // indexed like config->listeners
  std::vector<char> read_buffer_;
  std::thread thread_;
  LoopInbox inbox_;
  SessionContext sessions_;
  LogRateLimit accept_error_lines_; // a flood at the descriptor limit fails every accept
  bool stopping_ = false;
};

} // namespace popgate::proxy
