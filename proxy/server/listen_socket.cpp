#include "proxy/server/listen_socket.hpp"

#include "proxy/server/socket_address.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

namespace popgate::proxy {

Result<int, std::string> open_listen_socket(const Endpoint& bind) {
  sockaddr_storage addr{};
  if (!to_sockaddr(bind, addr)) {
    return unexpected(fmt::format("cannot bind {}: not a numeric address", bind.to_string()));
  }
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return unexpected(fmt::format("cannot create a socket: {}", std::strerror(errno)));
  }
  int one = 1;
  int zero = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (addr.ss_family == AF_INET6) {
    // "[::]:995" serves IPv4 clients too (as ::ffff:a.b.c.d), as admins expect of a wildcard.
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  }
  socklen_t len = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    int err = errno;
    ::close(fd);
    std::string hint;
    if (err == EACCES) {
      hint = "; run as root (then set [server] user) or grant CAP_NET_BIND_SERVICE";
    } else if (err == EADDRINUSE) {
      hint = "; another process listens there";
    } else if (err == EADDRNOTAVAIL) {
      hint = "; no interface has that address";
    }
    return unexpected(
        fmt::format("cannot bind {}: {}{}", bind.to_string(), std::strerror(err), hint));
  }
  if (::listen(fd, 1024) != 0) {
    int err = errno;
    ::close(fd);
    return unexpected(fmt::format("cannot listen on {}: {}", bind.to_string(), std::strerror(err)));
  }
  return fd;
}

Result<void, std::string> drop_privileges(const std::string& user, const std::string& group) {
  if (user.empty() || ::geteuid() != 0) {
    return {};
  }
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) {
    return unexpected(fmt::format("[server] user '{}' does not exist", user));
  }
  gid_t gid = pw->pw_gid;
  if (!group.empty()) {
    const struct group* gr = ::getgrnam(group.c_str());
    if (gr == nullptr) {
      return unexpected(fmt::format("[server] group '{}' does not exist", group));
    }
    gid = gr->gr_gid;
  }
  // initgroups keeps the user's supplementary groups (/etc/group), so `adduser popgate ssl-cert`
  // lets popgate read keys shared with that group; setgroups(0) would drop them.
  if (::initgroups(pw->pw_name, gid) != 0 || ::setgid(gid) != 0 || ::setuid(pw->pw_uid) != 0) {
    return unexpected(fmt::format("cannot switch to user '{}': {}", user, std::strerror(errno)));
  }
  return {};
}

} // namespace popgate::proxy
