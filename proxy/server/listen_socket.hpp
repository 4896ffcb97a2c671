#pragma once

// Listening sockets are made before any loop runs (and before dropping root), so that a port
// already in use or a missing privilege is a startup error with a clear message rather than a
// worker that silently serves nothing. Each worker gets its own socket per listener, all bound
// with SO_REUSEPORT: the kernel balances new connections across them.

#include "base/address.hpp"
#include "base/result.hpp"

#include <string>

namespace popgate::proxy {

Result<int, std::string> open_listen_socket(const Endpoint& bind);

// Drops root to `user` and `group` (group empty: the user's primary group), keeping the user's
// supplementary groups from /etc/group. A no-op when `user` is empty or the process is not root.
Result<void, std::string> drop_privileges(const std::string& user, const std::string& group);

} // namespace popgate::proxy
