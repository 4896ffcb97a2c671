#include "proxy/pop3/command.hpp"

#include "base/ascii.hpp"

namespace popgate::pop3 {
namespace {

constexpr std::array<std::string_view, kVerbCount> kVerbNames = {
    "USER", "PASS", "APOP", "AUTH", "STLS", "CAPA", "QUIT", "STAT",
    "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP",  "UIDL", "OTHER"};

} // namespace

std::string_view verb_name(Verb verb) { return kVerbNames[static_cast<std::size_t>(verb)]; }

Verb parse_verb(std::string_view keyword) {
  for (std::size_t i = 0; i + 1 < kVerbCount; ++i) {
    if (ascii::equals_ignore_case(keyword, kVerbNames[i])) {
      return static_cast<Verb>(i);
    }
  }
  return Verb::Unknown;
}

std::string_view state_name(State state) {
  switch (state) {
  case State::Authorization:
    return "authorization";
  case State::AuthExchange:
    return "auth-exchange";
  case State::Transaction:
    return "transaction";
  case State::Update:
    return "update";
  }
  return "unknown";
}

bool valid_in(Verb verb, State state) {
  switch (state) {
  case State::Authorization:
    // RFC 1939 §4 (USER, PASS, APOP, QUIT), RFC 2449 §5 (CAPA), RFC 2595 §4 (STLS),
    // RFC 5034 §4 (AUTH).
    return verb == Verb::User || verb == Verb::Pass || verb == Verb::Apop || verb == Verb::Auth ||
           verb == Verb::Stls || verb == Verb::Capa || verb == Verb::Quit;
  case State::Transaction:
    // RFC 1939 §5, and CAPA (RFC 2449 §5: "valid in both states").
    return verb == Verb::Stat || verb == Verb::List || verb == Verb::Retr || verb == Verb::Dele ||
           verb == Verb::Noop || verb == Verb::Rset || verb == Verb::Top || verb == Verb::Uidl ||
           verb == Verb::Quit || verb == Verb::Capa;
  case State::AuthExchange:
    // RFC 5034 §4: client lines are SASL responses until the server's final answer.
  case State::Update:
    // RFC 1939 §6: the server closes after answering QUIT.
    return false;
  }
  return false;
}

} // namespace popgate::pop3
