#pragma once

// Accepts connections on one listening socket: accept4(2) driven by a uv_poll_t rather than
// libuv's uv_listen, because libuv handles running out of descriptors silently (at EMFILE it
// drops the pending connections with its reserve descriptor and never calls the connection
// callback), and popgate must log and count that.
//
// At EMFILE/ENFILE the acceptor does what libuv does, visibly: it closes its own reserve
// descriptor, accepts and closes every pending connection (their clients see the connection
// close at once instead of waiting in the backlog), opens the reserve again and reports how
// many connections were lost. When it cannot drain the socket (no reserve, or ENOMEM/ENOBUFS,
// which leave the connection pending), it stops polling for kPause, so a listening socket
// that stays readable cannot make the loop spin. Loop thread only.

#include "base/duration.hpp"

#include <functional>
#include <uv.h>

namespace popgate::proxy {

class Acceptor {
public:
  // `fd` (taken over) accepted connection, non-blocking and close-on-exec; the callee owns it.
  using OnAccepted = std::function<void(int fd)>;
  // `error` is an errno value; `lost` counts the connections it cost (at least 1).
  using OnError = std::function<void(int error, unsigned lost)>;

  static constexpr Millis kPause{100};
  static constexpr int kBatch = 64; // accepts per wakeup, so other handles get their turn

  // `listen_fd`: a bound, listening, non-blocking socket, owned from now on.
  Acceptor(uv_loop_t* loop, int listen_fd, OnAccepted on_accepted, OnError on_error);
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  void start();
  // Stops accepting and closes the listening socket at once; the handles finish closing on
  // the loop's next turn, which must happen before the destructor.
  void close();

private:
  static void on_readable(uv_poll_t* poll, int status, int events);
  static void on_resume(uv_timer_t* timer);
  void accept_batch();
  unsigned shed_pending();
  void pause();

  int listen_fd_;
  int reserve_fd_;
  OnAccepted on_accepted_;
  OnError on_error_;
  uv_poll_t poll_{};
  uv_timer_t resume_{};
  bool closed_ = false;
};

} // namespace popgate::proxy
