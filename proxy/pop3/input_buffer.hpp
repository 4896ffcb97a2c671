#pragma once

// The input side of a sans-IO codec: bytes the caller fed, not yet consumed by an event.
//
// Ownership, the one rule both sides of the Conversation follow:
// - feed(bytes) does not copy when everything fed before has been consumed: the codec reads the
//   caller's bytes in place, and the events it returns are views into them.
// - The caller keeps those bytes alive and unchanged until the codec returns NeedData, or until a
//   later feed() returns (which first copies any unconsumed tail into the codec's own storage).
// - Before a codec returns NeedData it calls retain(), which copies what is left (an unfinished
//   line, a few octets of a possible terminator, or pipelined lines held back) into own storage.
// So the caller may reuse its read buffer as soon as it has seen NeedData, and may stop pulling
// events at any time (backpressure) as long as it keeps the buffer until it pulls again.

#include <cstddef>
#include <string>
#include <string_view>

namespace popgate::pop3 {

class InputBuffer {
public:
  // Adds bytes after the unconsumed ones. Views returned earlier become invalid.
  void feed(std::string_view bytes);

  // Unconsumed bytes, wherever they live.
  [[nodiscard]] std::string_view view() const { return pending_; }
  [[nodiscard]] std::size_t size() const { return pending_.size(); }
  [[nodiscard]] bool empty() const { return pending_.empty(); }

  // Marks the first n unconsumed bytes as consumed. n <= size().
  void consume(std::size_t n);

  // Copies the unconsumed bytes into own storage if they still live in the caller's buffer.
  void retain();

  // Drops every unconsumed byte; returns how many there were.
  std::size_t clear();

private:
  [[nodiscard]] bool pending_is_own() const;

  std::string own_;
  std::string_view pending_;
};

} // namespace popgate::pop3
