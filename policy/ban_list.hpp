#pragma once

// [policy.ban]: brute-force protection. Authentication failures are remembered per client
// address; `failures` of them within `window` ban the address for `duration`. Time is an
// argument (a monotonic millisecond clock), so the logic is tested with a fake clock and the
// caller decides where time comes from.
//
// Addresses inside an `exempt` block never get an automatic ban (a webmail host or a NAT
// gateway shared by many users); their failures are still seen by the caller, which counts
// them. An administrator's manual bans (`popgate ctl ban`) cover an address or a block, last a
// given time or until lifted, and apply to exempt addresses too: a deliberate act wins over a
// standing exemption.
//
// Memory is bounded: an address's failure times are kept only within the window, at most
// `failures` of them, and entries are dropped once their window and any ban have passed.
// Not thread-safe: the proxy shares one BanList between its loops behind a mutex.

#include "base/address.hpp"
#include "base/duration.hpp"

#include <deque>
#include <map>
#include <optional>
#include <vector>

namespace popgate::policy {

struct BanSettings {
  unsigned failures = 10;
  Millis window = std::chrono::minutes(10);
  Millis duration = std::chrono::minutes(30);
  std::vector<Cidr> exempt;
};

// One ban in force, as `popgate ctl show bans` lists it.
struct BanEntry {
  Cidr block;                  // a single address for automatic bans
  bool manual = false;         // placed by an administrator
  std::optional<Millis> until; // nullopt: until lifted
};

class BanList {
public:
  explicit BanList(BanSettings settings = {}) : settings_(std::move(settings)) {}
  // A reload changes the settings; bans in force (automatic and manual) stay.
  void set_settings(BanSettings settings) { settings_ = std::move(settings); }

  [[nodiscard]] bool banned(const Address& client, Millis now) const;
  [[nodiscard]] bool exempt(const Address& client) const;

  // Records one failure; returns true when it starts a ban. Exempt addresses are not recorded.
  bool record_failure(const Address& client, Millis now);

  // An administrator's ban of `block` until `until` (nullopt: until lifted); replaces a manual
  // ban of the same block.
  void ban(const Cidr& block, std::optional<Millis> until);
  // Lifts the manual ban of exactly `block` and every automatic ban of an address inside it,
  // and forgets their failures. Returns how many bans were lifted.
  std::size_t unban(const Cidr& block, Millis now);
  // The bans in force at `now`: manual ones first, in the order placed, then automatic ones.
  [[nodiscard]] std::vector<BanEntry> list(Millis now) const;

  // Bans in force at `now` (manual ones too); also forgets what has expired.
  std::size_t active(Millis now);

  // An automatic ban decided elsewhere (by the store replicas share, [policy.ban] redis): in
  // force until now + duration, replacing any ban the address had. The address's failure count
  // starts over. It is listed and lifted like the bans this list began itself.
  void ban(const Address& client, Millis now, Millis duration);

private:
  struct Entry {
    std::deque<Millis> failures; // within the window, oldest first
    Millis banned_until{0};
  };
  struct ManualBan {
    Cidr block;
    std::optional<Millis> until;
  };
  [[nodiscard]] static bool in_force(const ManualBan& b, Millis now) {
    return !b.until || now < *b.until;
  }

  BanSettings settings_;
  std::map<std::array<std::uint8_t, 16>, Entry> entries_;
  std::vector<ManualBan> manual_;
};

} // namespace popgate::policy
