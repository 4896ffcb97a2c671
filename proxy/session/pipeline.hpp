#pragma once

// The session's pipeline: every command the client has sent that is not answered yet, in the
// order the answers must reach the client (RFC 2449 §6.6). A client may pipeline, and popgate
// answers some commands itself (an invalid line, AUTH before TLS, STLS, a policy refusal) while
// earlier ones still wait for the backend: "RETR 1\r\nBOGUS\r\n" must get RETR's response first
// and then the -ERR for BOGUS. A forwarded command takes a slot that the backend's response
// frees; a local reply waits behind the slots queued before it.
//
// Bounded: at most kMaxDepth slots and kMaxLocalBytes of waiting local replies. full() tells the
// session to stop taking commands from the client (and so to stop reading it) until responses
// drain; a client that stops reading its answers therefore stops popgate reading its commands.

#include "proxy/session/close_reason.hpp"

#include <cstddef>
#include <deque>
#include <string>
#include <vector>

namespace popgate::session {

struct LocalReply {
  enum class Then { Continue, StartTls, Close };
  std::string text; // complete reply line(s), CRLF included
  Then then = Then::Continue;
  CloseReason reason = CloseReason::ProtocolViolation; // with Then::Close
};

class Pipeline {
public:
  // A pipelining client sends a window of commands, not hundreds: mpop and fetchmail keep well
  // under this many in flight, so the bound only ever stops a client that never reads.
  static constexpr std::size_t kMaxDepth = 128;
  static constexpr std::size_t kMaxLocalBytes = std::size_t{16} * 1024;

  // A command went to the backend: its response comes before anything queued later.
  void forwarded() { slots_.push_back(Slot{true, {}}); }

  // Returns true when the reply may be sent now; otherwise it is queued behind the backend
  // responses still outstanding.
  bool local(LocalReply& reply) {
    if (slots_.empty()) {
      return true;
    }
    local_bytes_ += reply.text.size();
    slots_.push_back(Slot{false, std::move(reply)});
    return false;
  }

  // The backend's oldest outstanding response is complete. Returns the local replies that are
  // now due, in order.
  std::vector<LocalReply> backend_done() {
    if (!slots_.empty() && slots_.front().backend) {
      slots_.pop_front();
    }
    std::vector<LocalReply> due;
    while (!slots_.empty() && !slots_.front().backend) {
      local_bytes_ -= slots_.front().reply.text.size();
      due.push_back(std::move(slots_.front().reply));
      slots_.pop_front();
    }
    return due;
  }

  [[nodiscard]] bool empty() const { return slots_.empty(); }
  [[nodiscard]] bool full() const {
    return slots_.size() >= kMaxDepth || local_bytes_ >= kMaxLocalBytes;
  }
  [[nodiscard]] std::size_t local_bytes() const { return local_bytes_; }

private:
  struct Slot {
    bool backend;
    LocalReply reply;
  };
  std::deque<Slot> slots_;
  std::size_t local_bytes_ = 0;
};

} // namespace popgate::session
