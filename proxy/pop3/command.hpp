#pragma once

// POP3 verbs, the states of a POP3 session, and which verb is valid in which state.
//
// RFC 1939 §3: a session is in the AUTHORIZATION state until the client has identified itself,
// then in TRANSACTION; QUIT from TRANSACTION enters UPDATE, where the server commits deletions
// and closes. RFC 5034 adds the AUTH exchange, during which client lines are SASL responses and
// not commands. RFC 2449 adds CAPA (valid in both states); RFC 2595 adds STLS (AUTHORIZATION
// only).

#include <array>
#include <cstdint>
#include <string_view>

namespace popgate::pop3 {

enum class Verb : std::uint8_t {
  User,
  Pass,
  Apop,
  Auth,
  Stls,
  Capa,
  Quit,
  Stat,
  List,
  Retr,
  Dele,
  Noop,
  Rset,
  Top,
  Uidl,
  Unknown
};

inline constexpr std::size_t kVerbCount = static_cast<std::size_t>(Verb::Unknown) + 1;

enum class State : std::uint8_t {
  Authorization, // RFC 1939 §4, including "USER accepted, PASS expected"
  AuthExchange,  // RFC 5034 §4: AUTH forwarded, its final +OK/-ERR not seen yet
  Transaction,   // RFC 1939 §5
  Update         // RFC 1939 §6: QUIT sent; no further command is valid
};

// Upper-case keyword ("RETR"); "OTHER" for Verb::Unknown, as the metrics label it.
std::string_view verb_name(Verb verb);

// Case-insensitive (RFC 1939 §3: "Keywords are case-insensitive"). Verb::Unknown when the
// keyword is not one of the above.
Verb parse_verb(std::string_view keyword);

std::string_view state_name(State state);

// The per-state validity table of RFC 1939 §4-6, RFC 2449 §5 (CAPA), RFC 2595 §4 (STLS) and
// RFC 5034 §4 (AUTH). PASS additionally needs a preceding USER; the Conversation checks that.
bool valid_in(Verb verb, State state);

// One client command line. All views point into the codec's input and share its lifetime (see
// Conversation): copy what must outlive the next call.
struct Command {
  Verb verb = Verb::Unknown;
  std::string_view verb_text; // the keyword as sent, e.g. "retr"
  std::string_view args;      // everything after the keyword and its separating spaces, up to
                              // but excluding CRLF; trailing spaces removed; may be empty
  std::string_view raw;       // the whole line including CRLF: forward exactly these bytes
};

} // namespace popgate::pop3
