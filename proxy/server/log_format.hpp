#pragma once

// How one log line is spelled, without any IO: the logfmt and JSON encodings, the syslog
// priority prefix for journald, and whether stderr is the journal. log.cpp adds the clock, the
// lock and the write; the unit tests check the bytes.
//
// Text lines are logfmt: key=value pairs only, a value in double quotes when it is empty or
// holds a space, '=', '"', '\', a control character or a byte that is not UTF-8 (so a peer
// cannot forge a field or split a line). Both encodings pass valid UTF-8 through as it is (a
// user name "jürgen" stays readable) and replace invalid bytes with U+FFFD, so every line is
// valid UTF-8 and a JSON line always parses.

#include "proxy/config/config.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace popgate::proxy::log {

struct Field {
  std::string_view key; // a literal: written as it is
  std::string value;
  bool quoted = true; // false: a number, bare in JSON
};

// Longest value written; longer ones are cut at a character boundary and end in "...".
// Dovecot's str_sanitize(line, 160) keeps peer text in its log as short.
constexpr std::size_t kMaxValue = 160;
constexpr std::size_t kMaxMessage = 1000;

// JSON strings are base/json_string.hpp's, cut at kMaxValue (kMaxMessage for "msg").
void append_logfmt_value(std::string& out, std::string_view value, std::size_t max = kMaxValue);

// sd-daemon(3): "<3>" err, "<4>" warning, "<6>" info, "<7>" debug.
std::string_view syslog_prefix(LogLevel level);
std::string_view level_name(LogLevel level);

struct LineStyle {
  LogFormat format = LogFormat::Text;
  // Stderr is the journal: a priority prefix instead of popgate's timestamp (journald stamps
  // each line itself, and a second clock only disagrees with it).
  bool journal = false;
};

// One line, '\n' included. `timestamp` is left out under the journal.
std::string format_line(LineStyle style, std::string_view timestamp, LogLevel level,
                        std::string_view event, std::string_view message,
                        std::span<const Field> fields);

// systemd.exec(5): JOURNAL_STREAM is "DEVICE:INODE" of the stream systemd connected to stdout or
// stderr. It is inherited by children whose stderr goes elsewhere, so it counts only when it
// names the stream stderr is.
bool is_journal_stream(std::string_view journal_stream, std::uint64_t device, std::uint64_t inode);

} // namespace popgate::proxy::log
