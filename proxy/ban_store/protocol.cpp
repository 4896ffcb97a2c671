#include "proxy/ban_store/protocol.hpp"

#include <charconv>

namespace popgate::ban_store {
namespace {

constexpr std::string_view kFailures = "failures:";
constexpr std::string_view kBan = "ban:";

// KEYS[1] failure count, KEYS[2] ban; ARGV: window ms, failures, duration ms, channel, message.
// The count expires a window after its first failure; reaching `failures` deletes it and sets
// the ban unless one is in force, so concurrent last failures on two replicas begin one ban.
constexpr std::string_view kCountFailure = R"lua(
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n < tonumber(ARGV[2]) then return n end
redis.call('DEL', KEYS[1])
if redis.call('SET', KEYS[2], 'failures', 'PX', ARGV[3], 'NX') then
  redis.call('PUBLISH', ARGV[4], ARGV[5])
  return 0
end
return n
)lua";

// KEYS[1] ban; ARGV: origin, duration ms, "NX" (keep a ban in force) or "replace", channel,
// message.
constexpr std::string_view kShareBan = R"lua(
local set
if ARGV[3] == 'NX' then
  set = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
else
  set = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
if not set then return 0 end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
)lua";

// KEYS[1] ban, KEYS[2] failure count; ARGV: channel, message.
constexpr std::string_view kLiftBan = R"lua(
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
)lua";

std::string ms(Millis m) { return std::to_string(m.count()); }

} // namespace

std::string Keys::failures(const Address& client) const {
  return prefix_ + std::string(kFailures) + client.to_string();
}

std::string Keys::ban(const Address& client) const {
  return prefix_ + std::string(kBan) + client.to_string();
}

std::string Keys::ban_pattern() const {
  std::string pattern;
  for (char c : prefix_) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') {
      pattern += '\\';
    }
    pattern += c;
  }
  return pattern + std::string(kBan) + "*";
}

std::optional<Address> Keys::banned_address(std::string_view key) const {
  std::string head = prefix_ + std::string(kBan);
  if (key.substr(0, head.size()) != head) {
    return std::nullopt;
  }
  return Address::parse(key.substr(head.size()));
}

Command count_failure(const Keys& keys, const Address& client, const BanSettings& settings) {
  Announcement ban{Announcement::Kind::Ban, client, settings.duration};
  return {"EVAL",
          std::string(kCountFailure),
          "2",
          keys.failures(client),
          keys.ban(client),
          ms(settings.window),
          std::to_string(settings.failures),
          ms(settings.duration),
          keys.channel(),
          to_message(ban)};
}

Command share_ban(const Keys& keys, const Address& client, Millis duration, BanOrigin origin) {
  Announcement ban{Announcement::Kind::Ban, client, duration};
  bool manual = origin == BanOrigin::Manual;
  return {"EVAL",
          std::string(kShareBan),
          "1",
          keys.ban(client),
          manual ? "manual" : "failures",
          ms(duration),
          manual ? "replace" : "NX",
          keys.channel(),
          to_message(ban)};
}

Command lift_ban(const Keys& keys, const Address& client) {
  Announcement unban{Announcement::Kind::Unban, client, Millis{0}};
  return {"EVAL",         std::string(kLiftBan), "2", keys.ban(client), keys.failures(client),
          keys.channel(), to_message(unban)};
}

Command subscribe(const Keys& keys) { return {"SUBSCRIBE", keys.channel()}; }

Command scan_bans(const Keys& keys, std::string_view cursor) {
  return {"SCAN", std::string(cursor), "MATCH", keys.ban_pattern(), "COUNT", "500"};
}

Command time_left(std::string_view key) { return {"PTTL", std::string(key)}; }

Command ping() { return {"PING"}; }

std::string to_message(const Announcement& a) {
  if (a.kind == Announcement::Kind::Unban) {
    return "unban " + a.client.to_string();
  }
  return "ban " + a.client.to_string() + " " + ms(a.duration);
}

std::optional<Announcement> parse_message(std::string_view message) {
  auto space = message.find(' ');
  if (space == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view verb = message.substr(0, space);
  std::string_view rest = message.substr(space + 1);
  Announcement a;
  if (verb == "unban") {
    a.kind = Announcement::Kind::Unban;
  } else if (verb == "ban") {
    auto second = rest.find(' ');
    if (second == std::string_view::npos) {
      return std::nullopt;
    }
    std::string_view digits = rest.substr(second + 1);
    long long value = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
        value <= 0) {
      return std::nullopt;
    }
    a.duration = Millis{value};
    rest = rest.substr(0, second);
  } else {
    return std::nullopt;
  }
  auto client = Address::parse(rest);
  if (!client) {
    return std::nullopt;
  }
  a.client = *client;
  return a;
}

} // namespace popgate::ban_store
