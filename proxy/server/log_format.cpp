#include "proxy/server/log_format.hpp"

#include "base/json_string.hpp"
#include "base/utf8.hpp"

#include <charconv>

#include <fmt/format.h>

namespace popgate::proxy::log {
namespace {

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

bool logfmt_needs_quotes(std::string_view value, std::size_t max) {
  if (value.empty()) {
    return true;
  }
  bool quote = false;
  utf8::for_each_char(value, max, [&](std::string_view ch, bool valid) {
    quote = quote || !valid || is_control(ch) || ch == " " || ch == "=" || ch == "\"" || ch == "\\";
  });
  return quote;
}

void append_json_field(std::string& out, const Field& f) {
  out += ",\"";
  out += f.key;
  out += "\":";
  if (f.quoted) {
    json::append_string(out, f.value, kMaxValue);
  } else {
    out += f.value;
  }
}

} // namespace

void append_logfmt_value(std::string& out, std::string_view value, std::size_t max) {
  if (!logfmt_needs_quotes(value, max)) {
    utf8::for_each_char(value, max, [&](std::string_view ch, bool) { out += ch; });
    return;
  }
  out += '"';
  utf8::for_each_char(value, max, [&](std::string_view ch, bool) {
    if (is_control(ch) || ch == "\"" || ch == "\\") {
      json::append_escape(out, code_point(ch));
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
    json::append_string(line, event, kMaxValue);
    line += ",\"msg\":";
    json::append_string(line, message, kMaxMessage);
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
