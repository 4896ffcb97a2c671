#include "proxy/admin/admin_reply.hpp"

#include "base/json_string.hpp"

#include <algorithm>

namespace popgate::admin {
namespace {

// Text mode: one line per value, control characters (a CR or LF would end the reply early)
// replaced, and "-" for nothing so that no body line is empty and columns stay aligned.
std::string text_of(const Value& v) {
  if (std::holds_alternative<std::monostate>(v)) {
    return "-";
  }
  if (const bool* b = std::get_if<bool>(&v)) {
    return *b ? "yes" : "no";
  }
  if (const std::int64_t* n = std::get_if<std::int64_t>(&v)) {
    return std::to_string(*n);
  }
  const auto& s = std::get<std::string>(v);
  if (s.empty()) {
    return "-";
  }
  std::string out = s;
  std::replace_if(
      out.begin(), out.end(), [](char c) { return (c >= 0 && c < 0x20) || c == 0x7f; }, '?');
  return out;
}

void json_value(std::string& out, const Value& v) {
  if (std::holds_alternative<std::monostate>(v)) {
    out += "null";
  } else if (const bool* b = std::get_if<bool>(&v)) {
    out += *b ? "true" : "false";
  } else if (const std::int64_t* n = std::get_if<std::int64_t>(&v)) {
    out += std::to_string(*n);
  } else {
    json::append_string(out, std::get<std::string>(v));
  }
}

std::string render_json(const Reply& r) {
  std::string out = r.ok ? R"({"ok":true,"message":)" : R"({"ok":false,"message":)";
  json::append_string(out, r.message);
  for (const auto& [key, value] : r.fields) {
    out += ',';
    json::append_string(out, key);
    out += ':';
    json_value(out, value);
  }
  if (!r.list.empty()) {
    out += ',';
    json::append_string(out, r.list);
    out += ":[";
    for (std::size_t i = 0; i < r.rows.size(); ++i) {
      out += i == 0 ? "{" : ",{";
      for (std::size_t c = 0; c < r.columns.size() && c < r.rows[i].size(); ++c) {
        if (c > 0) {
          out += ',';
        }
        json::append_string(out, r.columns[c]);
        out += ':';
        json_value(out, r.rows[i][c]);
      }
      out += '}';
    }
    out += ']';
  }
  if (!r.lines.empty()) {
    out += R"(,"lines":[)";
    for (std::size_t i = 0; i < r.lines.size(); ++i) {
      if (i > 0) {
        out += ',';
      }
      json::append_string(out, r.lines[i]);
    }
    out += ']';
  }
  out += "}\n\n";
  return out;
}

void append_table(std::string& out, const Reply& r) {
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> width(r.columns.size());
  std::vector<std::string> header;
  for (std::size_t c = 0; c < r.columns.size(); ++c) {
    std::string h = r.columns[c];
    std::transform(h.begin(), h.end(), h.begin(), [](char ch) {
      return ch >= 'a' && ch <= 'z' ? static_cast<char>(ch - 32) : ch;
    });
    width[c] = h.size();
    header.push_back(std::move(h));
  }
  cells.push_back(std::move(header));
  for (const auto& row : r.rows) {
    std::vector<std::string> line;
    for (std::size_t c = 0; c < r.columns.size(); ++c) {
      line.push_back(c < row.size() ? text_of(row[c]) : "-");
      width[c] = std::max(width[c], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  for (const auto& line : cells) {
    std::string text;
    for (std::size_t c = 0; c < line.size(); ++c) {
      text += line[c];
      if (c + 1 < line.size()) {
        text.append(width[c] - line[c].size() + 2, ' ');
      }
    }
    out += text + "\n";
  }
}

std::string render_text(const Reply& r) {
  std::string out = (r.ok ? "+OK " : "-ERR ") + text_of(r.message) + "\n";
  for (const auto& [key, value] : r.fields) {
    out += key + ": " + text_of(value) + "\n";
  }
  if (!r.columns.empty()) {
    append_table(out, r);
  }
  for (const auto& line : r.lines) {
    out += text_of(line) + "\n";
  }
  return out + "\n";
}

Value text_or_none(const std::string& s) { return s.empty() ? Value{} : Value{s}; }

std::int64_t signed_of(std::uint64_t n) { return static_cast<std::int64_t>(n); }

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

} // namespace

Reply error_reply(std::string message) {
  Reply r;
  r.ok = false;
  r.message = std::move(message);
  return r;
}

std::string render(const Reply& reply, bool json) {
  return json ? render_json(reply) : render_text(reply);
}

Reply info_reply(const InfoRow& info) {
  Reply r;
  r.message = "popgate " + info.version;
  r.fields = {
      {"version", info.version},
      {"uptime_s", info.uptime_s},
      {"config_file", info.config_file},
      {"config_generation", signed_of(info.generation)},
      {"last_reload", text_or_none(info.last_reload)},
      {"last_reload_result", text_or_none(info.last_reload_result)},
      {"workers", info.workers},
  };
  return r;
}

Reply sessions_reply(const std::vector<SessionRow>& sessions) {
  Reply r;
  r.message = plural(sessions.size(), "session", "sessions");
  r.list = "sessions";
  r.columns = {"id",     "client", "listener", "user",     "tls",      "backend",
               "server", "state",  "age_s",    "bytes_in", "bytes_out"};
  for (const auto& s : sessions) {
    r.rows.push_back({s.id, s.client, s.listener, text_or_none(s.user), text_or_none(s.tls),
                      s.backend, text_or_none(s.server), s.state, s.age_s, signed_of(s.bytes_in),
                      signed_of(s.bytes_out)});
  }
  return r;
}

Reply bans_reply(const std::vector<BanRow>& bans) {
  Reply r;
  r.message = plural(bans.size(), "ban", "bans");
  r.list = "bans";
  r.columns = {"block", "source", "expires_in_s"};
  for (const auto& b : bans) {
    r.rows.push_back({b.block, std::string(b.manual ? "manual" : "automatic"),
                      b.expires_in_s ? Value{*b.expires_in_s} : Value{}});
  }
  return r;
}

Reply servers_reply(const std::vector<ServerRow>& servers) {
  Reply r;
  r.message = plural(servers.size(), "server", "servers");
  r.list = "servers";
  r.columns = {"backend", "server", "up", "checked_s_ago", "sessions", "disabled"};
  for (const auto& s : servers) {
    r.rows.push_back({s.backend, s.server, s.up ? Value{*s.up} : Value{},
                      s.checked_s_ago ? Value{*s.checked_s_ago} : Value{}, s.sessions, s.disabled});
  }
  return r;
}

} // namespace popgate::admin
