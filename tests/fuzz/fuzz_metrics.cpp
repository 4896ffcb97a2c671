// The metrics endpoint's HTTP responder: arbitrary request bytes, fed whole, one byte at a time
// and in pseudo-random pieces (derived from the input). Every way of feeding must give the same
// answer, and every answer must be a well-formed HTTP/1.1 response: a known status, the headers
// the contract promises, and a Content-Length that matches the body (none for HEAD).

#include "fuzz_util.hpp"
#include "metrics/http_endpoint.hpp"
#include "metrics/metrics.hpp"

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

using popgate::fuzz::check;
using popgate::fuzz::Chunker;
using popgate::fuzz::HeapChunk;
using namespace popgate::metrics;

namespace {

constexpr std::string_view kMetricsPath = "/metrics";

const Metrics& metrics() {
  static const Metrics instance([] {
    Labels labels;
    labels.listeners = {"pop3s"};
    labels.version = "0.1.0";
    labels.mbedtls = "2.28.3";
    labels.libuv = "1.44.2";
    return labels;
  }());
  return instance;
}

struct Answer {
  bool complete = false;
  std::string response;
};

template <typename NextSize>
Answer exchange(std::string_view input, bool accepting, NextSize next_size) {
  HttpExchange http;
  std::size_t fed = 0;
  while (fed < input.size() && !http.complete()) {
    const std::size_t n = std::min(next_size(), input.size() - fed);
    const HeapChunk chunk(input.substr(fed, n));
    http.feed(chunk.view());
    fed += n;
  }
  // Bounded: the responder decides within kMaxRequestBytes.
  check(http.complete() || fed <= kMaxRequestBytes);
  return {http.complete(), http.response(metrics(), kMetricsPath, accepting)};
}

std::string_view header_value(std::string_view head, std::string_view name) {
  const std::string key = "\r\n" + std::string(name) + ": ";
  const auto at = head.find(key);
  if (at == std::string_view::npos) {
    return {};
  }
  const auto value = head.substr(at + key.size());
  return value.substr(0, value.find("\r\n"));
}

void check_well_formed(std::string_view response, bool head_request) {
  check(response.starts_with("HTTP/1.1 "));
  int status = 0;
  const auto code = response.substr(9, 3);
  check(std::from_chars(code.data(), code.data() + code.size(), status).ec == std::errc{});
  check(status == 200 || status == 400 || status == 404 || status == 405 || status == 431 ||
        status == 503);
  const auto end = response.find("\r\n\r\n");
  check(end != std::string_view::npos);
  const auto head = response.substr(0, end + 2);
  const auto body = response.substr(end + 4);
  check(header_value(head, "Connection") == "close");
  check(!header_value(head, "Content-Type").empty());
  check((status == 405) == !header_value(head, "Allow").empty());
  const auto length_text = header_value(head, "Content-Length");
  std::size_t length = 0;
  check(std::from_chars(length_text.data(), length_text.data() + length_text.size(), length).ec ==
        std::errc{});
  // Only a GET or HEAD that got as far as routing (200, 404, 503) answers HEAD without a body.
  const bool bodiless = head_request && (status == 200 || status == 404 || status == 503);
  check(body.size() == (bodiless ? 0 : length));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bool accepting = size % 2 == 0;
  const Answer whole = exchange(input, accepting, [&] { return input.size(); });
  const Answer bytewise = exchange(input, accepting, [] { return std::size_t{1}; });
  Chunker chunker(input, 128);
  const Answer pieces = exchange(input, accepting, [&] { return chunker.next(); });
  for (const Answer* other : {&bytewise, &pieces}) {
    check(other->complete == whole.complete);
    check(other->response == whole.response);
  }
  check_well_formed(whole.response, input.starts_with("HEAD "));
  // A request the peer ended early is a 400.
  if (!whole.complete) {
    check(whole.response.starts_with("HTTP/1.1 400 "));
  }
  return 0;
}
