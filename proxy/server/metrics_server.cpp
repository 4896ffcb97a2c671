#include "proxy/server/metrics_server.hpp"

#include "metrics/http_endpoint.hpp"
#include "proxy/server/socket_address.hpp"

#include <array>
#include <fmt/format.h>

namespace popgate::proxy {
namespace {
constexpr std::uint64_t kRequestTimeoutMs = 10'000;
constexpr unsigned kMaxActive = 64;
} // namespace

struct MetricsServer::Exchange {
  MetricsServer* server = nullptr;
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  uv_write_t write_req{};
  metrics::HttpExchange http;
  std::string response;
  std::array<char, 4096> buffer{};
  int open_handles = 2;
  bool answered = false;

  void answer() {
    if (answered) {
      return;
    }
    answered = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp));
    response = http.response(server->metrics_, server->path_, !server->draining_.load());
    uv_buf_t buf = uv_buf_init(response.data(), static_cast<unsigned>(response.size()));
    write_req.data = this;
    if (uv_write(&write_req, reinterpret_cast<uv_stream_t*>(&tcp), &buf, 1,
                 [](uv_write_t* req, int) { static_cast<Exchange*>(req->data)->finish(); }) != 0) {
      finish();
    }
  }

  void finish() {
    auto closed = [](uv_handle_t* h) {
      auto* self = static_cast<Exchange*>(h->data);
      if (--self->open_handles == 0) {
        --self->server->active_;
        delete self;
      }
    };
    for (auto* h : {reinterpret_cast<uv_handle_t*>(&tcp), reinterpret_cast<uv_handle_t*>(&timer)}) {
      if (!uv_is_closing(h)) {
        uv_close(h, closed);
      }
    }
  }
};

MetricsServer::MetricsServer(uv_loop_t* loop, const metrics::Metrics& metrics, std::string path,
                             const std::atomic<bool>& draining)
    : loop_(loop), metrics_(metrics), path_(std::move(path)), draining_(draining) {}

Result<void, std::string> MetricsServer::listen(const Endpoint& bind) {
  sockaddr_storage addr{};
  if (!to_sockaddr(bind, addr)) {
    return unexpected(fmt::format("cannot bind {}: not a numeric address", bind.to_string()));
  }
  uv_tcp_init(loop_, &tcp_);
  tcp_.data = this;
  listening_ = true;
  int rc = uv_tcp_bind(&tcp_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 128, on_connection);
  }
  if (rc != 0) {
    return unexpected(fmt::format("cannot bind {}: {}", bind.to_string(), uv_strerror(rc)));
  }
  return {};
}

void MetricsServer::close() {
  if (listening_) {
    listening_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
  }
}

void MetricsServer::on_connection(uv_stream_t* stream, int status) {
  auto* self = static_cast<MetricsServer*>(stream->data);
  if (status < 0) {
    return;
  }
  auto* ex = new Exchange;
  ex->server = self;
  ++self->active_;
  uv_tcp_init(self->loop_, &ex->tcp);
  uv_timer_init(self->loop_, &ex->timer);
  ex->tcp.data = ex;
  ex->timer.data = ex;
  if (uv_accept(stream, reinterpret_cast<uv_stream_t*>(&ex->tcp)) != 0 ||
      self->active_ > kMaxActive) {
    ex->finish();
    return;
  }
  uv_timer_start(
      &ex->timer, [](uv_timer_t* t) { static_cast<Exchange*>(t->data)->finish(); },
      kRequestTimeoutMs, 0);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&ex->tcp),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* e = static_cast<Exchange*>(h->data);
        *buf = uv_buf_init(e->buffer.data(), static_cast<unsigned>(e->buffer.size()));
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* e = static_cast<Exchange*>(s->data);
        if (nread > 0) {
          e->http.feed(std::string_view(buf->base, static_cast<std::size_t>(nread)));
          if (e->http.complete()) {
            e->answer();
          }
        } else if (nread < 0) {
          if (nread == UV_EOF && !e->answered) {
            e->answer(); // a half-closed request still gets its answer (400 if incomplete)
          } else {
            e->finish();
          }
        }
      });
}

} // namespace popgate::proxy
