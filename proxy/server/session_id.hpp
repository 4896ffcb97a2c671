#pragma once

// Session ids: what ties a session's log lines together, what `popgate ctl` names a session by,
// and what reaches the backend as XCLIENT SESSION= (Dovecot logs it as session=<id>).
//
// An id is a random prefix drawn once per process and a counter: "q7hx2kcm-1", "q7hx2kcm-2", ...
// Unique within a run by the counter, and across restarts and replicas by the prefix (40 random
// bits: two processes share one with odds of about 1 in 10^12), without any coordination.
// Letters and digits and one '-': safe in logfmt, JSON, a shell argument and an XCLIENT value
// (Dovecot takes up to 64 characters).

#include <string>

namespace popgate::proxy {

// Thread-safe: every worker loop draws from the same counter.
std::string next_session_id();

} // namespace popgate::proxy
