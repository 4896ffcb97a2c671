#pragma once

// A sans-IO HTTP/1.x responder for the metrics endpoint: request bytes in, one response out.
//
// Why not prometheus-cpp's own Exposer (civetweb)? The proxy already runs libuv loops; serving
// [metrics] bind from one of them keeps one event loop model and one thread model for the whole
// process. /healthz must answer from the same place that knows whether popgate is draining after
// SIGTERM, and civetweb would add its own listener, its own worker threads and a second code path
// for binding, dropping privileges and shutting down. The proxy accepts the TCP connection, feeds
// what it reads here, writes response() once complete() is true, and closes.
//
// Scope, deliberately small (this serves Prometheus and health checkers, not browsers):
// - One request per connection; every response carries "Connection: close" (RFC 9112 section
//   9.6), so there is no keep-alive, pipelining or request body handling. Bytes after the header
//   block are ignored.
// - The request line and headers are bounded by kMaxRequestBytes; a longer request is answered
//   431 without waiting for its end.
// - Only the request line is interpreted. Header fields are not parsed beyond finding the blank
//   line that ends them; single LF line ends are accepted as RFC 9112 section 2.2 allows.
//
// Responses
//   GET/HEAD <metrics path>  200, text exposition format 0.0.4; the query string is ignored
//   GET/HEAD /healthz        200 "ok" while accepting, 503 "draining" after SIGTERM
//   other path               404
//   other method             405 with "Allow: GET, HEAD"
//   malformed request line   400 (also when the peer ended the request early)
//   header block too large   431
// HEAD answers with the headers GET would send, Content-Length included, and no body.

#include <cstddef>
#include <string>
#include <string_view>

namespace popgate::metrics {

class Metrics;

inline constexpr std::size_t kMaxRequestBytes = 8192;

class HttpExchange {
public:
  // Appends request bytes. Bytes fed after complete() is true are ignored.
  void feed(std::string_view data);

  // True once the header block has ended or the request is already known to be bad (too large or
  // a malformed request line): the caller stops reading and sends response().
  [[nodiscard]] bool complete() const { return complete_; }

  // The full HTTP response, headers and body. May be called before complete() when the peer has
  // closed its side early; the answer is then 400. The metrics body is serialized at this call,
  // so it reflects the counters at response time.
  [[nodiscard]] std::string response(const Metrics& metrics, std::string_view metrics_path,
                                     bool accepting) const;

private:
  void check_request_line();

  std::string buffer_;
  bool complete_ = false;
  bool too_large_ = false;
  bool malformed_ = false;
  bool line_checked_ = false; // the request line has been seen and validated
};

} // namespace popgate::metrics
