#pragma once

// The descriptor limit. Each session holds two sockets (client and backend), so systemd's
// default soft limit of 1,024 would stop popgate at about 500 sessions. At start popgate raises
// its soft RLIMIT_NOFILE to the hard limit, which an unprivileged process may do, and warns when
// even that is below what [server] max_connections needs.

#include <cstdint>

namespace popgate::proxy {

// Descriptors popgate needs at max_connections: two per session, plus a reserve for the
// listening sockets and their spares, each worker's loop (epoll, wakeup), the metrics endpoint
// and its scrapes, stdio and certificate reads.
std::uint64_t descriptors_needed(unsigned max_connections, unsigned listening_sockets,
                                 unsigned workers);

// Raises the soft limit to the hard one and logs what it did; warns if the result is below
// descriptors_needed(). Never fails startup: a low limit costs sessions, not correctness.
void raise_descriptor_limit(unsigned max_connections, unsigned listening_sockets, unsigned workers);

} // namespace popgate::proxy
