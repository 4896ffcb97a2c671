#pragma once

// Backpressure for one direction of a session: counts the bytes queued on the writing socket
// and says when to stop and restart reading from the other side. Above the high-water mark the
// source is paused; it resumes only once the queue drains below the low-water mark, half the
// high one, so a steady slow reader costs one pause/resume per half-buffer, not one per write
// (Envoy, source/docs/flow_control.md; nginx's mail proxy stops reading on a full buffer).
//
// The queue can exceed the high-water mark by at most one read (the read that crossed it is
// always delivered): memory per direction is bounded by high_water + one read buffer.

#include <cstddef>

namespace popgate::proxy {

class FlowControl {
public:
  enum class Action { None, Pause, Resume };

  explicit FlowControl(std::size_t high_water) : high_(high_water), low_(high_water / 2) {}

  // Bytes handed to the writer.
  Action queued(std::size_t n) {
    queued_ += n;
    if (!paused_ && queued_ > high_) {
      paused_ = true;
      ++pauses_;
      return Action::Pause;
    }
    return Action::None;
  }

  // Bytes the writer has finished with.
  Action written(std::size_t n) {
    queued_ = n > queued_ ? 0 : queued_ - n;
    if (paused_ && queued_ <= low_) {
      paused_ = false;
      return Action::Resume;
    }
    return Action::None;
  }

  [[nodiscard]] std::size_t queued() const { return queued_; }
  [[nodiscard]] bool paused() const { return paused_; }
  [[nodiscard]] unsigned pauses() const { return pauses_; }

private:
  std::size_t high_;
  std::size_t low_;
  std::size_t queued_ = 0;
  bool paused_ = false;
  unsigned pauses_ = 0;
};

} // namespace popgate::proxy
