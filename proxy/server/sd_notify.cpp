#include "proxy/server/sd_notify.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

namespace popgate::proxy::sd_notify {

bool send(std::string_view state) {
  const char* socket_path = std::getenv("NOTIFY_SOCKET");
  if (socket_path == nullptr || socket_path[0] == '\0') {
    return true;
  }
  std::string_view path = socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // Only an absolute path or an abstract name is valid (sd_notify(3) refuses anything else).
  if ((path[0] != '/' && path[0] != '@') || path.size() >= sizeof addr.sun_path) {
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') {
    addr.sun_path[0] = '\0'; // Linux abstract namespace: a leading NUL, length counts exactly
  }
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                    (path[0] == '@' ? 0 : 1));
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                          reinterpret_cast<const sockaddr*>(&addr), len);
  int err = errno;
  ::close(fd);
  errno = err;
  return sent == static_cast<ssize_t>(state.size());
}

std::string reloading_state() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  auto usec = static_cast<long long>(now.tv_sec) * 1000000LL + now.tv_nsec / 1000;
  return fmt::format("RELOADING=1\nMONOTONIC_USEC={}", usec);
}

} // namespace popgate::proxy::sd_notify
