#pragma once

// A per-loop limit on a class of log lines that a peer can trigger at will, such as failed TLS
// handshakes from a scanner: at most kLines per kWindow are written, and the first line of the
// next window says how many were left out. The metrics count every event; the log only shows
// a sample. Loop thread only.

#include "base/duration.hpp"

#include <cstdint>

namespace popgate::proxy {

class LogRateLimit {
public:
  static constexpr unsigned kLines = 20;
  static constexpr Millis kWindow = std::chrono::seconds(10);

  // Returns whether to write the line now. `suppressed` receives how many lines were left out
  // since the last one written (to report with it).
  bool admit(Millis now, std::uint64_t& suppressed) {
    if (now >= window_start_ + kWindow) {
      window_start_ = now;
      written_ = 0;
    }
    if (written_ == kLines) {
      ++suppressed_;
      return false;
    }
    ++written_;
    suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

private:
  Millis window_start_{-kWindow};
  unsigned written_ = 0;
  std::uint64_t suppressed_ = 0;
};

} // namespace popgate::proxy
