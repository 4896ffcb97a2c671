#include "proxy/pop3/conversation.hpp"

#include "proxy/pop3/sasl.hpp"

#include <algorithm>

namespace popgate::pop3 {
namespace {

constexpr std::size_t kMinLine = 16;

Options clamped(Options options) {
  options.max_line_length = std::max(options.max_line_length, kMinLine);
  options.max_response_line = std::max(options.max_response_line, kMinLine);
  return options;
}

// Case-insensitive comparison with an upper-case literal (RFC 5034 §4: mechanism names).
bool equals_upper(std::string_view s, std::string_view upper) {
  return s.size() == upper.size() &&
         std::equal(s.begin(), s.end(), upper.begin(), [](char a, char b) {
           return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 'a' + 'A') : a) == b;
         });
}

std::string_view first_word(std::string_view s) { return s.substr(0, s.find(' ')); }

std::string_view after_first_word(std::string_view s) {
  const std::size_t space = s.find(' ');
  if (space == std::string_view::npos) {
    return {};
  }
  s.remove_prefix(space);
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  return s;
}

} // namespace

Conversation::Conversation(Options options)
    : options_(clamped(options)), lines_(options_.max_line_length),
      tracker_(options_.max_response_line) {}

// ---- client side ----

void Conversation::feed_client(std::string_view bytes) { lines_.feed(bytes); }

bool Conversation::client_waiting() const {
  return auth_pending_ || stls_discard_due_ || (state_ == State::AuthExchange && !sasl_line_due_);
}

ClientEvent Conversation::next_client() {
  if (client_waiting()) {
    lines_.retain();
    return NeedData{};
  }
  const LineSplitter::Event event = lines_.next();
  if (std::holds_alternative<LineSplitter::NoLine>(event)) {
    return NeedData{};
  }
  const bool in_exchange = state_ == State::AuthExchange;
  if (std::holds_alternative<LineSplitter::TooLong>(event)) {
    // An AUTH exchange cannot resume after a line we refused to forward: advise closing.
    if (in_exchange) {
      sasl_line_due_ = false;
    }
    return invalid(Error::LineTooLong, in_exchange);
  }
  const std::string_view raw = std::get<LineSplitter::Line>(event).raw;
  return in_exchange ? next_sasl_response(raw) : next_command(raw);
}

ClientEvent Conversation::next_command(std::string_view raw) {
  auto parsed = parse_command(raw);
  if (!parsed.has_value()) {
    return invalid(parsed.error());
  }
  const Command command = parsed.value();
  if (command.verb == Verb::Stls && tls_active_) {
    return invalid(Error::TlsActive, false, command.verb);
  }
  // RFC 1939 §7: PASS is valid only "immediately after a successful USER command"; we accept
  // it pipelined right after USER, and the backend decides.
  if (!valid_in(command.verb, state_) || (command.verb == Verb::Pass && !user_accepted_)) {
    return invalid(Error::WrongState, false, command.verb);
  }
  switch (command.verb) {
  case Verb::User:
    user_.assign(command.args);
    break;
  case Verb::Apop:
    user_.assign(first_word(command.args));
    break;
  case Verb::Auth: {
    // RFC 5034 §4: an initial response is the client's first SASL response.
    const std::string_view mechanism = first_word(command.args);
    const std::string_view initial = after_first_word(command.args);
    if (!initial.empty() && initial != "=") {
      std::optional<std::string> name;
      if (equals_upper(mechanism, "PLAIN")) {
        name = plain_authcid(initial);
      } else if (equals_upper(mechanism, "LOGIN")) {
        name = login_user(initial);
      }
      if (name) {
        user_ = std::move(*name);
      }
    }
    break;
  }
  default:
    break;
  }
  consecutive_invalid_ = 0;
  return command;
}

ClientEvent Conversation::next_sasl_response(std::string_view raw) {
  sasl_line_due_ = false;
  auto parsed = parse_sasl_line(raw);
  if (!parsed.has_value()) {
    return invalid(parsed.error(), true);
  }
  consecutive_invalid_ = 0;
  const std::string_view text = parsed.value();
  if (text == "*") {
    // RFC 5034 §4: "*" cancels; the server answers -ERR.
    sasl_cancelled_ = true;
    return SaslResponse{raw, true};
  }
  claim_user_from_auth(text);
  ++sasl_responses_;
  return SaslResponse{raw, false};
}

void Conversation::claim_user_from_auth(std::string_view response) {
  if (sasl_responses_ != 0) {
    return; // later responses carry passwords or proofs, never the user name
  }
  std::optional<std::string> name;
  if (mechanism_ == Mechanism::Plain) {
    name = plain_authcid(response);
  } else if (mechanism_ == Mechanism::Login) {
    name = login_user(response);
  }
  if (name) {
    user_ = std::move(*name);
  }
}

ClientEvent Conversation::invalid(Error error, bool force_close, Verb verb) {
  if (consecutive_invalid_ < kMaxConsecutiveInvalid) {
    ++consecutive_invalid_;
  }
  return Invalid{error, force_close || consecutive_invalid_ >= kMaxConsecutiveInvalid, verb};
}

void Conversation::command_forwarded(const Command& command) {
  command_forwarded(command.verb, command.args);
}

void Conversation::command_forwarded(Verb verb, std::string_view args) {
  tracker_.expect(verb, !args.empty());
  switch (verb) {
  case Verb::User:
    user_accepted_ = true;
    break;
  case Verb::Pass:
  case Verb::Apop:
    auth_pending_ = true;
    break;
  case Verb::Auth: {
    if (args.empty()) {
      break; // the mechanism listing: an ordinary multi-line command
    }
    const std::string_view mechanism = first_word(args);
    mechanism_ = equals_upper(mechanism, "PLAIN")   ? Mechanism::Plain
                 : equals_upper(mechanism, "LOGIN") ? Mechanism::Login
                                                    : Mechanism::Other;
    state_ = State::AuthExchange;
    sasl_responses_ = after_first_word(args).empty() ? 0 : 1;
    sasl_line_due_ = false;
    sasl_cancelled_ = false;
    break;
  }
  case Verb::Quit:
    state_ = State::Update;
    break;
  default:
    break;
  }
}

void Conversation::command_answered_locally(const Command& command, bool ok) {
  switch (command.verb) {
  case Verb::User:
    user_accepted_ = ok;
    break;
  case Verb::Pass:
  case Verb::Apop:
  case Verb::Auth:
    // RFC 1939 §7: after a refused PASS the client starts over with USER.
    if (!ok) {
      user_accepted_ = false;
    }
    break;
  case Verb::Stls:
    stls_discard_due_ = ok;
    break;
  case Verb::Quit:
    state_ = State::Update;
    break;
  default:
    break;
  }
}

std::size_t Conversation::discard_client_input() {
  stls_discard_due_ = false;
  return lines_.discard();
}

// ---- server side ----

void Conversation::feed_server(std::string_view bytes) { tracker_.feed(bytes); }

ServerEvent Conversation::next_server() {
  ServerEvent event = tracker_.next();
  if (std::holds_alternative<Continuation>(event)) {
    sasl_line_due_ = true;
    return event;
  }
  auto* status = std::get_if<Status>(&event);
  if (status == nullptr) {
    return event;
  }
  switch (status->for_verb) {
  case Verb::User:
    if (!status->ok) {
      user_accepted_ = false;
    }
    break;
  case Verb::Pass:
  case Verb::Apop:
    auth_pending_ = false;
    auth_finished(*status);
    break;
  case Verb::Auth:
    if (tracker_.last_status_had_args()) {
      auth_finished(*status);
    }
    break;
  default:
    break;
  }
  return event;
}

void Conversation::auth_finished(Status& status) {
  if (status.ok) {
    status.auth = AuthResult::Success;
    if (state_ != State::Update) {
      state_ = State::Transaction;
    }
  } else {
    status.auth = sasl_cancelled_ ? AuthResult::Cancelled : AuthResult::Failure;
    if (!sasl_cancelled_) {
      ++auth_failures_;
    }
    if (state_ == State::AuthExchange) {
      state_ = State::Authorization;
    }
    user_accepted_ = false;
  }
  mechanism_ = Mechanism::None;
  sasl_line_due_ = false;
  sasl_cancelled_ = false;
  sasl_responses_ = 0;
}

} // namespace popgate::pop3
