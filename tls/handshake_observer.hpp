#pragma once

// Internal to tls/: how mbedTLS callbacks that run inside a handshake step report back to the
// Engine that is driving it.
//
// The SNI and ticket-parse callbacks are registered once on the shared mbedtls_ssl_config, and
// the ticket callback is not even given the SSL context, so they cannot find their Engine from
// their arguments. An Engine is used from one thread and mbedTLS calls these callbacks
// synchronously, so Engine points a thread_local at its observer for the duration of each
// mbedtls_ssl_handshake() call (ObserverScope) and the callbacks write to it.

#include <string>

namespace popgate::tls {

struct HandshakeObserver {
  std::string sni;              // server_name the client sent, lower case; "" if none
  bool ticket_accepted = false; // a session ticket decrypted and will be resumed
};

// nullptr outside a handshake call.
HandshakeObserver*& current_handshake_observer();

class ObserverScope {
public:
  explicit ObserverScope(HandshakeObserver* observer) : saved_(current_handshake_observer()) {
    current_handshake_observer() = observer;
  }
  ~ObserverScope() { current_handshake_observer() = saved_; }
  ObserverScope(const ObserverScope&) = delete;
  ObserverScope& operator=(const ObserverScope&) = delete;

private:
  HandshakeObserver* saved_;
};

} // namespace popgate::tls
