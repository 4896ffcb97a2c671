#pragma once

// The sessions of one loop, and what they may use of it: the narrow context a Session gets
// instead of its Worker, so that sessions and workers do not know each other. Loop thread only.

#include "policy/ip_limiter.hpp"
#include "policy/shared_bans.hpp"
#include "proxy/server/log_rate_limit.hpp"
#include "proxy/server/server_control.hpp"

#include <cstddef>
#include <functional>
#include <uv.h>
#include <vector>

namespace popgate::proxy {

// A session's place in its loop's list of live sessions (intrusive: no allocation per session).
struct SessionLink {
  SessionLink* next = nullptr;
  SessionLink* prev = nullptr;
};

struct SessionContext {
  uv_loop_t* loop = nullptr;
  // One read buffer per loop, not per session: read_cb runs right after alloc_cb, and every byte
  // is consumed (fed to TLS, forwarded or copied) before it returns. An idle session therefore
  // holds no read buffer at all.
  std::vector<char>* read_buffer = nullptr;
  policy::SharedBans* bans = nullptr;
  policy::IpLimiter* per_ip = nullptr;
  ServerControl* servers = nullptr;
  // Lines that a peer can cause at will, sampled per loop (log_rate_limit.hpp).
  LogRateLimit peer_caused_lines;
  // Called when a session is freed (the worker counts connections and ends its drain).
  std::function<void()> on_session_freed;

  // The live sessions, for shutdown and the admin socket.
  SessionLink* head = nullptr;
  std::size_t count = 0;

  void add(SessionLink* s) {
    s->next = head;
    if (head != nullptr) {
      head->prev = s;
    }
    head = s;
    ++count;
  }
  void remove(SessionLink* s) {
    (s->prev != nullptr ? s->prev->next : head) = s->next;
    if (s->next != nullptr) {
      s->next->prev = s->prev;
    }
    --count;
  }
};

} // namespace popgate::proxy
