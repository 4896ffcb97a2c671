#pragma once

// One event loop on its own thread, running sessions. Workers share nothing but the Runtime
// snapshot (shared_ptr<const>) and the thread-safe metrics; each has its own listening sockets
// on the same addresses (SO_REUSEPORT), so the kernel spreads new connections over the loops
// without a lock or a hand-off between threads.
//
// Other threads talk to a worker only through post(), which queues a closure and wakes the
// loop with a uv_async_t.

#include "metrics/metrics.hpp"
#include "policy/ip_limiter.hpp"
#include "proxy/server/runtime.hpp"
#include "proxy/server/shared_bans.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <uv.h>
#include <vector>

namespace popgate::proxy {

class Session;

struct WorkerShared {
  metrics::Metrics& metrics;
  std::atomic<unsigned>& connections; // across all workers, against server.max_connections
  std::function<void()> on_exit;      // called on the worker's thread once its loop has ended
  policy::IpLimiter& per_ip;
  SharedBans& bans;
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

  // Thread-safe.
  void post(std::function<void()> fn);
  void set_runtime(std::shared_ptr<const Runtime> runtime);
  void stop(Millis grace); // stop accepting; end the sessions left after `grace`

  // Loop thread only.
  uv_loop_t* loop() { return &loop_; }
  const std::shared_ptr<const Runtime>& runtime() const { return runtime_; }
  uv_buf_t read_buffer() {
    return uv_buf_init(read_buffer_.data(), static_cast<unsigned>(read_buffer_.size()));
  }
  metrics::Metrics& metrics() { return shared_.metrics; }
  policy::IpLimiter& per_ip() { return shared_.per_ip; }
  SharedBans& bans() { return shared_.bans; }
  std::size_t backend_index(std::string_view name) const;
  void add(Session* s);
  void remove(Session* s);

private:
  struct Listener {
    uv_tcp_t tcp{};
    Worker* worker = nullptr;
    std::size_t index = 0;
  };

  void run();
  void begin_stop(Millis grace);
  void close_sessions();
  static void on_connection(uv_stream_t* server, int status);
  static void on_async(uv_async_t* async);
  static void on_grace_timer(uv_timer_t* timer);

  WorkerShared shared_;
  std::shared_ptr<const Runtime> runtime_;
  std::vector<int> listen_fds_;
  uv_loop_t loop_{};
  uv_async_t async_{};
  uv_timer_t grace_timer_{};
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<char> read_buffer_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::function<void()>> inbox_;
  Session* sessions_ = nullptr;
  std::size_t session_count_ = 0;
  bool stopping_ = false;
};

} // namespace popgate::proxy
