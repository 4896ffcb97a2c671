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

// KEYS[1] ban; ARGV: origin, duration ms ("0": no end), "NX" (keep a ban in force) or
// "replace", channel, message.
constexpr std::string_view kShareBan = R"lua(
local set = {'SET', KEYS[1], ARGV[1]}
if ARGV[2] ~= '0' then
  table.insert(set, 'PX')
  table.insert(set, ARGV[2])
end
if ARGV[3] == 'NX' then table.insert(set, 'NX') end
if not redis.call(unpack(set)) then return 0 end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
)lua";

// KEYS: the ban, and for one address its failure count; ARGV: channel, message.
constexpr std::string_view kLiftBan = R"lua(
redis.call('DEL', unpack(KEYS))
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
)lua";

constexpr std::string_view kReadBan = R"lua(
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
)lua";

constexpr std::string_view kForever = "forever";

bool single(const Cidr& block) { return block.prefix == 128; }

std::optional<Millis> positive_ms(std::string_view digits) {
  long long value = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
      value <= 0) {
    return std::nullopt;
  }
  return Millis{value};
}

std::string ms(Millis m) { return std::to_string(m.count()); }

} // namespace

std::string Keys::failures(const Address& client) const {
  return prefix_ + std::string(kFailures) + client.to_string();
}

std::string Keys::ban(const Cidr& block) const {
  return prefix_ + std::string(kBan) + block.to_string();
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

std::optional<Cidr> Keys::banned_block(std::string_view key) const {
  std::string head = prefix_ + std::string(kBan);
  if (key.substr(0, head.size()) != head) {
    return std::nullopt;
  }
  return Cidr::parse(key.substr(head.size()));
}

Command count_failure(const Keys& keys, const Address& client, const BanSettings& settings) {
  Announcement ban{Announcement::Kind::Ban, {BanOrigin::Failures, Cidr{client}, settings.duration}};
  return {"EVAL",
          std::string(kCountFailure),
          "2",
          keys.failures(client),
          keys.ban(Cidr{client}),
          ms(settings.window),
          std::to_string(settings.failures),
          ms(settings.duration),
          keys.channel(),
          to_message(ban)};
}

Command share_ban(const Keys& keys, const SharedBan& ban) {
  bool manual = ban.origin == BanOrigin::Manual;
  return {"EVAL",
          std::string(kShareBan),
          "1",
          keys.ban(ban.block),
          manual ? "manual" : "failures",
          ms(ban.duration.value_or(Millis{0})),
          manual ? "replace" : "NX",
          keys.channel(),
          to_message({Announcement::Kind::Ban, ban})};
}

Command lift_ban(const Keys& keys, const Cidr& block) {
  Command c{"EVAL", std::string(kLiftBan), single(block) ? "2" : "1", keys.ban(block)};
  if (single(block)) {
    c.push_back(keys.failures(block.base)); // blocks have no failure count
  }
  c.push_back(keys.channel());
  c.push_back(to_message({Announcement::Kind::Unban, {BanOrigin::Manual, block, {}}}));
  return c;
}

Command subscribe(const Keys& keys) { return {"SUBSCRIBE", keys.channel()}; }

Command scan_bans(const Keys& keys, std::string_view cursor) {
  return {"SCAN", std::string(cursor), "MATCH", keys.ban_pattern(), "COUNT", "500"};
}

Command read_ban(std::string_view key) {
  return {"EVAL", std::string(kReadBan), "1", std::string(key)};
}

Command ping() { return {"PING"}; }

std::optional<SharedBan> stored_ban(const Cidr& block, std::string_view value, long long pttl) {
  constexpr long long kNoExpiry = -1; // PTTL: -2 is a key that is gone
  if (value == "manual" && (pttl > 0 || pttl == kNoExpiry)) {
    return SharedBan{BanOrigin::Manual, block,
                     pttl > 0 ? std::optional<Millis>(Millis{pttl}) : std::nullopt};
  }
  if (value == "failures" && pttl > 0 && single(block)) {
    return SharedBan{BanOrigin::Failures, block, Millis{pttl}};
  }
  return std::nullopt;
}

std::string to_message(const Announcement& a) {
  std::string block = a.ban.block.to_string();
  if (a.kind == Announcement::Kind::Unban) {
    return "unban " + block;
  }
  std::string duration = a.ban.duration ? ms(*a.ban.duration) : std::string(kForever);
  return (a.ban.origin == BanOrigin::Manual ? "manual " : "ban ") + block + " " + duration;
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
    a.ban.origin = BanOrigin::Manual;
  } else if (verb == "ban" || verb == "manual") {
    auto second = rest.find(' ');
    if (second == std::string_view::npos) {
      return std::nullopt;
    }
    std::string_view duration = rest.substr(second + 1);
    rest = rest.substr(0, second);
    a.ban.origin = verb == "manual" ? BanOrigin::Manual : BanOrigin::Failures;
    if (a.ban.origin == BanOrigin::Manual && duration == kForever) {
      a.ban.duration = std::nullopt;
    } else if (auto d = positive_ms(duration)) {
      a.ban.duration = d;
    } else {
      return std::nullopt;
    }
  } else {
    return std::nullopt;
  }
  auto block = Cidr::parse(rest);
  if (!block || (a.ban.origin == BanOrigin::Failures && !single(*block))) {
    return std::nullopt;
  }
  a.ban.block = *block;
  return a;
}

} // namespace popgate::ban_store
