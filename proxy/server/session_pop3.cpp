// The POP3 half of Session: what popgate does with each command and each response. The IO half
// (sockets, TLS records, writes, timers, close) is in session.cpp.
//
// Client commands go through pop3::Conversation, which splits and checks them against the
// RFC 1939/2449/5034 grammar and the session state. A valid command is forwarded unchanged,
// unless popgate must answer it itself:
//   STLS                 answered here (RFC 2595); the backend never sees it.
//   USER/PASS/APOP/AUTH  refused before TLS while require_tls_for_auth.
//   invalid lines        "-ERR <reason>", never forwarded.
// Local answers keep their place in the pipeline (ReplyOrder). Backend responses are relayed as
// they arrive, except CAPA, which is collected and rewritten (STLS, USER, SASL) first.

#include "proxy/server/log.hpp"
#include "proxy/pop3/capa_rewriter.hpp"
#include "proxy/server/session.hpp"
#include "proxy/server/worker.hpp"

#include <algorithm>

namespace popgate::proxy {
namespace {
// A CAPA list is a few hundred bytes; anything far larger is not a CAPA response.
constexpr std::size_t kMaxCapa = 64 * 1024;

metrics::PolicyAction metric_action(policy::Action action) {
  switch (action) {
  case policy::Action::Allow:
    return metrics::PolicyAction::Allow;
  case policy::Action::Deny:
    return metrics::PolicyAction::Deny;
  case policy::Action::Close:
    return metrics::PolicyAction::Close;
  case policy::Action::Route:
    return metrics::PolicyAction::Route;
  }
  return metrics::PolicyAction::Allow;
}
} // namespace

void Session::client_plaintext(std::string_view data) {
  if (phase_ != Phase::Relaying) {
    // The client spoke before the backend's greeting was relayed. Keep it (bounded) and
    // stop reading until the session is ready.
    if (early_client_.size() + data.size() > runtime_->config->policy.max_line_length * 4) {
      close(CloseReason::ProtocolViolation);
      return;
    }
    early_client_.append(data);
    update_client_reading();
    return;
  }
  conv_.feed_client(data);
  pump_client();
}

void Session::pump_client() {
  while (phase_ == Phase::Relaying && !close_after_response_) {
    auto event = conv_.next_client();
    if (std::holds_alternative<pop3::NeedData>(event)) {
      break;
    }
    ++commands_;
    if (auto* command = std::get_if<pop3::Command>(&event)) {
      worker_.metrics().command(pop3::verb_name(command->verb)).Increment();
      handle_command(*command);
    } else if (auto* sasl = std::get_if<pop3::SaslResponse>(&event)) {
      send_to_backend(sasl->raw); // the codec counts it as forwarded
    } else if (auto* invalid = std::get_if<pop3::Invalid>(&event)) {
      // A known verb refused for its state still counts under its name; junk is OTHER.
      worker_.metrics().command(pop3::verb_name(invalid->verb)).Increment();
      if (invalid->verb == pop3::Verb::Stls) {
        worker_.metrics().starttls(metrics::StarttlsResult::Refused).Increment();
      }
      std::string reply = "-ERR ";
      reply += pop3::describe(invalid->error);
      reply += "\r\n";
      answer_locally(std::move(reply),
                     invalid->close_advised ? LocalReply::Then::Close : LocalReply::Then::Continue);
    }
  }
  // Pipelined lines wait inside the codec while it waits for the backend; stop reading when
  // too much is queued there.
  update_client_reading();
}

bool Session::plaintext_auth_refused(const pop3::Command& command) const {
  if (tls_ || !runtime_->config->policy.require_tls_for_auth) {
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

void Session::handle_command(const pop3::Command& command) {
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
    worker_.metrics().listener(listener_index_).plaintext_auth_refused.Increment();
    answer_locally("-ERR [AUTH] Plaintext authentication is disabled; issue STLS first\r\n");
    return;
  }
  if (refused_by_policy(command) || answered_before_backend(command)) {
    return;
  }
  conv_.command_forwarded(command);
  replies_.forwarded();
  send_to_backend(command.raw);
}

// [[policy.rule]]: the first matching rule decides. Deny answers -ERR and the session goes on;
// close answers -ERR and ends it. A dry-run rule is logged and counted, then allowed.
bool Session::refused_by_policy(const pop3::Command& command) {
  const auto& rules = runtime_->rules;
  if (rules.empty() || !client_ip_) {
    return false;
  }
  auto verb = pop3::verb_name(command.verb);
  auto decision = rules.decide({verb, conv_.user(), *client_ip_, listener_.name, tls_ != nullptr});
  if (!decision.matched()) {
    return false;
  }
  const auto& rule = rules.rule(decision.rule);
  // Route applies before authentication only, to a session that has not picked its backend
  // yet; afterwards the session stays where it is and the match changes nothing.
  bool routes_now = backend_state_ == Backend::None && conv_.state() == pop3::State::Authorization;
  if (decision.action == policy::Action::Route && !routes_now) {
    return false;
  }
  worker_.metrics()
      .policy_decision(rule.name, metric_action(decision.action), decision.dry_run)
      .Increment();
  if (decision.action != policy::Action::Allow) {
    log::info("policy", decision.dry_run ? "rule matched (dry run, allowed)" : "rule applied",
              {log::field("rule", rule.name),
               log::field("action", policy::to_string(decision.action)),
               log::field("command", verb), log::field("user", conv_.user()),
               log::field("client", client_address_), log::field("listener", listener_.name)});
  }
  auto action = decision.enforced();
  if (action == policy::Action::Route) {
    if (const auto* target = runtime_->config->find_backend(rule.backend)) {
      connect_backend(*target);
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

bool Session::may_route() const {
  for (const auto& r : runtime_->config->policy.rules) {
    if (r.action == policy::Action::Route && !r.dry_run &&
        (r.listeners.empty() ||
         std::find(r.listeners.begin(), r.listeners.end(), listener_.name) != r.listeners.end())) {
      return true;
    }
  }
  return false;
}

// A routed session before its backend is chosen: CAPA and QUIT need no backend, so they do
// not choose one. Every other command connects to the listener's backend, unless a route rule
// has just picked another.
bool Session::answered_before_backend(const pop3::Command& command) {
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
  connect_backend(*runtime_->config->find_backend(listener_.backend));
  return false;
}

void Session::answer_locally(std::string text, LocalReply::Then then, CloseReason reason) {
  LocalReply reply{std::move(text), then, reason};
  if (replies_.local(reply)) {
    apply(reply);
  }
}

void Session::apply(const LocalReply& reply) {
  send_to_client(reply.text);
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

void Session::start_tls_after_stls() {
  // RFC 2595 §4, CVE-2011-0411: whatever the client sent after STLS in plaintext was sent
  // before TLS protected it, so it could have been injected by a man in the middle. Drop it.
  auto dropped = conv_.discard_client_input();
  if (dropped > 0) {
    worker_.metrics().starttls_discarded_bytes().Increment(static_cast<double>(dropped));
    log::info("starttls", "discarded bytes pipelined after STLS",
              {log::field("client", client_address_),
               log::number("bytes", static_cast<long long>(dropped))});
  }
  tls_ = std::make_unique<tls::Engine>(runtime_->tls);
  conv_.set_tls_active();
  starttls_handshake_ = true;
  handshake_started_ms_ = uv_now(worker_.loop());
}

// ---- backend side ---------------------------------------------------------------------------

void Session::backend_bytes(std::string_view data) {
  bytes_from_backend_ += data.size();
  worker_.metrics()
      .bytes(metrics::Direction::BackendIn)
      .Increment(static_cast<double>(data.size()));
  conv_.feed_server(data);
  pump_server();
}

void Session::pump_server() {
  while (phase_ == Phase::Greeting || phase_ == Phase::Relaying) {
    auto event = conv_.next_server();
    if (std::holds_alternative<pop3::NeedData>(event)) {
      break;
    }
    if (auto* greeting = std::get_if<pop3::Greeting>(&event)) {
      on_greeting(*greeting);
    } else if (auto* status = std::get_if<pop3::Status>(&event)) {
      on_status(*status);
    } else if (auto* body = std::get_if<pop3::Body>(&event)) {
      if (capturing_capa_ || xclient_ == Xclient::AwaitCapa) {
        capa_body_.append(body->bytes);
        if (capa_body_.size() > kMaxCapa) {
          close(CloseReason::BackendError);
        }
      } else {
        send_to_client(body->bytes);
      }
    } else if (auto* end = std::get_if<pop3::BodyEnd>(&event)) {
      if (xclient_ == Xclient::AwaitCapa) {
        std::string list;
        list.swap(capa_body_);
        xclient_capa(list);
        continue; // popgate's own CAPA: nothing to relay, no client reply to release
      }
      if (capturing_capa_) {
        capturing_capa_ = false;
        send_to_client(pop3::rewrite_capa(capa_body_, capa_options()));
        std::string().swap(capa_body_);
      } else {
        send_to_client(end->raw);
      }
      response_complete();
    } else if (auto* cont = std::get_if<pop3::Continuation>(&event)) {
      send_to_client(cont->raw);
    } else if (auto* bad = std::get_if<pop3::ServerError>(&event)) {
      backend_failed(metrics::BackendError::ProtocolError, pop3::describe(bad->error));
      // Pairing is lost: close without a terminating "." (SPEC: no truncated message may
      // look complete).
      close(CloseReason::BackendError);
    }
  }
  if (phase_ == Phase::Relaying) {
    pump_client(); // an answer may have released commands waiting behind it
  }
}

void Session::on_greeting(const pop3::Greeting& greeting) {
  if (!greeting.ok) {
    log::warn("backend", "backend refused the session",
              {log::field("backend", backend_config_->name),
               log::field("reply", log::sanitize(greeting.line))});
    // Relay the backend's own refusal ("-ERR [SYS/TEMP] too many connections") as is.
    fail_to_client(greeting.line, CloseReason::BackendError);
    return;
  }
  // Routed sessions have already queued client commands for this backend, so XCLIENT could
  // not go first; they are not given it.
  if (backend_config_->forward_client == ForwardClient::Xclient && !routed_ && client_ip_) {
    held_greeting_ = greeting.line;
    if (greeting.line.find("[XCLIENT]") != std::string_view::npos) {
      send_xclient(); // Dovecot's greeting says so itself: no CAPA round trip needed
    } else {
      xclient_ = Xclient::AwaitCapa;
      conv_.command_forwarded(pop3::Verb::Capa, "");
      write(backend_, "CAPA\r\n");
    }
    return;
  }
  greeting_done(greeting.line);
}

void Session::send_xclient() {
  xclient_ = Xclient::AwaitReply;
  std::string args = "ADDR=" + client_ip_->to_string() + " PORT=" + std::to_string(client_port_);
  conv_.command_forwarded(pop3::Verb::Unknown, args);
  write(backend_, "XCLIENT " + args + "\r\n");
}

void Session::xclient_capa(std::string_view body) {
  // RFC 2449 §5: one capability per line; XCLIENT is a tag of its own.
  bool offered = false;
  for (std::size_t at = 0; at < body.size();) {
    auto end = body.find('\n', at);
    auto line = body.substr(at, end == std::string_view::npos ? end : end - at);
    offered = offered || line.substr(0, 7) == "XCLIENT";
    at = end == std::string_view::npos ? body.size() : end + 1;
  }
  if (offered) {
    send_xclient();
    return;
  }
  log::warn("backend", "backend does not offer XCLIENT; it sees popgate's address",
            {log::field("backend", backend_config_->name), log::field("server", backend_server_)});
  xclient_ = Xclient::Done;
  greeting_done(held_greeting_);
}

void Session::xclient_status(const pop3::Status& status) {
  if (xclient_ == Xclient::AwaitCapa) {
    if (status.ok && status.multiline) {
      capa_body_.clear(); // the body follows; xclient_capa() reads it at its end
      return;
    }
    xclient_capa("");
    return;
  }
  if (!status.ok) {
    log::warn("backend", "backend refused XCLIENT; it sees popgate's address",
              {log::field("backend", backend_config_->name),
               log::field("reply", log::sanitize(status.raw))});
  }
  xclient_ = Xclient::Done;
  greeting_done(held_greeting_);
}

void Session::greeting_done(std::string_view line) {
  backend_state_ = Backend::Ready;
  if (routed_) {
    // The client was greeted by popgate; this greeting is the backend's alone.
    std::string pending;
    pending.swap(pending_backend_);
    send_to_backend(pending);
    return;
  }
  uv_timer_stop(&timer_);
  phase_ = Phase::Relaying;
  if (runtime_->config->policy.hide_backend_banner) {
    send_to_client("+OK POP3 ready\r\n");
  } else {
    send_to_client(line); // as is: APOP's timestamp must reach the client
  }
  std::string().swap(held_greeting_);
  // The timer checks both the idle and the authorization deadline, whichever comes first.
  arm_timer(std::min(runtime_->config->policy.idle_timeout, runtime_->config->policy.auth_timeout));
  update_client_reading();
  if (!early_client_.empty()) {
    std::string early;
    early.swap(early_client_);
    client_plaintext(early);
  }
}

void Session::on_status(const pop3::Status& status) {
  if (xclient_ == Xclient::AwaitCapa || xclient_ == Xclient::AwaitReply) {
    xclient_status(status);
    return;
  }
  if (status.auth == pop3::AuthResult::Success || status.auth == pop3::AuthResult::Failure) {
    bool ok = status.auth == pop3::AuthResult::Success;
    worker_.metrics().auth(ok).Increment();
    if (!ok) {
      auth_failed();
    }
  }
  if (status.for_verb == pop3::Verb::Capa) {
    if (status.ok && status.multiline) {
      capturing_capa_ = true;
      capa_body_.clear();
      return;
    }
    // A legacy backend without CAPA (RFC 1939 only): on a plaintext STARTTLS session the client
    // must still learn that STLS is there, so popgate answers with its own short list.
    if (!tls_ && listener_.mode == ListenerMode::StartTls) {
      send_to_client(pop3::rewrite_capa("", capa_options()));
    } else {
      send_to_client(status.raw);
    }
    response_complete();
    return;
  }
  send_to_client(status.raw);
  if (!status.multiline) {
    response_complete();
  }
}

void Session::auth_failed() {
  if (conv_.auth_failures() >= runtime_->config->policy.max_auth_failures) {
    close_after_response_ = true;
  }
  if (!client_ip_) {
    return;
  }
  // [policy.ban]: failures from one address add up across sessions and workers.
  std::size_t active = 0;
  if (worker_.bans().record_failure(*client_ip_, Millis(uv_now(worker_.loop())), active)) {
    worker_.metrics().bans_total().Increment();
    log::warn(
        "ban", "client address banned after repeated authentication failures",
        {log::field("client", client_ip_->to_string()), log::field("user", conv_.user()),
         log::number("ban_s",
                     static_cast<double>(runtime_->config->policy.ban.duration.count()) / 1000.0)});
    close_after_response_ = true;
  }
  worker_.metrics().bans_active().Set(static_cast<double>(active));
}

pop3::CapaOptions Session::capa_options() const {
  pop3::CapaOptions o;
  o.tls_active = tls_ != nullptr;
  o.offer_stls = tls_ == nullptr && listener_.mode == ListenerMode::StartTls;
  o.hide_user_and_sasl = tls_ == nullptr && runtime_->config->policy.require_tls_for_auth;
  o.keep_pipelining = true;
  return o;
}

void Session::response_complete() {
  for (const auto& reply : replies_.backend_done()) {
    apply(reply);
    if (phase_ != Phase::Relaying) {
      return;
    }
  }
  if (close_after_response_ && !replies_.waiting()) {
    log::info("auth", "too many authentication failures; closing",
              {log::field("client", client_address_), log::field("listener", listener_.name),
               log::field("user", conv_.user())});
    finish(CloseReason::TooManyAuthFailures);
  }
}

void Session::backend_eof() {
  if (conv_.state() == pop3::State::Update && !conv_.response_in_progress()) {
    finish(CloseReason::Quit); // QUIT answered; the backend closed as RFC 1939 §6 says
    return;
  }
  if (conv_.response_in_progress() || conv_.outstanding() > 0) {
    // The backend died mid-response: close at once, without "." and without close_notify, so
    // no client can take a truncated message for a complete one.
    backend_failed(metrics::BackendError::ClosedMidResponse, "closed mid-response");
    close(CloseReason::BackendDiedMidResponse);
    return;
  }
  finish(CloseReason::BackendClosed);
}

void Session::client_eof() {
  if (conv_.state() == pop3::State::Update && backend_ != nullptr) {
    // QUIT was sent: let the backend finish its UPDATE and answer; its close ends the session.
    client_reading_ = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&client_));
    return;
  }
  // No QUIT: close the backend without one, so no DELE is committed (RFC 1939 §6).
  close(CloseReason::ClientClosed);
}

} // namespace popgate::proxy
