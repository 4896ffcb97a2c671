// Unit tests for popgate::metrics::HttpExchange, the sans-IO responder behind [metrics] bind.
// Every request is fed whole, one byte at a time, and from an exact-size heap buffer.

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "metrics/http_endpoint.hpp"
#include "metrics/metrics.hpp"

namespace popgate::metrics {
namespace {

Labels test_labels() {
  Labels labels;
  labels.listeners = {"pop3s"};
  labels.version = "0.1.0";
  labels.mbedtls = "2.28.3";
  labels.libuv = "1.44.2";
  return labels;
}

enum class Feed { Whole, ByteAtATime, ExactHeapBuffer };

std::string exchange(const Metrics& metrics, std::string_view request, Feed mode,
                     bool accepting = true, bool* complete = nullptr) {
  HttpExchange http;
  switch (mode) {
  case Feed::Whole:
    http.feed(request);
    break;
  case Feed::ByteAtATime:
    for (char c : request) {
      http.feed(std::string_view(&c, 1));
    }
    break;
  case Feed::ExactHeapBuffer: {
    // The request ends exactly at the end of its allocation so ASan reports any over-read.
    // NOLINTNEXTLINE(modernize-avoid-c-arrays): exact-size heap, ASan sees over-reads
    auto heap = std::make_unique<char[]>(request.size());
    std::copy(request.begin(), request.end(), heap.get());
    http.feed(std::string_view(heap.get(), request.size()));
    break;
  }
  }
  if (complete != nullptr) {
    *complete = http.complete();
  }
  return http.response(metrics, "/metrics", accepting);
}

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

std::string body(const std::string& response) {
  auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : response.substr(end + 4);
}

struct Case {
  std::string_view name;
  std::string_view request;
  bool accepting;
  std::string_view status;
  std::string_view body_contains; // "" = no check
};

std::string feed_name(Feed mode) {
  switch (mode) {
  case Feed::Whole:
    return "Whole";
  case Feed::ByteAtATime:
    return "ByteAtATime";
  case Feed::ExactHeapBuffer:
    return "ExactHeapBuffer";
  }
  return "Unknown";
}

class HttpExchangeTest : public ::testing::TestWithParam<std::tuple<Case, Feed>> {};

TEST_P(HttpExchangeTest, Answers) {
  const auto& [c, mode] = GetParam();
  Metrics metrics(test_labels());
  bool complete = false;
  std::string response = exchange(metrics, c.request, mode, c.accepting, &complete);
  EXPECT_TRUE(complete);
  EXPECT_EQ(status_line(response), c.status);
  EXPECT_NE(response.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_NE(response.find("\r\nContent-Length: " + std::to_string(body(response).size()) + "\r\n"),
            std::string::npos);
  EXPECT_NE(body(response).find(c.body_contains), std::string::npos) << response;
}

const auto kCases = std::to_array<Case>({
    {"GetMetricsServesTheExposition", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", true,
     "HTTP/1.1 200 OK", "# TYPE popgate_connections_total counter"},
    {"GetMetricsIgnoresTheQueryString", "GET /metrics?debug=1 HTTP/1.1\r\n\r\n", true,
     "HTTP/1.1 200 OK", "popgate_build_info"},
    {"Http10IsAnswered", "GET /metrics HTTP/1.0\r\n\r\n", true, "HTTP/1.1 200 OK",
     "popgate_connections_total"},
    {"BareLfLineEndsAreAccepted", "GET /metrics HTTP/1.1\nHost: x\n\n", true, "HTTP/1.1 200 OK",
     "popgate_sessions_active"},
    {"MetricsAreServedWhileDraining", "GET /metrics HTTP/1.1\r\n\r\n", false, "HTTP/1.1 200 OK",
     "popgate_bytes_total"},
    {"HealthzIsOkWhileAccepting", "GET /healthz HTTP/1.1\r\n\r\n", true, "HTTP/1.1 200 OK", "ok\n"},
    {"HealthzIs503WhileDraining", "GET /healthz HTTP/1.1\r\n\r\n", false,
     "HTTP/1.1 503 Service Unavailable", "draining\n"},
    {"UnknownPathIs404", "GET /metricsx HTTP/1.1\r\n\r\n", true, "HTTP/1.1 404 Not Found", ""},
    {"RootIs404", "GET / HTTP/1.1\r\n\r\n", true, "HTTP/1.1 404 Not Found", ""},
    {"PostIs405", "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", true,
     "HTTP/1.1 405 Method Not Allowed", ""},
    {"DeleteOnUnknownPathIs405", "DELETE /x HTTP/1.1\r\n\r\n", true,
     "HTTP/1.1 405 Method Not Allowed", ""},
    {"MissingVersionIs400", "GET /metrics\r\n\r\n", true, "HTTP/1.1 400 Bad Request", ""},
    {"Http2VersionIs400", "GET /metrics HTTP/2.0\r\n\r\n", true, "HTTP/1.1 400 Bad Request", ""},
    {"AbsoluteFormTargetIs400", "GET http://x/metrics HTTP/1.1\r\n\r\n", true,
     "HTTP/1.1 400 Bad Request", ""},
    {"DoubleSpaceIs400", "GET  /metrics HTTP/1.1\r\n\r\n", true, "HTTP/1.1 400 Bad Request", ""},
    {"NulInTargetIs400", std::string_view("GET /me\0trics HTTP/1.1\r\n\r\n", 26), true,
     "HTTP/1.1 400 Bad Request", ""},
    {"BinaryGarbageIs400", "\x16\x03\x01\x02\x05\x01\x7f\x01\xfc\x03\x03\n", true,
     "HTTP/1.1 400 Bad Request", ""},
    {"EmptyLineFirstIs400", "\r\nGET /metrics HTTP/1.1\r\n\r\n", true, "HTTP/1.1 400 Bad Request",
     ""},
});

INSTANTIATE_TEST_SUITE_P(Requests, HttpExchangeTest,
                         ::testing::Combine(::testing::ValuesIn(kCases),
                                            ::testing::Values(Feed::Whole, Feed::ByteAtATime,
                                                              Feed::ExactHeapBuffer)),
                         [](const auto& test) {
                           return std::string(std::get<0>(test.param).name) + "_" +
                                  feed_name(std::get<1>(test.param));
                         });

TEST(HttpExchangeTest, HeadSendsHeadersOnlyWithGetsContentLength) {
  Metrics metrics(test_labels());
  std::string get = exchange(metrics, "GET /metrics HTTP/1.1\r\n\r\n", Feed::Whole);
  std::string head = exchange(metrics, "HEAD /metrics HTTP/1.1\r\n\r\n", Feed::Whole);
  EXPECT_EQ(status_line(head), "HTTP/1.1 200 OK");
  EXPECT_TRUE(body(head).empty());
  EXPECT_EQ(head, get.substr(0, get.find("\r\n\r\n") + 4));
  EXPECT_NE(head.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
}

TEST(HttpExchangeTest, BodyReflectsCountersAtResponseTime) {
  Metrics metrics(test_labels());
  HttpExchange http;
  http.feed("GET /metrics HTTP/1.1\r\n\r\n");
  metrics.bans_total().Increment(7);
  EXPECT_NE(http.response(metrics, "/metrics", true).find("\npopgate_bans_total 7\n"),
            std::string::npos);
}

TEST(HttpExchangeTest, ConfiguredPathIsHonoured) {
  Metrics metrics(test_labels());
  HttpExchange http;
  http.feed("GET /stats/popgate HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_line(http.response(metrics, "/stats/popgate", true)), "HTTP/1.1 200 OK");
  EXPECT_EQ(status_line(http.response(metrics, "/metrics", true)), "HTTP/1.1 404 Not Found");
}

TEST(HttpExchangeTest, IncompleteRequestWaitsAndIs400IfThePeerStops) {
  Metrics metrics(test_labels());
  HttpExchange http;
  http.feed("GET /metrics HTTP/1.1\r\nHost: x\r\n");
  EXPECT_FALSE(http.complete());
  EXPECT_EQ(status_line(http.response(metrics, "/metrics", true)), "HTTP/1.1 400 Bad Request");
}

TEST(HttpExchangeTest, MalformedRequestLineCompletesBeforeTheHeaders) {
  HttpExchange http;
  http.feed("BREW /pot HTCPCP/1.0\r\n");
  EXPECT_TRUE(http.complete());
}

TEST(HttpExchangeTest, OversizeRequestIsRejectedAndBounded) {
  Metrics metrics(test_labels());
  std::string request = "GET /metrics HTTP/1.1\r\nX-Padding: " + std::string(kMaxRequestBytes, 'a');
  for (Feed mode : {Feed::Whole, Feed::ByteAtATime}) {
    bool complete = false;
    std::string response = exchange(metrics, request, mode, true, &complete);
    EXPECT_TRUE(complete);
    EXPECT_EQ(status_line(response), "HTTP/1.1 431 Request Header Fields Too Large");
  }
  // A request line alone longer than the limit never reaches a newline.
  bool complete = false;
  std::string response =
      exchange(metrics, "GET /" + std::string(kMaxRequestBytes, 'm'), Feed::Whole, true, &complete);
  EXPECT_TRUE(complete);
  EXPECT_EQ(status_line(response), "HTTP/1.1 431 Request Header Fields Too Large");
}

TEST(HttpExchangeTest, RequestOfExactlyTheLimitIsAccepted) {
  Metrics metrics(test_labels());
  std::string head = "GET /healthz HTTP/1.1\r\nX-Padding: ";
  std::string request = head + std::string(kMaxRequestBytes - head.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(request.size(), kMaxRequestBytes);
  EXPECT_EQ(status_line(exchange(metrics, request, Feed::ByteAtATime)), "HTTP/1.1 200 OK");
}

TEST(HttpExchangeTest, BytesAfterTheHeadersAreIgnored) {
  Metrics metrics(test_labels());
  HttpExchange http;
  http.feed("GET /healthz HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n");
  http.feed(std::string(2 * kMaxRequestBytes, 'x'));
  EXPECT_EQ(http.response(metrics, "/metrics", true).find("popgate_"), std::string::npos);
}

} // namespace
} // namespace popgate::metrics
