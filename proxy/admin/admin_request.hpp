#pragma once

// The admin socket's requests (SPEC section 5), sans-IO: one line of text in, a typed Request
// or a one-line reason out. `popgate ctl` sends exactly what its user typed, joined by spaces.
//
// Grammar (keywords case-insensitive, words separated by spaces or tabs):
//   [json] help
//   [json] show info | show sessions | show bans | show servers
//   [json] ban ADDR|CIDR [DURATION]          DURATION as in the config ("30m", "1d"); none = until
//   unban [json] unban ADDR|CIDR [json] kick session ID | kick user NAME | kick client ADDR|CIDR
//   [json] disable server BACKEND SERVER | enable server BACKEND SERVER
// A leading "json" asks for the reply as one JSON object instead of text. NAME is the rest of
// the line (a user name may hold spaces), compared exactly. SERVER is written as in the
// backend's `servers` list ("127.0.0.1:110", "[2001:db8::1]:110").

#include "base/address.hpp"
#include "base/duration.hpp"
#include "base/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace popgate::admin {

// A request line longer than this (its LF included) is refused and the connection closed.
inline constexpr std::size_t kMaxRequestLine = 1024;

enum class Verb : std::uint8_t {
  Help,
  ShowInfo,
  ShowSessions,
  ShowBans,
  ShowServers,
  Ban,
  Unban,
  KickSession,
  KickUser,
  KickClient,
  DisableServer,
  EnableServer,
};
inline constexpr std::size_t kVerbCount = 12;

// "show_sessions", "kick_user": the metric label and log name of each verb.
std::string_view verb_name(Verb verb);
// Whether the verb changes something (then it is logged), as opposed to only showing.
bool changes_state(Verb verb);

struct Request {
  Verb verb = Verb::Help;
  bool json = false;
  std::optional<Cidr> block;      // ban, unban, kick client
  std::optional<Millis> duration; // ban; nullopt = until unban
  std::string session;            // kick session: an id as `show sessions` lists it
  std::string name;               // kick user: the user; disable/enable server: the backend
  std::string server;             // disable/enable server
};

// The request on `line` (without its line end), or why it is not one: a sentence that names
// what was expected, for a one-line "-ERR" reply.
Result<Request, std::string> parse_request(std::string_view line);

// Every command with its arguments, one per line, for `help`.
std::string_view usage();

} // namespace popgate::admin
