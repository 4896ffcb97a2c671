// What the session core does with each client command.
//
// Client lines go through pop3::Conversation, which splits and checks them against the
// RFC 1939/2449/5034 grammar and the session state. A valid command is forwarded unchanged,
// unless popgate must answer it itself:
//   STLS                 answered here (RFC 2595); the backend never sees it.
//   USER/PASS/APOP/AUTH  refused before TLS while require_tls_for_auth.
//   [[policy.rule]]      deny/close answer -ERR; route picks the backend.
//   invalid lines        "-ERR <reason>", never forwarded.
// Local answers keep their place in the pipeline (pipeline.hpp).

#include "proxy/session/session_core.hpp"

#include <algorithm>
#include <cctype>

namespace popgate::session {

void SessionCore::client_plaintext(Millis now, std::string_view bytes) {
  now_ = last_activity_ = now;
  if (ended()) {
    return;
  }
  if (phase_ != Phase::Relaying) {
    // The client spoke before the backend's greeting was relayed. Keep it (bounded) until the
    // session is ready.
    if (early_client_.size() + bytes.size() > std::size_t{config_.policy.max_line_length} * 4) {
      abort(CloseReason::ProtocolViolation);
      return;
    }
    early_client_.append(bytes);
    return;
  }
  conv_.feed_client(bytes);
  pump_client();
}

void SessionCore::pump_client() {
  // A full pipeline stops taking commands: the rest wait in the codec, and wants_client_read()
  // turns false once that is kMaxClientBuffered.
  while (phase_ == Phase::Relaying && !close_after_response_ && !pipeline_.full()) {
    auto event = conv_.next_client();
    if (std::holds_alternative<pop3::NeedData>(event)) {
      break;
    }
    ++record_.commands;
    if (auto* command = std::get_if<pop3::Command>(&event)) {
      count(Counter::Command, static_cast<std::size_t>(command->verb));
      handle_command(*command);
    } else if (auto* sasl = std::get_if<pop3::SaslResponse>(&event)) {
      to_backend(sasl->raw); // the codec counts it as forwarded
    } else if (auto* invalid = std::get_if<pop3::Invalid>(&event)) {
      // A known verb refused for its state still counts under its name; junk is OTHER.
      count(Counter::Command, static_cast<std::size_t>(invalid->verb));
      if (invalid->verb == pop3::Verb::Stls) {
        count(Counter::StarttlsRefused);
      }
      std::string reply = "-ERR ";
      reply += pop3::describe(invalid->error);
      reply += "\r\n";
      answer_locally(std::move(reply),
                     invalid->close_advised ? LocalReply::Then::Close : LocalReply::Then::Continue);
    }
  }
}

bool SessionCore::plaintext_auth_refused(const pop3::Command& command) const {
  if (tls_ || !config_.policy.require_tls_for_auth) {
    return false;
  }
  switch (command.verb) {
  case pop3::Verb::User:
  case pop3::Verb::Pass:
  case pop3::Verb::Apop:
  case pop3::Verb::Auth:
    return true;
  default:
    return false;
  }
}

void SessionCore::handle_command(const pop3::Command& command) {
  if (command.verb == pop3::Verb::Stls) {
    // Valid here means: plaintext, AUTHORIZATION state (the codec refuses it under TLS).
    conv_.command_answered_locally(command, true);
    answer_locally("+OK Begin TLS negotiation\r\n", LocalReply::Then::StartTls);
    return;
  }
  if (plaintext_auth_refused(command)) {
    // RFC 2595 §4 and SPEC: no credentials in plaintext. The line, and so the password,
    // never reaches the backend.
    conv_.command_answered_locally(command, false);
    count(Counter::PlaintextAuthRefused);
    answer_locally("-ERR [AUTH] Plaintext authentication is disabled; issue STLS first\r\n");
    return;
  }
  if (refused_by_policy(command) || answered_before_backend(command)) {
    return;
  }
  note_auth_attempt(command);
  conv_.command_forwarded(command);
  pipeline_.forwarded();
  to_backend(command.raw);
}

// [[policy.rule]]: the first matching rule decides. Deny answers -ERR and the session goes on;
// close answers -ERR and ends it. A dry-run rule is logged and counted, then allowed.
bool SessionCore::refused_by_policy(const pop3::Command& command) {
  if (rules_.empty() || !client_) {
    return false;
  }
  auto verb = pop3::verb_name(command.verb);
  auto decision = rules_.decide({verb, conv_.user(), client_->address, listener_.name, tls_});
  if (!decision.matched()) {
    return false;
  }
  const auto& rule = rules_.rule(decision.rule);
  // Route applies before authentication only, to a session that has not picked its backend
  // yet; afterwards the session stays where it is and the match changes nothing.
  bool routes_now = backend_state_ == Backend::None && conv_.state() == pop3::State::Authorization;
  if (decision.action == policy::Action::Route && !routes_now) {
    return false;
  }
  actions_.emplace_back(Count{Counter::PolicyDecision, decision.rule, 1,
                              static_cast<std::uint8_t>(decision.action), decision.dry_run});
  if (decision.action != policy::Action::Allow) {
    log(Level::Info, "policy",
        decision.dry_run ? "rule matched (dry run, allowed)" : "rule applied",
        {{"rule", rule.name},
         {"action", std::string(policy::to_string(decision.action))},
         {"command", std::string(verb)},
         {"user", std::string(conv_.user())},
         {"client", record_.client},
         {"listener", listener_.name}});
  }
  auto action = decision.enforced();
  if (action == policy::Action::Route) {
    if (const auto* target = config_.find_backend(rule.backend)) {
      connect(static_cast<std::size_t>(target - config_.backends.data()));
    }
    return false;
  }
  if (action != policy::Action::Deny && action != policy::Action::Close) {
    return false;
  }
  conv_.command_answered_locally(command, false);
  std::string reply = rule.reply.empty() ? std::string(policy::RuleSet::kDefaultReply) : rule.reply;
  reply += "\r\n";
  answer_locally(std::move(reply),
                 action == policy::Action::Close ? LocalReply::Then::Close
                                                 : LocalReply::Then::Continue,
                 CloseReason::PolicyClose);
  return true;
}

bool SessionCore::may_route() const {
  return std::any_of(config_.policy.rules.begin(), config_.policy.rules.end(), [&](const auto& r) {
    return r.action == policy::Action::Route && !r.dry_run &&
           (r.listeners.empty() ||
            std::find(r.listeners.begin(), r.listeners.end(), listener_.name) != r.listeners.end());
  });
}

// A routed session before its backend is chosen: CAPA and QUIT need no backend, so they do
// not choose one. Every other command connects to the listener's backend, unless a route rule
// has just picked another.
bool SessionCore::answered_before_backend(const pop3::Command& command) {
  if (!routed_ || backend_state_ != Backend::None) {
    return false;
  }
  if (command.verb == pop3::Verb::Capa) {
    conv_.command_answered_locally(command, true);
    // No backend to ask: offer what every RFC 1939 server with UIDL and TOP can do, rewritten
    // for this session like a backend's list.
    answer_locally(pop3::rewrite_capa("TOP\r\nUIDL\r\nUSER\r\nPIPELINING\r\n", capa_options()));
    return true;
  }
  if (command.verb == pop3::Verb::Quit) {
    conv_.command_answered_locally(command, true);
    answer_locally("+OK Bye\r\n", LocalReply::Then::Close, CloseReason::Quit);
    return true;
  }
  connect(backend_);
  return false;
}

void SessionCore::answer_locally(std::string text, LocalReply::Then then, CloseReason reason) {
  LocalReply reply{std::move(text), then, reason};
  if (pipeline_.local(reply)) {
    apply(reply);
  }
}

void SessionCore::apply(const LocalReply& reply) {
  to_client(reply.text);
  switch (reply.then) {
  case LocalReply::Then::Continue:
    break;
  case LocalReply::Then::StartTls:
    start_tls_after_stls();
    break;
  case LocalReply::Then::Close:
    finish(reply.reason);
    break;
  }
}

void SessionCore::start_tls_after_stls() {
  // RFC 2595 §4, CVE-2011-0411: whatever the client sent after STLS in plaintext was sent
  // before TLS protected it, so it could have been injected by a man in the middle. Drop it.
  auto dropped = conv_.discard_client_input();
  if (dropped > 0) {
    count(Counter::StarttlsDiscardedBytes, 0, dropped);
    log(Level::Info, "starttls", "discarded bytes pipelined after STLS",
        {{"client", record_.client}, {"bytes", std::to_string(dropped)}});
  }
  tls_ = true;
  conv_.set_tls_active(); // from now on STLS is refused (RFC 2595 §4: TLS is active)
  starttls_handshake_ = true;
  start_tls();
}

// What record_.auth will say if this login succeeds. Only the AUTH mechanism's name is taken
// from the line (upper-cased, bounded to the RFC 4422 §3.1 alphabet): never the initial
// response behind it, which carries the credentials.
void SessionCore::note_auth_attempt(const pop3::Command& command) {
  switch (command.verb) {
  case pop3::Verb::Pass:
    auth_attempt_ = "USER";
    return;
  case pop3::Verb::Apop:
    auth_attempt_ = "APOP";
    return;
  case pop3::Verb::Auth: {
    static constexpr std::size_t kMaxMechanism = 20; // RFC 4422 §3.1
    auto name = command.args.substr(0, command.args.find(' '));
    auth_attempt_.clear();
    for (char c : name.substr(0, kMaxMechanism)) {
      auto u = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      bool sasl_char = (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' || u == '_';
      auth_attempt_ += sasl_char ? u : '?';
    }
    return;
  }
  default:
    return;
  }
}

} // namespace popgate::session
