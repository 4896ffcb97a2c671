#include "proxy/pop3/input_buffer.hpp"

#include <cassert>
#include <functional>

namespace popgate::pop3 {

bool InputBuffer::pending_is_own() const {
  // std::less gives a total order over unrelated pointers, so this is defined behaviour even
  // when pending_ points into the caller's buffer.
  const std::less_equal<> le;
  const char* begin = own_.data();
  const char* end = own_.data() + own_.size();
  return !pending_.empty() && le(begin, pending_.data()) && le(pending_.data(), end);
}

void InputBuffer::feed(std::string_view bytes) {
  if (bytes.empty()) {
    return;
  }
  if (pending_.empty()) {
    own_.clear();
    pending_ = bytes;
    return;
  }
  if (pending_is_own()) {
    own_.erase(0, static_cast<std::size_t>(pending_.data() - own_.data()));
  } else {
    own_.assign(pending_);
  }
  own_.append(bytes);
  pending_ = own_;
}

void InputBuffer::consume(std::size_t n) {
  assert(n <= pending_.size());
  pending_.remove_prefix(n);
}

void InputBuffer::retain() {
  if (pending_.empty() || pending_is_own()) {
    return;
  }
  own_.assign(pending_);
  pending_ = own_;
}

std::size_t InputBuffer::clear() {
  const std::size_t n = pending_.size();
  pending_ = {};
  own_.clear();
  return n;
}

} // namespace popgate::pop3
