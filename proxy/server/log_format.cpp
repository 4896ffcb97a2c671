#include "proxy/server/log_format.hpp"

#include <charconv>

#include <fmt/format.h>

namespace popgate::proxy::log {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD"; // U+FFFD

// Length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629 §4: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 when it is not one.
std::size_t utf8_length(std::string_view s) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](std::size_t i) { return i < s.size() && (byte(i) & 0xC0U) == 0x80U; };
  unsigned char b0 = byte(0);
  if (b0 < 0x80) {
    return 1;
  }
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    return cont(1) ? 2 : 0;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) {
      return 0;
    }
    unsigned char b1 = byte(1);
    bool overlong = b0 == 0xE0 && b1 < 0xA0;
    bool surrogate = b0 == 0xED && b1 >= 0xA0;
    return overlong || surrogate ? 0 : 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) {
      return 0;
    }
    unsigned char b1 = byte(1);
    bool overlong = b0 == 0xF0 && b1 < 0x90;
    bool too_big = b0 == 0xF4 && b1 >= 0x90;
    return overlong || too_big ? 0 : 4;
  }
  return 0;
}

// Walks `value` one character at a time: `emit(ch, valid)` gets each well-formed UTF-8
// sequence (valid) or U+FFFD for a byte that is not one; stops before `max` bytes with "...".
template <typename Emit> void each_char(std::string_view value, std::size_t max, Emit emit) {
  std::size_t at = 0;
  while (at < value.size()) {
    std::size_t n = utf8_length(value.substr(at));
    if (at + std::max<std::size_t>(n, 1) > max) {
      emit(std::string_view("..."), true);
      return;
    }
    if (n == 0) {
      emit(kReplacement, false);
      at += 1;
    } else {
      emit(value.substr(at, n), true);
      at += n;
    }
  }
}

// C0 controls, DEL, and the C1 controls U+0080..U+009F (a terminal acts on those too).
bool is_control(std::string_view ch) {
  auto b0 = static_cast<unsigned char>(ch[0]);
  if (ch.size() == 1) {
    return b0 < 0x20 || b0 == 0x7f;
  }
  return ch.size() == 2 && b0 == 0xC2 && static_cast<unsigned char>(ch[1]) < 0xA0;
}

unsigned code_point(std::string_view ch) {
  if (ch.size() == 1) {
    return static_cast<unsigned char>(ch[0]);
  }
  return ((static_cast<unsigned char>(ch[0]) & 0x1FU) << 6U) |
         (static_cast<unsigned char>(ch[1]) & 0x3FU);
}

// The escapes JSON (RFC 8259 §7) and logfmt share for what must not appear raw.
void append_escape(std::string& out, unsigned c) {
  switch (c) {
  case '"':
    out += "\\\"";
    return;
  case '\\':
    out += "\\\\";
    return;
  case '\n':
    out += "\\n";
    return;
  case '\r':
    out += "\\r";
    return;
  case '\t':
    out += "\\t";
    return;
  default:
    out += fmt::format("\\u{:04x}", c);
  }
}

bool logfmt_needs_quotes(std::string_view value, std::size_t max) {
  if (value.empty()) {
    return true;
  }
  bool quote = false;
  each_char(value, max, [&](std::string_view ch, bool valid) {
    quote = quote || !valid || is_control(ch) || ch == " " || ch == "=" || ch == "\"" || ch == "\\";
  });
  return quote;
}

void append_json_field(std::string& out, const Field& f) {
  out += ",\"";
  out += f.key;
  out += "\":";
  if (f.quoted) {
    append_json_string(out, f.value);
  } else {
    out += f.value;
  }
}

} // namespace

void append_logfmt_value(std::string& out, std::string_view value, std::size_t max) {
  if (!logfmt_needs_quotes(value, max)) {
    each_char(value, max, [&](std::string_view ch, bool) { out += ch; });
    return;
  }
  out += '"';
  each_char(value, max, [&](std::string_view ch, bool) {
    if (is_control(ch) || ch == "\"" || ch == "\\") {
      append_escape(out, code_point(ch));
    } else {
      out += ch;
    }
  });
  out += '"';
}

void append_json_string(std::string& out, std::string_view value, std::size_t max) {
  out += '"';
  each_char(value, max, [&](std::string_view ch, bool) {
    auto b0 = static_cast<unsigned char>(ch[0]);
    if (ch.size() == 1 && (b0 < 0x20 || b0 == '"' || b0 == '\\')) {
      append_escape(out, b0); // RFC 8259 §7: only these must be escaped
    } else {
      out += ch;
    }
  });
  out += '"';
}

std::string_view syslog_prefix(LogLevel level) {
  switch (level) {
  case LogLevel::Debug:
    return "<7>";
  case LogLevel::Info:
    return "<6>";
  case LogLevel::Warn:
    return "<4>";
  case LogLevel::Error:
    return "<3>";
  }
  return "<6>";
}

std::string_view level_name(LogLevel level) {
  switch (level) {
  case LogLevel::Debug:
    return "debug";
  case LogLevel::Info:
    return "info";
  case LogLevel::Warn:
    return "warn";
  case LogLevel::Error:
    return "error";
  }
  return "info";
}

std::string format_line(LineStyle style, std::string_view timestamp, LogLevel level,
                        std::string_view event, std::string_view message,
                        std::span<const Field> fields) {
  std::string line;
  if (style.journal) {
    line += syslog_prefix(level);
  }
  if (style.format == LogFormat::Json) {
    line += '{';
    if (!style.journal) {
      line += fmt::format(R"("ts":"{}",)", timestamp);
    }
    line += fmt::format(R"("level":"{}","event":)", level_name(level));
    append_json_string(line, event);
    line += ",\"msg\":";
    append_json_string(line, message, kMaxMessage);
    for (const auto& f : fields) {
      append_json_field(line, f);
    }
    line += "}\n";
    return line;
  }
  if (!style.journal) {
    line += fmt::format("ts={} ", timestamp);
  }
  line += fmt::format("level={} event=", level_name(level));
  append_logfmt_value(line, event);
  line += " msg=";
  append_logfmt_value(line, message, kMaxMessage);
  for (const auto& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    append_logfmt_value(line, f.value);
  }
  line += '\n';
  return line;
}

bool is_journal_stream(std::string_view journal_stream, std::uint64_t device, std::uint64_t inode) {
  auto colon = journal_stream.find(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  auto parse = [](std::string_view s, std::uint64_t& out) {
    const auto* end = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(s.data(), end, out);
    return ec == std::errc() && ptr == end && !s.empty();
  };
  std::uint64_t d = 0;
  std::uint64_t i = 0;
  return parse(journal_stream.substr(0, colon), d) && parse(journal_stream.substr(colon + 1), i) &&
         d == device && i == inode;
}

} // namespace popgate::proxy::log
