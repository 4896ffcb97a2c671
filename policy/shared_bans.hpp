#pragma once

// The ban list shared by every worker: policy::BanList behind a mutex. It is consulted once
// per new connection and written once per failed login, never on the relay path. Every ban and
// unban goes through here: automatic ones, the store's, and an administrator's
// (`popgate ctl ban`, through ban_block(); with a store, by way of the store, which shares it).
//
// With a store shared by replicas ([policy.ban] redis), this list is the process's local copy:
// admission never waits for the store. Each failure is decided here first, as without a store,
// and also queued for the thread that talks to the store (take_failures()); that thread writes
// the store's bans back with ban(), ban_block() and unban_block(). The queue is bounded: while the
// store is slow, failures beyond kMaxQueued are dropped from the queue (and counted), never from
// the local list.

#include "policy/ban_list.hpp"

#include <cstddef>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace popgate::policy {

// A failure on its way to the shared store.
struct SharedFailure {
  Address client;
  bool began_ban = false; // this process's own count began a ban with it
};

class SharedBans {
public:
  static constexpr std::size_t kMaxQueued = 10'000;

  void configure(BanSettings settings) {
    std::lock_guard lock(mutex_);
    bans_.set_settings(std::move(settings));
  }
  bool banned(const Address& client, Millis now) {
    std::lock_guard lock(mutex_);
    return bans_.banned(client, now);
  }
  // Returns true when this failure starts a ban; `active` receives the bans now in force.
  bool record_failure(const Address& client, Millis now, std::size_t& active) {
    std::function<void()> wake;
    bool started = false;
    {
      std::lock_guard lock(mutex_);
      started = bans_.record_failure(client, now);
      active = bans_.active(now);
      // An exempt address's failures stay out of the store too, or its count there would ban
      // it on every replica.
      bool share = sharing_ && !bans_.exempt(client);
      if (share && queued_.size() < kMaxQueued) {
        if (queued_.empty()) {
          wake = wake_;
        }
        queued_.push_back({client, started});
      } else if (share) {
        ++dropped_;
      }
    }
    if (wake) {
      wake(); // outside the lock: the store's thread takes it to read the queue
    }
    return started;
  }

  // Starts or stops queueing failures for a store. `wake` is called, from the thread recording
  // a failure, when the queue stops being empty; it must be thread-safe (a uv_async_send).
  void share(std::function<void()> wake) {
    std::lock_guard lock(mutex_);
    wake_ = std::move(wake);
    sharing_ = static_cast<bool>(wake_);
    queued_.clear();
  }
  // The queued failures, oldest first, and how many were dropped since the last call.
  std::vector<SharedFailure> take_failures(std::size_t& dropped) {
    std::lock_guard lock(mutex_);
    dropped = std::exchange(dropped_, 0);
    return std::exchange(queued_, {});
  }

  // An automatic ban from the store.
  void ban(const Address& client, Millis now, Millis duration, std::size_t& active) {
    std::lock_guard lock(mutex_);
    bans_.ban(client, now, duration);
    active = bans_.active(now);
  }

  // An administrator's ban (here or, through the store, on another replica) and any unban of an
  // address or block (BanList::ban, unban with a Cidr); each returns the bans now in force.
  std::size_t ban_block(const Cidr& block, std::optional<Millis> until, Millis now) {
    std::lock_guard lock(mutex_);
    bans_.ban(block, until);
    return bans_.active(now);
  }
  std::size_t unban_block(const Cidr& block, Millis now, std::size_t& lifted) {
    std::lock_guard lock(mutex_);
    lifted = bans_.unban(block, now);
    return bans_.active(now);
  }
  // Every ban in force, manual and automatic, for `show bans`.
  std::vector<BanEntry> list(Millis now) {
    std::lock_guard lock(mutex_);
    return bans_.list(now);
  }
  bool exempt(const Address& client) {
    std::lock_guard lock(mutex_);
    return bans_.exempt(client);
  }

private:
  std::mutex mutex_;
  BanList bans_;
  bool sharing_ = false;
  std::function<void()> wake_;
  std::vector<SharedFailure> queued_;
  std::size_t dropped_ = 0;
};

} // namespace popgate::policy
