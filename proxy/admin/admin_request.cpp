#include "proxy/admin/admin_request.hpp"

#include "base/ascii.hpp"

#include <algorithm>
#include <array>

namespace popgate::admin {
namespace {

constexpr std::array<std::string_view, kVerbCount> kVerbNames = {
    "help",  "show_info",    "show_sessions", "show_bans",   "show_servers",   "ban",
    "unban", "kick_session", "kick_user",     "kick_client", "disable_server", "enable_server",
};

constexpr std::size_t kMaxSessionId = 64;

bool is_space(char c) { return c == ' ' || c == '\t'; }

// Splits off the first word of `rest`; `rest` keeps what follows it, leading blanks dropped.
std::string_view next_word(std::string_view& rest) {
  std::size_t start = 0;
  while (start < rest.size() && is_space(rest[start])) {
    ++start;
  }
  std::size_t end = start;
  while (end < rest.size() && !is_space(rest[end])) {
    ++end;
  }
  std::string_view word = rest.substr(start, end - start);
  rest.remove_prefix(end);
  while (!rest.empty() && is_space(rest.front())) {
    rest.remove_prefix(1);
  }
  return word;
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && is_space(s.back())) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

using Parsed = Result<Request, std::string>;

Parsed fail(std::string why) { return unexpected(std::move(why)); }

// Peer text quoted in a reason: printable ASCII only, and short.
std::string quoted(std::string_view text) {
  constexpr std::size_t kMax = 64;
  std::string out = "'";
  for (char c : text.substr(0, kMax)) {
    auto byte = static_cast<unsigned char>(c);
    out += (byte >= 0x20 && byte < 0x7f) ? c : '?';
  }
  return out + (text.size() > kMax ? "...'" : "'");
}

Parsed block_argument(Request r, std::string_view rest, std::string_view usage_line) {
  std::string_view word = next_word(rest);
  if (word.empty()) {
    return fail("usage: " + std::string(usage_line));
  }
  r.block = Cidr::parse(word);
  if (!r.block) {
    return fail(quoted(word) + " is not an address or CIDR block, such as 192.0.2.7 or "
                               "2001:db8::/48");
  }
  if (r.verb == Verb::Ban && !rest.empty()) {
    std::string_view duration = next_word(rest);
    r.duration = parse_duration(duration);
    if (!r.duration || r.duration->count() == 0) {
      return fail(quoted(duration) +
                  " is not a duration; write \"30m\", \"12h\", \"7d\", or none for a ban "
                  "until unban");
    }
  }
  if (!rest.empty()) {
    return fail("unexpected " + quoted(rest) + "; usage: " + std::string(usage_line));
  }
  return r;
}

Parsed kick(Request r, std::string_view rest) {
  std::string_view what = next_word(rest);
  if (ascii::equals_ignore_case(what, "session")) {
    r.verb = Verb::KickSession;
    std::string_view id = next_word(rest);
    // Session ids are letters, digits and '-' ("q7hx2kcm-42"), at most 64 of them.
    bool valid =
        !id.empty() && id.size() <= kMaxSessionId && std::all_of(id.begin(), id.end(), [](char c) {
          return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 c == '-';
        });
    if (!valid || !rest.empty()) {
      return fail(quoted(id) + " is not a session id; `show sessions` lists them");
    }
    r.session = std::string(id);
    return r;
  }
  if (ascii::equals_ignore_case(what, "user")) {
    r.verb = Verb::KickUser;
    r.name = trimmed(rest);
    if (r.name.empty()) {
      return fail("usage: kick user NAME");
    }
    return r;
  }
  if (ascii::equals_ignore_case(what, "client")) {
    r.verb = Verb::KickClient;
    return block_argument(std::move(r), rest, "kick client ADDR|CIDR");
  }
  return fail("usage: kick session ID | kick user NAME | kick client ADDR|CIDR");
}

Parsed server_switch(Request r, std::string_view rest) {
  std::string_view usage_line = r.verb == Verb::DisableServer ? "disable server BACKEND SERVER"
                                                              : "enable server BACKEND SERVER";
  if (!ascii::equals_ignore_case(next_word(rest), "server")) {
    return fail("usage: " + std::string(usage_line));
  }
  r.name = std::string(next_word(rest));
  r.server = std::string(next_word(rest));
  if (r.name.empty() || r.server.empty() || !rest.empty()) {
    return fail("usage: " + std::string(usage_line));
  }
  return r;
}

Parsed show(Request r, std::string_view rest) {
  std::string_view what = next_word(rest);
  static constexpr std::array<std::pair<std::string_view, Verb>, 4> kShows = {{
      {"info", Verb::ShowInfo},
      {"sessions", Verb::ShowSessions},
      {"bans", Verb::ShowBans},
      {"servers", Verb::ShowServers},
  }};
  for (const auto& [word, verb] : kShows) {
    if (ascii::equals_ignore_case(what, word) && rest.empty()) {
      r.verb = verb;
      return r;
    }
  }
  return fail("usage: show info | show sessions | show bans | show servers");
}

} // namespace

std::string_view verb_name(Verb verb) { return kVerbNames[static_cast<std::size_t>(verb)]; }

bool changes_state(Verb verb) {
  switch (verb) {
  case Verb::Help:
  case Verb::ShowInfo:
  case Verb::ShowSessions:
  case Verb::ShowBans:
  case Verb::ShowServers:
    return false;
  case Verb::Ban:
  case Verb::Unban:
  case Verb::KickSession:
  case Verb::KickUser:
  case Verb::KickClient:
  case Verb::DisableServer:
  case Verb::EnableServer:
    return true;
  }
  return true;
}

Result<Request, std::string> parse_request(std::string_view line) {
  if (line.size() >= kMaxRequestLine) {
    return fail("request line too long");
  }
  for (char ch : line) {
    auto c = static_cast<unsigned char>(ch); // bytes above 0x7f are UTF-8 in user names
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return fail("control characters are not allowed in a request");
    }
  }
  Request r;
  std::string_view rest = line;
  std::string_view word = next_word(rest);
  if (ascii::equals_ignore_case(word, "json")) {
    r.json = true;
    word = next_word(rest);
  }
  if (word.empty()) {
    return fail("empty request; try `help`");
  }
  if (ascii::equals_ignore_case(word, "help") && rest.empty()) {
    r.verb = Verb::Help;
    return r;
  }
  if (ascii::equals_ignore_case(word, "show")) {
    return show(std::move(r), rest);
  }
  if (ascii::equals_ignore_case(word, "ban")) {
    r.verb = Verb::Ban;
    return block_argument(std::move(r), rest, "ban ADDR|CIDR [DURATION]");
  }
  if (ascii::equals_ignore_case(word, "unban")) {
    r.verb = Verb::Unban;
    return block_argument(std::move(r), rest, "unban ADDR|CIDR");
  }
  if (ascii::equals_ignore_case(word, "kick")) {
    return kick(std::move(r), rest);
  }
  if (ascii::equals_ignore_case(word, "disable")) {
    r.verb = Verb::DisableServer;
    return server_switch(std::move(r), rest);
  }
  if (ascii::equals_ignore_case(word, "enable")) {
    r.verb = Verb::EnableServer;
    return server_switch(std::move(r), rest);
  }
  return fail("unknown command " + quoted(word) + "; try `help`");
}

std::string_view usage() {
  return "show info\n"
         "show sessions\n"
         "show bans\n"
         "show servers\n"
         "ban ADDR|CIDR [DURATION]\n"
         "unban ADDR|CIDR\n"
         "kick session ID\n"
         "kick user NAME\n"
         "kick client ADDR|CIDR\n"
         "disable server BACKEND SERVER\n"
         "enable server BACKEND SERVER\n";
}

} // namespace popgate::admin
