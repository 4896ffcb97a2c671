#include "proxy/server/healthcheck.hpp"

#include "proxy/config/config_loader.hpp"
#include "proxy/server/socket_address.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <poll.h>
#include <string_view>
#include <unistd.h>

namespace popgate::proxy {
namespace {
constexpr int kTimeoutMs = 3000;

bool wait_for(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, kTimeoutMs) == 1;
}
} // namespace

int run_healthcheck(const std::string& config_path) {
  auto config = load_config(config_path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().front().to_string().c_str());
    return 1;
  }
  if (config->metrics.bind.empty()) {
    std::fprintf(stderr, "popgate: [metrics] bind is off; nothing to ask\n");
    return 1;
  }
  auto ep = Endpoint::parse(config->metrics.bind);
  sockaddr_storage addr{};
  if (!ep || !to_sockaddr(*ep, addr)) {
    std::fprintf(stderr, "popgate: bad [metrics] bind\n");
    return 1;
  }
  // A wildcard bind is reached through loopback.
  if (ep->host == "0.0.0.0") {
    ep->host = "127.0.0.1";
  } else if (ep->host == "::") {
    ep->host = "::1";
  }
  to_sockaddr(*ep, addr);
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  socklen_t len = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
  if ((rc != 0 && errno != EINPROGRESS) || !wait_for(fd, POLLOUT)) {
    std::fprintf(stderr, "popgate: cannot reach %s\n", ep->to_string().c_str());
    ::close(fd);
    return 1;
  }
  std::string request =
      "GET /healthz HTTP/1.1\r\nHost: " + ep->to_string() + "\r\nConnection: close\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return 1;
  }
  std::string reply;
  std::array<char, 1024> buf{};
  while (reply.size() < 4096 && wait_for(fd, POLLIN)) {
    auto n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) {
      break;
    }
    reply.append(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  std::string_view status = std::string_view(reply).substr(0, reply.find("\r\n"));
  std::printf("%s\n", std::string(status).c_str());
  return status.find(" 200 ") != std::string_view::npos ? 0 : 1;
}

} // namespace popgate::proxy
