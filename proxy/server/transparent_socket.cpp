#include "proxy/server/transparent_socket.hpp"

#include "proxy/server/listen_socket.hpp"
#include "proxy/server/socket_address.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace popgate::proxy {
namespace {

// SO_ORIGINAL_DST (linux/netfilter_ipv4.h) and IP6T_SO_ORIGINAL_DST
// (linux/netfilter_ipv6/ip6_tables.h) are both 80; those headers clash with <netinet/in.h>.
constexpr int kSoOriginalDst = 80;

std::optional<OriginalDestination> as_destination(const sockaddr_storage& ss) {
  auto p = from_sockaddr(ss);
  if (!p) {
    return std::nullopt;
  }
  return OriginalDestination{p->address, p->port};
}

bool may_set_transparent() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  bool ok = set_transparent(fd, AF_INET) == 0;
  ::close(fd);
  return ok;
}

std::string transparent_error(int err) {
  std::string text = std::string("cannot set IP_TRANSPARENT: ") + std::strerror(err);
  if (err == EPERM) {
    text += "; source = \"client\" needs CAP_NET_ADMIN (run as root, or grant the capability)";
  }
  return text;
}

} // namespace

int set_transparent(int fd, int family) {
  int one = 1;
  int rc = family == AF_INET6 ? ::setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof one)
                              : ::setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof one);
  return rc == 0 ? 0 : errno;
}

PrivilegeProblems transparent_privilege_problems(const Config& config) {
  PrivilegeProblems problems;
  if (may_set_transparent()) {
    return problems;
  }
  auto at = [&](SourcePos pos) {
    return config.path + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) + ": ";
  };
  for (const auto& b : config.backends) {
    if (b.source == BackendSource::Client) {
      problems.errors.push_back(
          at(b.source_pos) + "backend.source: \"client\" needs CAP_NET_ADMIN to connect from " +
          "clients' addresses (IP_TRANSPARENT), and this process lacks it; run as root, or " +
          "grant it (systemd AmbientCapabilities=CAP_NET_ADMIN, containers --cap-add NET_ADMIN)");
    }
  }
  for (const auto& l : config.listeners) {
    if (l.transparent) {
      problems.warnings.push_back(at(l.transparent_pos) +
                                  "warning: listener.transparent: without CAP_NET_ADMIN the "
                                  "listener cannot take TPROXY connections; REDIRECT works");
    }
  }
  return problems;
}

Result<void, std::string> drop_privileges_keeping_net_admin(const std::string& user,
                                                            const std::string& group) {
  if (user.empty() || ::geteuid() != 0) {
    return drop_privileges(user, group); // nothing to keep: no switch happens
  }
  // Permitted capabilities survive setuid() with KEEPCAPS; effective ones are raised again
  // below. glibc has no capset() wrapper and libcap is not worth a dependency for one call.
  ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
  auto dropped = drop_privileges(user, group);
  ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  if (!dropped) {
    return dropped;
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, 2> data{};
  data[0].effective = data[0].permitted = 1U << CAP_NET_ADMIN;
  if (::syscall(SYS_capset, &header, data.data()) != 0) {
    return unexpected(std::string("cannot keep CAP_NET_ADMIN for source = \"client\" after "
                                  "switching to user '") +
                      user + "': " + std::strerror(errno));
  }
  return {};
}

std::optional<OriginalDestination> original_destination(int fd) {
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    return std::nullopt;
  }
  // A dual-stack listener's IPv4 clients arrive as ::ffff:a.b.c.d; netfilter tracks them as
  // IPv4, so ask the IPv4 table for them.
  auto mapped = as_destination(local);
  bool v4 = local.ss_family == AF_INET || (mapped && mapped->address.is_v4());
  sockaddr_storage original{};
  len = sizeof original;
  int rc = v4 ? ::getsockopt(fd, SOL_IP, kSoOriginalDst, &original, &len)
              : ::getsockopt(fd, SOL_IPV6, kSoOriginalDst, &original, &len);
  if (rc == 0) {
    return as_destination(original);
  }
  return mapped; // not NATed (TPROXY, or a direct connection): the local address is the one
}

Result<int, std::string> open_transparent_socket(const Address& source,
                                                 const sockaddr_storage& to) {
  bool to_v6 = to.ss_family == AF_INET6;
  if (source.is_v4() == to_v6) {
    return unexpected(std::string("cannot connect from the client's address: the client is ") +
                      (source.is_v4() ? "IPv4 and the server IPv6" : "IPv6 and the server IPv4"));
  }
  sockaddr_storage bind_to{};
  if (!to_sockaddr(Endpoint{source.to_string(), 0}, bind_to)) {
    return unexpected(std::string("cannot connect from ") + source.to_string());
  }
  int family = to.ss_family;
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return unexpected(std::string("cannot create a socket: ") + std::strerror(errno));
  }
  if (int err = set_transparent(fd, family); err != 0) {
    ::close(fd);
    return unexpected(transparent_error(err));
  }
  // The port is chosen at connect(), per destination: many sessions from one client address
  // to different servers do not use up the client address's ports.
  int one = 1;
  ::setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  socklen_t len = family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&bind_to), len) != 0) {
    int err = errno;
    ::close(fd);
    return unexpected("cannot bind to the client's address " + source.to_string() + ": " +
                      std::strerror(err));
  }
  return fd;
}

} // namespace popgate::proxy
