#pragma once

// The socket side of transparent mode (README "Transparent mode"): what the session core gets as
// plain data (the original destination, the address to connect from) is read and set here.
//
// - A transparent listener's socket has IP_TRANSPARENT, without which the kernel drops the SYNs
//   that a TPROXY rule delivers for addresses not local to the host.
// - The original destination of an accepted connection: SO_ORIGINAL_DST (IPv4) or
//   IP6T_SO_ORIGINAL_DST (IPv6) after a REDIRECT, which rewrote the local address; under TPROXY
//   nothing was rewritten and the socket's own local address is the one the client dialled.
// - source = "client": a backend socket with IP_TRANSPARENT, bound to the client's address
//   (port 0, chosen at connect), so the backend sees the client rather than popgate.
// IP_TRANSPARENT needs CAP_NET_ADMIN (or CAP_NET_RAW) in the socket's network namespace.

#include "base/address.hpp"
#include "base/result.hpp"
#include "proxy/config/config.hpp"

#include <optional>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace popgate::proxy {

// 0 or the errno of setsockopt(IP_TRANSPARENT / IPV6_TRANSPARENT).
int set_transparent(int fd, int family);

// What transparent mode cannot do with this process's privileges, as FILE:LINE:COL lines for
// --check and startup: each backend with source = "client" (an error: every session would
// fail) and each transparent listener (a warning: TPROXY fails, REDIRECT works).
struct PrivilegeProblems {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};
PrivilegeProblems transparent_privilege_problems(const Config& config);

// drop_privileges() for a config with source = "client": setuid() would clear every
// capability, so CAP_NET_ADMIN (and nothing else) is kept across it. Only when popgate drops
// root itself ([server] user); under systemd AmbientCapabilities= keeps it instead.
Result<void, std::string> drop_privileges_keeping_net_admin(const std::string& user,
                                                            const std::string& group);

// The address an accepted connection was sent to before any REDIRECT; nullopt if the socket
// has no local address at all.
struct OriginalDestination {
  Address address;
  std::uint16_t port = 0;
};
std::optional<OriginalDestination> original_destination(int fd);

// A non-blocking TCP socket bound to `source` (port 0) with IP_TRANSPARENT, ready for connect()
// to `to`; or why not ("the client is IPv4 and the server IPv6", "needs CAP_NET_ADMIN", ...).
Result<int, std::string> open_transparent_socket(const Address& source, const sockaddr_storage& to);

} // namespace popgate::proxy
