#pragma once

// Connects to one of a backend's servers: tried in order, each with `connect_timeout`, the
// next one on refusal or timeout (SPEC: "tried in order on connect failure"). The connector is
// its own heap object with its own handles, so a session that closes mid-connect just calls
// cancel() and forgets it: the connector frees itself in its last close callback.
//
// On success the connected uv_tcp_t is handed over; the receiver owns it from then on (closes
// it and frees it with `delete` in its close callback).

#include "base/address.hpp"
#include "base/duration.hpp"

#include <functional>
#include <optional>
#include <string>
#include <uv.h>
#include <vector>

namespace popgate::proxy {

struct ConnectOutcome {
  uv_tcp_t* handle = nullptr; // connected socket, or nullptr when every server failed
  std::size_t server = 0;     // index of the server that answered (or the last one tried)
  std::string error;          // why the last attempt failed, for the log
  bool timed_out = false;     // the last failure was a timeout rather than a refusal
};

class BackendConnector {
public:
  // Called once per attempt (server index, elapsed, success), then once with the outcome.
  using AttemptFn = std::function<void(std::size_t server, Millis elapsed, bool ok)>;
  using DoneFn = std::function<void(ConnectOutcome)>;

  // `source`: connect from this address (source = "client"), else from the gateway's own.
  // `skip[i]` true: servers[i] is out of rotation (disabled by an administrator) and not tried;
  // with every server skipped, the outcome is a failure without any attempt.
  static BackendConnector* start(uv_loop_t* loop, const std::vector<Endpoint>& servers,
                                 std::optional<Address> source, Millis timeout,
                                 AttemptFn on_attempt, DoneFn on_done, std::vector<bool> skip = {});

  // Stops the attempt in flight; no callback is called afterwards.
  void cancel();

private:
  BackendConnector(uv_loop_t* loop, std::vector<Endpoint> servers, std::optional<Address> source,
                   Millis timeout, AttemptFn on_attempt, DoneFn on_done, std::vector<bool> skip);
  void try_next();
  bool open_socket(const sockaddr_storage& to);
  void finish_attempt(bool ok, std::string error, bool timed_out);
  void release_if_idle();
  void close_socket();

  static void on_connect(uv_connect_t* req, int status);
  static void on_timeout(uv_timer_t* timer);
  static void on_socket_closed(uv_handle_t* handle);
  static void on_timer_closed(uv_handle_t* handle);

  uv_loop_t* loop_;
  std::vector<Endpoint> servers_;
  std::vector<bool> skip_;
  std::optional<Address> source_;
  Millis timeout_;
  AttemptFn on_attempt_;
  DoneFn on_done_;
  std::size_t next_ = 0;
  std::size_t current_ = 0;
  uv_tcp_t* socket_ = nullptr; // the attempt in flight
  uv_connect_t connect_req_{};
  uv_timer_t timer_{};
  uint64_t started_ms_ = 0;
  bool connect_pending_ = false;
  bool done_ = false;
  bool timer_closed_ = false;
  bool socket_closing_ = false;
  bool cancelled_ = false;
  std::string last_error_;
  bool last_timed_out_ = false;
};

} // namespace popgate::proxy
