#include "proxy/admin/admin_reply.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

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

// The length of the UTF-8 sequence at s[i] if it is well-formed (RFC 3629 §4), else 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  std::size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    lo = c == 0xe0 ? 0xa0 : 0x80; // no overlong forms
    hi = c == 0xed ? 0x9f : 0xbf; // no surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    lo = c == 0xf0 ? 0x90 : 0x80;
    hi = c == 0xf4 ? 0x8f : 0xbf; // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) {
    return 0;
  }
  for (std::size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) {
      return 0;
    }
  }
  return n;
}

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_length(s, i);
      if (n == 0) {
        out += "\xef\xbf\xbd"; // U+FFFD for a byte that is not UTF-8
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      std::array<char, 8> buf{};
      std::snprintf(buf.data(), buf.size(), "\\u%04x", c);
      out += buf.data();
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

void json_value(std::string& out, const Value& v) {
  if (std::holds_alternative<std::monostate>(v)) {
    out += "null";
  } else if (const bool* b = std::get_if<bool>(&v)) {
    out += *b ? "true" : "false";
  } else if (const std::int64_t* n = std::get_if<std::int64_t>(&v)) {
    out += std::to_string(*n);
  } else {
    json_string(out, std::get<std::string>(v));
  }
}

std::string render_json(const Reply& r) {
  std::string out = r.ok ? R"({"ok":true,"message":)" : R"({"ok":false,"message":)";
  json_string(out, r.message);
  for (const auto& [key, value] : r.fields) {
    out += ',';
    json_string(out, key);
    out += ':';
    json_value(out, value);
  }
  if (!r.list.empty()) {
    out += ',';
    json_string(out, r.list);
    out += ":[";
    for (std::size_t i = 0; i < r.rows.size(); ++i) {
      out += i == 0 ? "{" : ",{";
      for (std::size_t c = 0; c < r.columns.size() && c < r.rows[i].size(); ++c) {
        if (c > 0) {
          out += ',';
        }
        json_string(out, r.columns[c]);
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
      json_string(out, r.lines[i]);
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
