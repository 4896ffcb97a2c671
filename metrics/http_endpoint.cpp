#include "metrics/http_endpoint.hpp"

#include <algorithm>

#include "metrics/metrics.hpp"

namespace popgate::metrics {

namespace {

constexpr std::string_view kExpositionType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kTextType = "text/plain; charset=utf-8";
constexpr std::string_view kHealthPath = "/healthz";

struct RequestLine {
  std::string_view method;
  std::string_view path;
  bool valid = false;
};

// RFC 9110 section 5.6.2: token characters.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 9112 section 3: request-line = method SP request-target SP HTTP-version. Only the
// origin-form target is accepted; that is all a scraper sends.
RequestLine parse_request_line(std::string_view line) {
  RequestLine out;
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) {
    return out;
  }
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    return out;
  }
  out.method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!std::all_of(out.method.begin(), out.method.end(), is_tchar)) {
    return out;
  }
  if (target.front() != '/' ||
      std::any_of(target.begin(), target.end(), [](char c) { return c <= ' ' || c == 0x7f; })) {
    return out;
  }
  // HTTP-version = "HTTP/" DIGIT "." DIGIT; popgate answers 1.0 and 1.1 alike.
  if (version != "HTTP/1.0" && version != "HTTP/1.1") {
    return out;
  }
  out.path = target.substr(0, target.find('?'));
  out.valid = true;
  return out;
}

std::string_view reason_phrase(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 431:
    return "Request Header Fields Too Large";
  case 503:
    return "Service Unavailable";
  default:
    return "Error";
  }
}

std::string build(int status, std::string_view content_type, std::string_view body,
                  bool head_only) {
  std::string out;
  out.reserve(160 + (head_only ? 0 : body.size()));
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  if (status == 405) {
    out += "\r\nAllow: GET, HEAD";
  }
  // Scrapes must see fresh numbers, never a cached page.
  out += "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
  if (!head_only) {
    out += body;
  }
  return out;
}

} // namespace

void HttpExchange::feed(std::string_view data) {
  if (complete_) {
    return;
  }
  // Only the bytes that can still fit are kept: going over the limit is an answer (431), never
  // growth.
  std::size_t room = kMaxRequestBytes - buffer_.size();
  std::size_t take = std::min(room, data.size());
  std::size_t scan_from = buffer_.size() >= 3 ? buffer_.size() - 3 : 0;
  buffer_.append(data.substr(0, take));

  check_request_line();
  if (malformed_) {
    complete_ = true;
    return;
  }
  // End of the header block: an empty line, CRLF or bare LF (RFC 9112 section 2.2).
  std::string_view view(buffer_);
  for (std::size_t i = scan_from; i < view.size(); ++i) {
    if (view[i] != '\n') {
      continue;
    }
    if ((i >= 1 && view[i - 1] == '\n') || (i >= 2 && view[i - 1] == '\r' && view[i - 2] == '\n')) {
      complete_ = true;
      return;
    }
  }
  if (take < data.size() || buffer_.size() == kMaxRequestBytes) {
    too_large_ = true;
    complete_ = true;
  }
}

void HttpExchange::check_request_line() {
  if (line_checked_) {
    return;
  }
  auto eol = buffer_.find('\n');
  if (eol == std::string::npos) {
    return;
  }
  // RFC 9112 section 2.2 lets a server ignore empty lines before the request line; a scraper
  // never sends them, so they are simply malformed here.
  malformed_ = !parse_request_line(std::string_view(buffer_).substr(0, eol)).valid;
  line_checked_ = true;
}

std::string HttpExchange::response(const Metrics& metrics, std::string_view metrics_path,
                                   bool accepting) const {
  if (too_large_) {
    return build(431, kTextType, "request too large\n", false);
  }
  auto eol = buffer_.find('\n');
  if (!complete_ || malformed_ || eol == std::string::npos) {
    return build(400, kTextType, "bad request\n", false);
  }
  RequestLine line = parse_request_line(std::string_view(buffer_).substr(0, eol));
  bool head = line.method == "HEAD";
  if (line.method != "GET" && !head) {
    return build(405, kTextType, "method not allowed\n", false);
  }
  if (line.path == kHealthPath) {
    return accepting ? build(200, kTextType, "ok\n", head)
                     : build(503, kTextType, "draining\n", head);
  }
  if (line.path == metrics_path) {
    return build(200, kExpositionType, metrics.serialize(), head);
  }
  return build(404, kTextType, "not found\n", head);
}

} // namespace popgate::metrics
