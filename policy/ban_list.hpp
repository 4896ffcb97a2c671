#pragma once

// [policy.ban]: brute-force protection. Authentication failures are remembered per client
// address; `failures` of them within `window` ban the address for `duration`. Time is an
// argument (a monotonic millisecond clock), so the logic is tested with a fake clock and the
// caller decides where time comes from.
//
// Memory is bounded: an address's failure times are kept only within the window, at most
// `failures` of them, and entries are dropped once their window and any ban have passed.
// Not thread-safe: the proxy shares one BanList between its loops behind a mutex.

#include "base/address.hpp"
#include "base/duration.hpp"

#include <deque>
#include <map>
#include <vector>

namespace popgate::policy {

struct BanSettings {
  unsigned failures = 10;
  Millis window = std::chrono::minutes(10);
  Millis duration = std::chrono::minutes(30);
};

class BanList {
public:
  explicit BanList(BanSettings settings = {}) : settings_(settings) {}
  void set_settings(BanSettings settings) { settings_ = settings; }

  [[nodiscard]] bool banned(const Address& client, Millis now) const;

  // Records one failure; returns true when it starts a ban.
  bool record_failure(const Address& client, Millis now);

  // Bans in force at `now`; also forgets what has expired.
  std::size_t active(Millis now);

  // A ban decided elsewhere (by the store replicas share, [policy.ban] redis): in force until
  // now + duration, replacing any ban the address had. The address's failure count starts over.
  void ban(const Address& client, Millis now, Millis duration);
  // Lifts the address's ban and forgets its failures.
  void unban(const Address& client);

  struct ActiveBan {
    Address client;
    Millis remaining{0};
  };
  // Every ban in force at `now`, with the time it has left.
  [[nodiscard]] std::vector<ActiveBan> bans(Millis now) const;

private:
  struct Entry {
    std::deque<Millis> failures; // within the window, oldest first
    Millis banned_until{0};
  };
  BanSettings settings_;
  std::map<std::array<std::uint8_t, 16>, Entry> entries_;
};

} // namespace popgate::policy
