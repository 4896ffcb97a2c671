#include "proxy/pop3/command_parser.hpp"

#include "base/ascii.hpp"

#include "proxy/pop3/sasl.hpp"

#include <algorithm>
#include <cstring>

namespace popgate::pop3 {
namespace {

constexpr std::size_t kMaxKeyword = 16;
constexpr std::size_t kMaxNumber = 10; // message numbers and line counts fit in 32 bits
constexpr std::size_t kApopDigest = 32;

bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7F;
}

bool is_number(std::string_view s) {
  if (s.empty() || s.size() > kMaxNumber) {
    return false;
  }
  for (const char c : s) {
    if (!is_digit(c)) {
      return false;
    }
  }
  return true;
}

// Counts the words and checks each with `ok(index, word)`.
template <typename Check>
bool words_are(std::string_view args, std::size_t min, std::size_t max, Check ok) {
  ascii::Words words(args);
  std::size_t count = 0;
  while (!words.done()) {
    if (count == max || !ok(count, words.next())) {
      return false;
    }
    ++count;
  }
  return count >= min;
}

bool any_word(std::size_t, std::string_view) { return true; }
bool number_word(std::size_t, std::string_view w) { return is_number(w); }

bool apop_words(std::size_t index, std::string_view w) {
  if (index == 0) {
    return true;
  }
  // RFC 1939 §7: the digest is 32 hexadecimal characters (MD5, lower case by the RFC; some
  // clients send upper case, which servers accept).
  if (w.size() != kApopDigest) {
    return false;
  }
  for (const char c : w) {
    if (!is_hex(c)) {
      return false;
    }
  }
  return true;
}

bool auth_words(std::size_t index, std::string_view w) {
  if (index == 0) {
    return is_mechanism_name(w);
  }
  // RFC 5034 §4: the initial response is base64, or "=" for an empty one.
  return w == "=" || (!w.empty() && is_base64(w));
}

} // namespace

LineSplitter::Event LineSplitter::next() {
  while (true) {
    const std::string_view in = input_.view();
    if (skipping_) {
      const void* lf = in.empty() ? nullptr : std::memchr(in.data(), '\n', in.size());
      if (lf == nullptr) {
        input_.consume(in.size());
        return NoLine{};
      }
      input_.consume(static_cast<std::size_t>(static_cast<const char*>(lf) - in.data()) + 1);
      skipping_ = false;
      continue;
    }
    const std::size_t window = std::min(in.size(), max_line_length_);
    const void* lf = window == 0 ? nullptr : std::memchr(in.data(), '\n', window);
    if (lf != nullptr) {
      const auto length = static_cast<std::size_t>(static_cast<const char*>(lf) - in.data()) + 1;
      input_.consume(length);
      return Line{in.substr(0, length)};
    }
    if (in.size() >= max_line_length_) {
      // Report once, then drop bytes up to the next LF, however many feeds that takes.
      input_.consume(window);
      skipping_ = true;
      return TooLong{};
    }
    input_.retain();
    return NoLine{};
  }
}

std::size_t LineSplitter::discard() {
  skipping_ = false;
  return input_.clear();
}

bool arguments_valid(Verb verb, std::string_view args) {
  switch (verb) {
  case Verb::User:
    // RFC 1939 §7: "USER name", one argument.
    return words_are(args, 1, 1, any_word);
  case Verb::Pass:
    // RFC 1939 §7: the server "may treat spaces in the argument as part of the password", so
    // the whole rest of the line is the one argument; it must not be empty.
    return !args.empty();
  case Verb::Apop:
    return words_are(args, 2, 2, apop_words);
  case Verb::Auth:
    // RFC 5034 §4: AUTH mechanism [initial-response]. AUTH alone is the pre-RFC mechanism
    // listing that Outlook sends and Dovecot answers with a multi-line list; we allow it.
    return words_are(args, 0, 2, auth_words);
  case Verb::List:
  case Verb::Uidl:
    return words_are(args, 0, 1, number_word);
  case Verb::Retr:
  case Verb::Dele:
    return words_are(args, 1, 1, number_word);
  case Verb::Top:
    return words_are(args, 2, 2, number_word);
  case Verb::Stls:
  case Verb::Capa:
  case Verb::Quit:
  case Verb::Stat:
  case Verb::Noop:
  case Verb::Rset:
    return args.empty();
  case Verb::Unknown:
    return false;
  }
  return false;
}

Result<Command, Error> parse_command(std::string_view raw) {
  // RFC 1939 §3: commands are lines terminated by CRLF.
  if (raw.size() < 2 || raw[raw.size() - 2] != '\r') {
    if (raw.find('\0') != std::string_view::npos) {
      return unexpected(Error::NulByte);
    }
    return unexpected(Error::BareLf);
  }
  const std::string_view line = raw.substr(0, raw.size() - 2);
  if (line.find('\0') != std::string_view::npos) {
    return unexpected(Error::NulByte);
  }
  std::size_t keyword_end = 0;
  while (keyword_end < line.size() && line[keyword_end] != ' ') {
    ++keyword_end;
  }
  const std::string_view keyword = line.substr(0, keyword_end);
  if (keyword.empty() || keyword.size() > kMaxKeyword) {
    return unexpected(Error::BadVerb);
  }
  for (const char c : keyword) {
    if (!is_alpha(c)) {
      return unexpected(Error::BadVerb);
    }
  }
  std::string_view args = line.substr(keyword_end);
  while (!args.empty() && args.front() == ' ') {
    args.remove_prefix(1);
  }
  while (!args.empty() && args.back() == ' ') {
    args.remove_suffix(1);
  }
  const Verb verb = parse_verb(keyword);
  if (verb == Verb::Unknown) {
    return unexpected(Error::UnknownVerb);
  }
  for (const char c : args) {
    if (is_control(c)) { // a stray CR, TAB or other control octet
      return unexpected(Error::BadArguments);
    }
  }
  if (!arguments_valid(verb, args)) {
    return unexpected(Error::BadArguments);
  }
  return Command{verb, keyword, args, raw};
}

Result<std::string_view, Error> parse_sasl_line(std::string_view raw) {
  if (raw.size() < 2 || raw[raw.size() - 2] != '\r') {
    if (raw.find('\0') != std::string_view::npos) {
      return unexpected(Error::NulByte);
    }
    return unexpected(Error::BareLf);
  }
  const std::string_view text = raw.substr(0, raw.size() - 2);
  if (text.find('\0') != std::string_view::npos) {
    return unexpected(Error::NulByte);
  }
  if (text == "*" || is_base64(text)) {
    return text;
  }
  return unexpected(Error::BadSaslResponse);
}

} // namespace popgate::pop3
