// What the session core does with each backend event: the greeting (and XCLIENT before it),
// statuses, bodies, CAPA capture and rewrite, authentication outcomes and bans. Backend
// responses are relayed as they arrive, except CAPA, which is collected and rewritten (STLS,
// USER, SASL) first.

#include "proxy/session/session_core.hpp"

namespace popgate::session {

void SessionCore::backend_data(Millis now, std::string_view bytes) {
  now_ = now;
  if (ended()) {
    return;
  }
  conv_.feed_server(bytes);
  pump_server();
}

void SessionCore::pump_server() {
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
          backend_failed(BackendFailure::ProtocolError, "CAPA list too long");
          abort(CloseReason::BackendError);
        }
      } else {
        record_.retr_bytes += counting_retr_ ? body->bytes.size() : 0;
        to_client(body->bytes);
      }
    } else if (auto* end = std::get_if<pop3::BodyEnd>(&event)) {
      on_body_end(*end);
    } else if (auto* cont = std::get_if<pop3::Continuation>(&event)) {
      to_client(cont->raw);
    } else if (auto* bad = std::get_if<pop3::ServerError>(&event)) {
      backend_failed(BackendFailure::ProtocolError, pop3::describe(bad->error));
      // Pairing is lost: close without a terminating "." (SPEC: no truncated message may
      // look complete).
      abort(CloseReason::BackendError);
    }
  }
  if (phase_ == Phase::Relaying) {
    pump_client(); // an answer may have released commands waiting behind it
  }
}

void SessionCore::on_greeting(const pop3::Greeting& greeting) {
  if (!greeting.ok) {
    log(Level::Warn, "backend", "backend refused the session",
        {{"backend", record_.backend}, {"reply", std::string(greeting.line)}});
    // Relay the backend's own refusal ("-ERR [SYS/TEMP] too many connections") as is.
    fail_to_client(greeting.line, CloseReason::BackendError);
    return;
  }
  // Routed sessions have already queued client commands for this backend, so XCLIENT could
  // not go first; they are not given it.
  const auto& backend = config_.backends[backend_];
  if (backend.forward_client == proxy::ForwardClient::Xclient && !routed_ && client_) {
    held_greeting_ = greeting.line;
    if (greeting.line.find("[XCLIENT]") != std::string_view::npos) {
      send_xclient(); // Dovecot's greeting says so itself: no CAPA round trip needed
    } else {
      xclient_ = Xclient::AwaitCapa;
      conv_.command_forwarded(pop3::Verb::Capa, "");
      to_backend("CAPA\r\n");
    }
    return;
  }
  greeting_done(greeting.line);
}

// forward_client = "xclient": Postfix's XCLIENT, as Dovecot's POP3 server takes it from a
// trusted proxy (login_trusted_networks): the backend then logs and limits the real client.
void SessionCore::send_xclient() {
  xclient_ = Xclient::AwaitReply;
  // SESSION=: Dovecot's login process takes it as its own session id, so its log lines
  // (session=<...>) carry popgate's id and the two logs join on it.
  std::string args = "ADDR=" + client_->address.to_string() +
                     " PORT=" + std::to_string(client_->port) + " SESSION=" + record_.id;
  conv_.command_forwarded(pop3::Verb::Unknown, args);
  to_backend("XCLIENT " + args + "\r\n");
}

void SessionCore::xclient_capa(std::string_view body) {
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
  log(Level::Warn, "backend", "backend does not offer XCLIENT; it sees popgate's address",
      {{"backend", record_.backend}, {"server", record_.server}});
  xclient_ = Xclient::Done;
  greeting_done(held_greeting_);
}

void SessionCore::xclient_status(const pop3::Status& status) {
  if (xclient_ == Xclient::AwaitCapa) {
    if (status.ok && status.multiline) {
      capa_body_.clear(); // the body follows; on_body_end() reads it
      return;
    }
    xclient_capa("");
    return;
  }
  if (!status.ok) {
    log(Level::Warn, "backend", "backend refused XCLIENT; it sees popgate's address",
        {{"backend", record_.backend}, {"reply", std::string(status.raw)}});
  }
  xclient_ = Xclient::Done;
  greeting_done(held_greeting_);
}

void SessionCore::greeting_done(std::string_view line) {
  backend_state_ = Backend::Ready;
  if (routed_) {
    // The client was greeted by popgate; this greeting is the backend's alone.
    std::string queued;
    queued.swap(backend_queue_);
    to_backend(queued);
    return;
  }
  phase_ = Phase::Relaying;
  if (config_.policy.hide_backend_banner) {
    to_client("+OK POP3 ready\r\n");
  } else {
    to_client(line); // as is: APOP's timestamp must reach the client
  }
  std::string().swap(held_greeting_);
  if (!early_client_.empty()) {
    std::string early;
    early.swap(early_client_);
    client_plaintext(now_, early);
  }
}

void SessionCore::on_status(const pop3::Status& status) {
  if (xclient_ == Xclient::AwaitCapa || xclient_ == Xclient::AwaitReply) {
    xclient_status(status);
    return;
  }
  if (status.auth == pop3::AuthResult::Success || status.auth == pop3::AuthResult::Failure) {
    bool ok = status.auth == pop3::AuthResult::Success;
    count(Counter::Auth, ok ? 1 : 0);
    if (ok) {
      record_.auth = auth_attempt_;
    } else {
      auth_failed();
    }
  }
  tally(status);
  if (status.for_verb == pop3::Verb::Capa) {
    if (status.ok && status.multiline) {
      capturing_capa_ = true;
      capa_body_.clear();
      return;
    }
    // A legacy backend without CAPA (RFC 1939 only): on a plaintext STARTTLS session the client
    // must still learn that STLS is there, so popgate answers with its own short list.
    if (!tls_ && listener_.mode == proxy::ListenerMode::StartTls) {
      to_client(pop3::rewrite_capa("", capa_options()));
    } else {
      to_client(status.raw);
    }
    response_complete();
    return;
  }
  to_client(status.raw);
  if (!status.multiline) {
    response_complete();
  }
}

void SessionCore::on_body_end(const pop3::BodyEnd& end) {
  if (xclient_ == Xclient::AwaitCapa) {
    std::string list;
    list.swap(capa_body_);
    xclient_capa(list);
    return; // popgate's own CAPA: nothing to relay, no client reply to release
  }
  counting_retr_ = false;
  if (capturing_capa_) {
    capturing_capa_ = false;
    to_client(pop3::rewrite_capa(capa_body_, capa_options()));
    std::string().swap(capa_body_);
  } else {
    to_client(end.raw);
  }
  response_complete();
}

void SessionCore::auth_failed() {
  if (conv_.auth_failures() >= config_.policy.max_auth_failures) {
    close_after_response_ = true;
  }
  if (!client_) {
    return;
  }
  // [policy.ban]: failures from one address add up across sessions and workers.
  std::size_t active = 0;
  bool started = shared_.bans.record_failure(client_->address, now_, active);
  if (started) {
    log(Level::Warn, "ban", "client address banned after repeated authentication failures",
        {{"client", client_->address.to_string()},
         {"user", std::string(conv_.user())},
         {"ban_s", std::to_string(
                       std::chrono::duration_cast<std::chrono::seconds>(config_.policy.ban.duration)
                           .count())}});
    close_after_response_ = true;
  }
  count(Counter::Bans, active, started ? 1 : 0);
}

// The session line's retr= and dele= (Dovecot's own "retr=N/bytes, del=N" for the same session).
void SessionCore::tally(const pop3::Status& status) {
  if (!status.ok) {
    return;
  }
  switch (status.for_verb) {
  case pop3::Verb::Retr:
    ++record_.retr;
    counting_retr_ = status.multiline;
    break;
  case pop3::Verb::Dele:
    ++record_.dele;
    break;
  case pop3::Verb::Rset:
    record_.dele = 0; // RFC 1939 §5: RSET unmarks every message marked as deleted
    break;
  default:
    break;
  }
}

pop3::CapaOptions SessionCore::capa_options() const {
  pop3::CapaOptions o;
  o.tls_active = tls_;
  o.offer_stls = !tls_ && listener_.mode == proxy::ListenerMode::StartTls;
  o.hide_user_and_sasl = !tls_ && config_.policy.require_tls_for_auth;
  o.keep_pipelining = true;
  return o;
}

void SessionCore::response_complete() {
  for (const auto& reply : pipeline_.backend_done()) {
    apply(reply);
    if (phase_ != Phase::Relaying) {
      return;
    }
  }
  if (close_after_response_ && pipeline_.empty()) {
    log(Level::Info, "auth", "too many authentication failures; closing",
        {{"client", record_.client},
         {"listener", listener_.name},
         {"user", std::string(conv_.user())}});
    finish(CloseReason::TooManyAuthFailures);
  }
}

} // namespace popgate::session
