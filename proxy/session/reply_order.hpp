#pragma once

// Keeps popgate's own replies in pipeline order. A client may pipeline commands (RFC 2449 §6.6)
// and popgate answers some itself (an invalid line, AUTH before TLS, STLS) while earlier
// commands still wait for the backend: "RETR 1\r\nBOGUS\r\n" must get RETR's response first
// and then the -ERR for BOGUS. Each forwarded command takes a slot that the backend's response
// fills; a local reply waits behind the slots queued before it.

#include "proxy/session/close_reason.hpp"

#include <deque>
#include <string>
#include <vector>

namespace popgate::proxy {

struct LocalReply {
  enum class Then { Continue, StartTls, Close };
  std::string text; // complete reply line(s), CRLF included
  Then then = Then::Continue;
  CloseReason reason = CloseReason::ProtocolViolation; // with Then::Close
};

class ReplyOrder {
public:
  // A command went to the backend: its response comes before anything queued later.
  void forwarded() { queue_.push_back(Slot{true, {}}); }

  // Returns true when the reply may be sent now; otherwise it is queued behind the backend
  // responses still outstanding.
  bool local(LocalReply reply) {
    if (queue_.empty()) {
      return true;
    }
    queue_.push_back(Slot{false, std::move(reply)});
    return false;
  }

  // The backend's oldest outstanding response is complete. Returns the local replies that are
  // now due, in order.
  std::vector<LocalReply> backend_done() {
    if (!queue_.empty() && queue_.front().backend) {
      queue_.pop_front();
    }
    std::vector<LocalReply> due;
    while (!queue_.empty() && !queue_.front().backend) {
      due.push_back(std::move(queue_.front().reply));
      queue_.pop_front();
    }
    return due;
  }

  bool waiting() const { return !queue_.empty(); }

private:
  struct Slot {
    bool backend;
    LocalReply reply;
  };
  std::deque<Slot> queue_;
};

} // namespace popgate::proxy
