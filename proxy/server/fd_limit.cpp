#include "proxy/server/fd_limit.hpp"

#include "proxy/server/log.hpp"

#include <cerrno>
#include <cstring>
#include <sys/resource.h>

namespace popgate::proxy {
namespace {
constexpr std::uint64_t kFixedReserve = 64; // stdio, metrics and scrapes, certificate reads
constexpr std::uint64_t kPerWorker = 8;     // epoll, eventfd, signal pipe, libuv reserve, ...
} // namespace

std::uint64_t descriptors_needed(unsigned max_connections, unsigned listening_sockets,
                                 unsigned workers) {
  // Each listening socket has a spare descriptor for running out (acceptor.hpp).
  return 2 * std::uint64_t{max_connections} + 2 * std::uint64_t{listening_sockets} +
         kPerWorker * workers + kFixedReserve;
}

void raise_descriptor_limit(unsigned max_connections, unsigned listening_sockets,
                            unsigned workers) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    log::warn("startup", "cannot read the descriptor limit",
              {log::field("error", std::strerror(errno))});
    return;
  }
  if (limit.rlim_cur < limit.rlim_max) {
    rlim_t before = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
      log::info("startup", "raised the descriptor limit to the hard limit",
                {log::number("from", static_cast<long long>(before)),
                 log::number("to", static_cast<long long>(limit.rlim_cur))});
    } else {
      log::warn("startup", "cannot raise the descriptor limit",
                {log::field("error", std::strerror(errno))});
      limit.rlim_cur = before;
    }
  }
  auto needed = descriptors_needed(max_connections, listening_sockets, workers);
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed) {
    return;
  }
  std::uint64_t reserve = needed - 2 * std::uint64_t{max_connections};
  std::uint64_t sessions = limit.rlim_cur > reserve ? (limit.rlim_cur - reserve) / 2 : 0;
  log::warn("startup",
            "the descriptor limit is below what max_connections needs (2 per session plus a "
            "reserve); raise LimitNOFILE= or the hard ulimit -n, or lower max_connections",
            {log::number("limit", static_cast<long long>(limit.rlim_cur)),
             log::number("needed", static_cast<long long>(needed)),
             log::number("max_connections", static_cast<long long>(max_connections)),
             log::number("sessions_possible", static_cast<long long>(sessions))});
}

} // namespace popgate::proxy
