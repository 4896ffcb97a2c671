#pragma once

// Rewriting the backend's CAPA response (RFC 2449 §5) to describe the gateway rather than the
// backend: STLS belongs to popgate's TLS, not the backend's (RFC 2595 §4), and what a client may
// do before TLS depends on policy.

#include <span>
#include <string>
#include <string_view>

namespace popgate::pop3 {

struct CapaOptions {
  bool tls_active = false;         // the client session is under TLS: remove STLS
  bool offer_stls = false;         // plaintext session on a STARTTLS listener: add STLS
  bool hide_user_and_sasl = false; // plaintext and require_tls_for_auth: remove USER and SASL
  bool keep_pipelining = true;     // popgate relays pipelined commands correctly, so keep it
  // When non-empty, SASL mechanisms not in this list (case-insensitive) are removed from the
  // SASL line, and the line is dropped if none is left. Empty: the list is left as is.
  std::span<const std::string_view> sasl_allowed = {};
};

// body: the lines between the backend's "+OK" status line and its terminating "." line, as
// Body events delivered them (dot-stuffing intact; CRLF or bare LF line ends). Returns a whole
// response: "+OK" status line, capability lines with CRLF, and ".\r\n". The status text is
// fixed ("+OK Capability list follows"), since the backend's may name the backend.
std::string rewrite_capa(std::string_view body, const CapaOptions& options);

} // namespace popgate::pop3
