#pragma once

// What replicas keep in Redis and say to each other ([policy.ban] redis), as plain values:
// key names, command argument lists (argv, sent as they are), and the announcements published
// when a ban begins or is lifted. Sans-IO: the adapter (proxy/server/redis_ban_store) sends
// these and hands back what comes in.
//
// Key layout under the prefix (default "popgate:"); an address is the text form of
// base/address.hpp (IPv4 dotted, IPv6 compressed), a block is written as in the config
// ("192.0.2.0/24"). Only client addresses are ever written: never a user name or password.
//   <prefix>failures:<address>  integer, failed logins counted by every replica; expires
//                               `window` after the first one (a fixed window)
//   <prefix>ban:<block>         "failures" or "manual"; expires when the ban ends, never for a
//                               manual ban until unban. A "failures" ban is of one address.
//   <prefix>bans                the channel: "ban <address> <ms>" (failed logins),
//                               "manual <block> <ms>|forever", "unban <block>"
//
// A failure is counted and, at `failures`, turned into a ban in one Lua script, so two replicas
// that see the last failures at the same moment begin one ban, announced once.

#include "base/address.hpp"
#include "base/duration.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace popgate::ban_store {

using Command = std::vector<std::string>; // argv

class Keys {
public:
  explicit Keys(std::string prefix) : prefix_(std::move(prefix)) {}

  [[nodiscard]] std::string failures(const Address& client) const;
  [[nodiscard]] std::string ban(const Cidr& block) const;
  [[nodiscard]] std::string channel() const { return prefix_ + "bans"; }
  // The SCAN MATCH pattern for every ban key: glob characters in the prefix escaped.
  [[nodiscard]] std::string ban_pattern() const;
  // The block (or single address) a ban key names; nullopt for any other key.
  [[nodiscard]] std::optional<Cidr> banned_block(std::string_view key) const;

private:
  std::string prefix_;
};

struct BanSettings {
  unsigned failures = 10;
  Millis window{0};
  Millis duration{0};
};

// Counts one failure. The reply is an integer: kBanBegan when this failure began the ban (it is
// then announced), otherwise the count so far in the window.
constexpr long long kBanBegan = 0;
Command count_failure(const Keys& keys, const Address& client, const BanSettings& settings);

enum class BanOrigin : std::uint8_t { Failures, Manual };

// One ban as replicas share it. A Failures ban is of one address and always has a duration; a
// manual one (`popgate ctl ban`) may be of a block and without an end (nullopt).
struct SharedBan {
  BanOrigin origin = BanOrigin::Failures;
  Cidr block;
  std::optional<Millis> duration;
};

// Sets the ban and announces it, unless (Failures) a ban is in force already, so a ban a
// replica began on its own failures, or during an outage, is shared once. A manual ban
// replaces whatever is there. The reply is 1 when the ban was set, else 0.
Command share_ban(const Keys& keys, const SharedBan& ban);

// Lifts the ban of exactly `block` (and, for one address, its failure count) everywhere, and
// announces it. The reply is 1.
Command lift_ban(const Keys& keys, const Cidr& block);

Command subscribe(const Keys& keys);
// One page of ban keys; the reply is [next cursor, [keys]], cursor "0" at the end.
Command scan_bans(const Keys& keys, std::string_view cursor);
// A ban key's value and the time it has left: the reply is [value or nil, PTTL].
Command read_ban(std::string_view key);
Command ping();

// What a ban key read with read_ban holds; nullopt when it is gone, is not popgate's, or is a
// Failures ban without an expiry (which would never end).
std::optional<SharedBan> stored_ban(const Cidr& block, std::string_view value, long long pttl);

struct Announcement {
  enum class Kind : std::uint8_t { Ban, Unban };
  Kind kind = Kind::Ban;
  SharedBan ban; // with Unban, only ban.block counts
};

std::string to_message(const Announcement& a);
// nullopt for anything that is not a well-formed announcement (ignored by replicas).
std::optional<Announcement> parse_message(std::string_view message);

} // namespace popgate::ban_store
