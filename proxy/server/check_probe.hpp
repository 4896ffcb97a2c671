#pragma once

// One active check of one backend server over libuv: the BackendConnector opens the connection,
// session::BackendCheck decides from what the server sends, this adapter moves the bytes and
// keeps the deadline. Its own heap object, like the connector: the checker that started it may
// cancel() it and forget it; it frees itself in its last close callback.

#include "base/address.hpp"
#include "base/duration.hpp"
#include "proxy/session/backend_check.hpp"

#include <array>
#include <functional>
#include <uv.h>

namespace popgate::proxy {

class BackendConnector;

class CheckProbe {
public:
  // Called once, with the verdict and the time from the start to the verdict; never after
  // cancel().
  using DoneFn = std::function<void(const session::CheckVerdict& verdict, Millis elapsed)>;

  // `forward_client`: see session::BackendCheck.
  static CheckProbe* start(uv_loop_t* loop, const Endpoint& server, Millis connect_timeout,
                           Millis greeting_timeout, ForwardClient forward_client, DoneFn on_done);
  void cancel();

  CheckProbe(const CheckProbe&) = delete;
  CheckProbe& operator=(const CheckProbe&) = delete;

private:
  CheckProbe(uv_loop_t* loop, Millis greeting_timeout, ForwardClient forward_client,
             DoneFn on_done);
  ~CheckProbe() = default;
  [[nodiscard]] Millis now() const { return Millis(static_cast<long long>(uv_now(loop_))); }
  void connected(uv_tcp_t* socket);
  void step(); // after each event: write, report, close, or wait for the deadline
  void report();
  void close();
  void handle_closed();

  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_timer(uv_timer_t* timer);

  uv_loop_t* loop_;
  Millis started_;
  session::BackendCheck check_;
  DoneFn on_done_;
  BackendConnector* connector_ = nullptr;
  uv_tcp_t* socket_ = nullptr;
  uv_timer_t timer_{};
  int open_handles_ = 0;
  bool reported_ = false;
  bool closing_ = false;
  // A greeting is one line; what does not fit waits for the next read.
  std::array<char, 1024> buffer_{};
};

} // namespace popgate::proxy
