#pragma once

// The admin socket's replies, sans-IO: plain rows in, the reply's bytes out.
//
// Framing: a reply is a status line, "+OK text" or "-ERR text", then any body lines, then one
// empty line that ends it (no body line is ever empty: empty values print as "-"). With
// `json`, the status line is the whole reply as one JSON object, {"ok":true,...}, then the empty
// line. Every string a peer could have chosen (a user name) is made safe for both: control
// characters become '?' in text; JSON escapes what RFC 8259 §7 requires and replaces bytes
// that are not UTF-8 with U+FFFD, so the object always parses.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace popgate::admin {

// One cell: none ("-" / null), a flag, a whole number, or text.
using Value = std::variant<std::monostate, bool, std::int64_t, std::string>;

struct Reply {
  bool ok = true;
  std::string message; // one line: the status line's text
  // Key/value lines ("show info"); in JSON, members of the top-level object.
  std::vector<std::pair<std::string, Value>> fields;
  // A table ("show sessions"): column keys, and rows of as many values. In JSON, an array of
  // objects under `list`.
  std::string list;
  std::vector<std::string> columns;
  std::vector<std::vector<Value>> rows;
  // Free text lines (`help`); in JSON, an array of strings under "lines".
  std::vector<std::string> lines;
};

Reply error_reply(std::string message);

// The reply's bytes, its closing empty line included.
std::string render(const Reply& reply, bool json);

// ---- the rows of each `show` ----

struct InfoRow {
  std::string version;
  std::int64_t uptime_s = 0;
  std::string config_file;
  std::uint64_t generation = 1;   // 1 at start, +1 per successful reload
  std::string last_reload;        // UTC, "2026-01-31T12:00:00Z"; "" = never
  std::string last_reload_result; // "applied", "refused (invalid configuration)"; "" = never
  std::int64_t workers = 0;
};

struct SessionRow {
  std::string id; // proxy/server/session_id.hpp: "q7hx2kcm-42"
  std::string client;
  std::string listener;
  std::string user;
  std::string tls; // "TLSv1.3"; "" = plaintext
  std::string backend;
  std::string server; // "" = not connected yet
  std::string state;  // "handshake", "authorization", "transaction", ...
  std::int64_t age_s = 0;
  std::uint64_t bytes_in = 0;  // from the client
  std::uint64_t bytes_out = 0; // to the client
};

struct BanRow {
  std::string block;
  bool manual = false;
  std::optional<std::int64_t> expires_in_s; // nullopt: until unban
};

struct ServerRow {
  std::string backend;
  std::string server;
  std::optional<bool> up;                    // nullopt: not tried yet
  std::optional<std::int64_t> checked_s_ago; // when up/down was last seen
  std::int64_t sessions = 0;
  bool disabled = false;
};

Reply info_reply(const InfoRow& info);
Reply sessions_reply(const std::vector<SessionRow>& sessions);
Reply bans_reply(const std::vector<BanRow>& bans);
Reply servers_reply(const std::vector<ServerRow>& servers);

} // namespace popgate::admin
