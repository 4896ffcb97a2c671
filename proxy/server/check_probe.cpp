#include "proxy/server/check_probe.hpp"

#include "proxy/server/backend_connector.hpp"

#include <cstring>
#include <memory>
#include <string>

namespace popgate::proxy {
namespace {
// As long as the longest greeting popgate relays (pop3::Options::max_response_line).
constexpr std::size_t kMaxGreeting = 8192;

// A write owns its bytes until its callback (libuv, docs/src/stream.rst).
struct Write {
  uv_write_t req{};
  std::string bytes;
};
} // namespace

CheckProbe* CheckProbe::start(uv_loop_t* loop, const Endpoint& server, Millis connect_timeout,
                              Millis greeting_timeout, ForwardClient forward_client,
                              DoneFn on_done) {
  auto* probe = new CheckProbe(loop, greeting_timeout, forward_client, std::move(on_done));
  probe->connector_ =
      BackendConnector::start(loop, {server}, std::nullopt, connect_timeout, nullptr,
                              [probe](const ConnectOutcome& outcome) {
                                probe->connector_ = nullptr;
                                if (outcome.handle == nullptr) {
                                  probe->check_.connect_failed(outcome.timed_out, outcome.error);
                                  probe->step();
                                } else {
                                  probe->connected(outcome.handle);
                                }
                              });
  return probe;
}

CheckProbe::CheckProbe(uv_loop_t* loop, Millis greeting_timeout, ForwardClient forward_client,
                       DoneFn on_done)
    : loop_(loop), started_(now()), check_(greeting_timeout, kMaxGreeting, forward_client),
      on_done_(std::move(on_done)) {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  ++open_handles_;
}

void CheckProbe::connected(uv_tcp_t* socket) {
  socket_ = socket;
  socket_->data = this;
  ++open_handles_;
  check_.connected(now());
  uv_read_start(reinterpret_cast<uv_stream_t*>(socket_), on_alloc, on_read);
  step();
}

void CheckProbe::on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
  auto* self = static_cast<CheckProbe*>(handle->data);
  *buf = uv_buf_init(self->buffer_.data(), static_cast<unsigned>(self->buffer_.size()));
}

void CheckProbe::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<CheckProbe*>(stream->data);
  if (nread == 0) {
    return;
  }
  if (nread < 0) {
    self->check_.eof(); // a reset reads like an EOF: the verdict is the same
  } else {
    self->check_.data(std::string_view(buf->base, static_cast<std::size_t>(nread)));
  }
  self->step();
}

void CheckProbe::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<CheckProbe*>(timer->data);
  self->check_.timer(self->now());
  self->step();
}

void CheckProbe::step() {
  if (closing_) {
    return;
  }
  if (auto bytes = check_.take_output(); !bytes.empty() && socket_ != nullptr) {
    auto* w = new Write;
    w->bytes = std::move(bytes);
    uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    w->req.data = w;
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(socket_), &buf, 1,
                      [](uv_write_t* req, int) { delete static_cast<Write*>(req->data); });
    if (rc != 0) {
      delete w;
      check_.eof(); // cannot send QUIT: the server has gone; it greeted, so it stays up
    }
  }
  if (check_.verdict()) {
    report();
  }
  if (check_.done()) {
    close();
    return;
  }
  auto due = check_.deadline() - now();
  uv_timer_start(&timer_, on_timer, static_cast<std::uint64_t>(std::max(due, Millis(0)).count()),
                 0);
}

void CheckProbe::report() {
  if (reported_) {
    return;
  }
  reported_ = true;
  if (on_done_) {
    auto done = std::move(on_done_);
    done(*check_.verdict(), now() - started_);
  }
}

void CheckProbe::cancel() {
  on_done_ = nullptr;
  reported_ = true;
  close();
}

void CheckProbe::close() {
  if (closing_) {
    return;
  }
  closing_ = true;
  if (connector_ != nullptr) {
    connector_->cancel();
    connector_ = nullptr;
  }
  auto closed = [](uv_handle_t* handle) {
    static_cast<CheckProbe*>(handle->data)->handle_closed();
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), closed);
  if (socket_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(socket_), closed);
  }
}

void CheckProbe::handle_closed() {
  if (--open_handles_ == 0) {
    // The connector handed the socket over with `new`; it is ours to free.
    if (socket_ != nullptr) {
      delete socket_;
    }
    delete this;
  }
}

} // namespace popgate::proxy
