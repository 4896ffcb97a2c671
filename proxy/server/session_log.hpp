#pragma once

// The session's lines in popgate's log: what the session core asked to log, and the one line per
// session end (SPEC §4: client, listener, user, TLS version and cipher, backend, duration, bytes
// each way, commands, how it ended; and what README "Logs" lists besides: the session id, how
// the client logged in, SNI, timings, servers tried, RETR and DELE counts).

#include "base/duration.hpp"
#include "proxy/server/log_rate_limit.hpp"
#include "proxy/session/actions.hpp"
#include "proxy/session/session_core.hpp"

#include <cstdint>
#include <string_view>

namespace popgate::proxy {

// A line of the core's; a rate_limited one only when `limit` admits it.
void write_core_log(const session::Log& entry, LogRateLimit& limit, Millis now);

struct ClientBytes {
  std::uint64_t in = 0;
  std::uint64_t out = 0;
};

void log_session_end(const session::Record& record, std::string_view listener, double duration_s,
                     ClientBytes bytes, session::CloseReason reason);

} // namespace popgate::proxy
