#include "proxy/server/backend_connector.hpp"

#include "proxy/server/socket_address.hpp"
#include "proxy/server/transparent_socket.hpp"

#include <unistd.h>

namespace popgate::proxy {

BackendConnector* BackendConnector::start(uv_loop_t* loop, const std::vector<Endpoint>& servers,
                                          std::optional<Address> source, Millis timeout,
                                          AttemptFn on_attempt, DoneFn on_done,
                                          std::vector<bool> skip) {
  auto* c = new BackendConnector(loop, servers, source, timeout, std::move(on_attempt),
                                 std::move(on_done), std::move(skip));
  c->try_next();
  return c;
}

BackendConnector::BackendConnector(uv_loop_t* loop, std::vector<Endpoint> servers,
                                   std::optional<Address> source, Millis timeout,
                                   AttemptFn on_attempt, DoneFn on_done, std::vector<bool> skip)
    : loop_(loop), servers_(std::move(servers)), skip_(std::move(skip)), source_(source),
      timeout_(timeout), on_attempt_(std::move(on_attempt)), on_done_(std::move(on_done)) {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  connect_req_.data = this;
}

void BackendConnector::try_next() {
  if (cancelled_) {
    return;
  }
  while (next_ < servers_.size() && next_ < skip_.size() && skip_[next_]) {
    if (last_error_.empty()) {
      last_error_ = "disabled by the administrator";
      current_ = next_;
    }
    ++next_;
  }
  if (next_ >= servers_.size()) {
    done_ = true;
    ConnectOutcome outcome;
    outcome.server = current_;
    outcome.error = last_error_;
    outcome.timed_out = last_timed_out_;
    auto done = std::move(on_done_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_timer_closed);
    done(std::move(outcome));
    return;
  }
  current_ = next_++;
  sockaddr_storage addr{};
  if (!to_sockaddr(servers_[current_], addr)) {
    last_error_ = "bad address";
    try_next();
    return;
  }
  started_ms_ = uv_now(loop_);
  if (!open_socket(addr)) {
    return;
  }
  int rc =
      uv_tcp_connect(&connect_req_, socket_, reinterpret_cast<const sockaddr*>(&addr), on_connect);
  if (rc != 0) {
    finish_attempt(false, uv_strerror(rc), false);
    return;
  }
  connect_pending_ = true;
  uv_timer_start(&timer_, on_timeout, static_cast<uint64_t>(timeout_.count()), 0);
}

// A socket for the attempt: libuv's own, or one bound to the client's address. When the bound
// socket cannot be made the attempt fails like a refused connect, and the next server is tried.
bool BackendConnector::open_socket(const sockaddr_storage& to) {
  socket_ = new uv_tcp_t;
  uv_tcp_init(loop_, socket_);
  socket_->data = this;
  if (!source_) {
    return true;
  }
  auto fd = open_transparent_socket(*source_, to);
  if (!fd) {
    finish_attempt(false, fd.error(), false);
    return false;
  }
  if (int rc = uv_tcp_open(socket_, fd.value()); rc != 0) {
    ::close(fd.value());
    finish_attempt(false, uv_strerror(rc), false);
    return false;
  }
  return true;
}

void BackendConnector::on_connect(uv_connect_t* req, int status) {
  auto* self = static_cast<BackendConnector*>(req->data);
  self->connect_pending_ = false;
  if (self->cancelled_) {
    self->release_if_idle();
    return;
  }
  if (status == UV_ECANCELED) {
    // The timeout closed the socket; on_timeout already went on to the next server.
    return;
  }
  self->finish_attempt(status == 0, status == 0 ? "" : uv_strerror(status), false);
}

void BackendConnector::on_timeout(uv_timer_t* timer) {
  auto* self = static_cast<BackendConnector*>(timer->data);
  self->finish_attempt(false, "timed out", true);
}

void BackendConnector::finish_attempt(bool ok, std::string error, bool timed_out) {
  uv_timer_stop(&timer_);
  auto elapsed = Millis(static_cast<long long>(uv_now(loop_) - started_ms_));
  if (on_attempt_) {
    on_attempt_(current_, elapsed, ok);
  }
  if (ok) {
    done_ = true;
    ConnectOutcome outcome;
    outcome.handle = socket_;
    outcome.server = current_;
    socket_ = nullptr;
    auto done = std::move(on_done_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_timer_closed);
    done(std::move(outcome));
    return;
  }
  last_error_ = std::move(error);
  last_timed_out_ = timed_out;
  // Closing the socket cancels a pending connect (its callback gets UV_ECANCELED). The next
  // server is tried from the close callback, once the failed socket is fully released.
  close_socket();
}

void BackendConnector::close_socket() {
  socket_closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(socket_), on_socket_closed);
  socket_ = nullptr;
}

void BackendConnector::on_socket_closed(uv_handle_t* handle) {
  auto* self = static_cast<BackendConnector*>(handle->data);
  delete reinterpret_cast<uv_tcp_t*>(handle);
  self->socket_closing_ = false;
  if (self->cancelled_) {
    self->release_if_idle();
    return;
  }
  self->try_next();
}

void BackendConnector::cancel() {
  cancelled_ = true;
  if (done_) {
    return; // the outcome was delivered; the timer is already closing and frees us
  }
  uv_timer_stop(&timer_);
  if (socket_ != nullptr) {
    close_socket();
  }
  done_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_timer_closed);
}

void BackendConnector::on_timer_closed(uv_handle_t* handle) {
  auto* self = static_cast<BackendConnector*>(handle->data);
  self->timer_closed_ = true;
  self->release_if_idle();
}

void BackendConnector::release_if_idle() {
  if (timer_closed_ && !connect_pending_ && !socket_closing_ && socket_ == nullptr) {
    delete this;
  }
}

} // namespace popgate::proxy
