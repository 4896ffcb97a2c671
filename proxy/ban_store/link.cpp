#include "proxy/ban_store/link.hpp"

#include <algorithm>
#include <utility>

namespace popgate::ban_store {

Link::Step Link::start() {
  state_ = State::Connecting;
  in_outage_ = false;
  backoff_ = kFirstRetry;
  return {.connect = true};
}

Link::Step Link::connected() {
  if (state_ == State::Connecting) {
    state_ = State::Syncing;
  }
  return {};
}

Link::Step Link::synced() {
  if (state_ != State::Syncing) {
    return {};
  }
  state_ = State::Ready;
  backoff_ = kFirstRetry;
  return {.log_recovery = std::exchange(in_outage_, false)};
}

Link::Step Link::failed() {
  if (state_ == State::Off || state_ == State::Down) {
    return {}; // already handled: one failure may be seen by both connections
  }
  state_ = State::Down;
  Step step{.log_outage = !in_outage_, .retry_in = backoff_};
  in_outage_ = true;
  backoff_ = std::min(backoff_ * 2, kMaxRetry);
  return step;
}

Link::Step Link::retry() {
  if (state_ != State::Down) {
    return {};
  }
  state_ = State::Connecting;
  return {.connect = true};
}

void Link::stop() {
  state_ = State::Off;
  in_outage_ = false;
  backoff_ = kFirstRetry;
}

} // namespace popgate::ban_store
