#pragma once

// One TLS server connection, sans-IO: ciphertext in, events and ciphertext out.
//
// Theory of operation. The caller feeds whatever arrived from the socket and then calls next()
// until it returns NeedData. While the handshake runs, next() drives it; the handshake ends with
// exactly one HandshakeDone (or a Failed). After that, next() decrypts one record's worth of
// Plaintext per call. Whatever the engine wants to send (handshake flights, alerts, encrypted
// writes, close_notify) accumulates in an output buffer: after every feed/next/write/close,
// check has_output() and write take_output() to the socket. On Failed, flush the output too
// (it holds the alert that tells the client why; see Failed) and then close the connection.
//
// ClientHellos: one split over several TCP reads is fine at any split; one fragmented over
// several records is reassembled by mbedTLS 3.6.4 and later as long as it fits in 16 KiB
// (mbedTLS 2.28 refuses any fragmented one, with an alert). tests/unit/tls_client_hello_test.cpp
// drives hostile and large ones through an Engine.
//
// Backpressure: the caller may stop calling next() for as long as it likes; fed ciphertext
// stays buffered in the engine, bounded by what the caller chose to feed.
//
// Memory: besides mbedTLS's own record buffers, an idle engine holds no buffer capacity: input
// and output storage is released once drained, and decryption goes through one scratch buffer
// per thread rather than one per connection. With the bundled mbedTLS the record buffers keep
// only the pages in use, too (tls/record_memory.hpp, trim()).

#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "base/result.hpp"
#include "tls/failure_reason.hpp"
#include "tls/server_context.hpp"

namespace popgate::tls {

// Feed more ciphertext; nothing else can happen until then.
struct NeedData {};

// The handshake completed. version ("TLSv1.2", "TLSv1.3") and cipher (mbedTLS's suite name)
// point at static strings; sni points into the engine and stays valid for its lifetime.
struct HandshakeDone {
  std::string_view version;
  std::string_view cipher;
  bool resumed = false; // abbreviated handshake from a session ticket
  std::string_view sni; // server_name the client sent (lower case, sanitized), "" if none
};

// Decrypted application data. `data` points into a buffer shared by every Engine on this
// thread: it is valid until the next call to next() on any Engine of this thread. Consume or
// copy it before then.
struct Plaintext {
  std::string_view data;
};

// The client sent close_notify (RFC 8446 §6.1, RFC 5246 §7.2.1). Reported once; next() then
// returns NeedData. The engine can still write, and close() answers with our close_notify.
struct PeerClosed {};

// A fatal error: bad record, failed handshake, protocol violation. The connection must be
// closed, after flushing the output. `code` is the mbedTLS error code; `message` says what
// failed and quotes mbedTLS's own error text (mbedtls_strerror), e.g. "TLS handshake failed:
// SSL - An invalid SSL record was received (-0x7200)": meant for the session's log line, and
// bounded (under 300 bytes, no peer data in it). Once failed, every later next() and write()
// returns the same Failed, feed() is ignored and nothing more is written.
//
// The alert. When next() returns a handshake Failed, the fatal alert for it is already the last
// record in the output (take_output()): the one mbedTLS queued, or, where mbedTLS queues none
// (an invalid or oversized record, a record of the wrong type, a message too large to
// reassemble, a malformed key share), one the engine adds: decode_error, unexpected_message,
// illegal_parameter or handshake_failure (RFC 8446 §6.2). None follows the peer's own alert. So
// a caller that writes all output and closes after writing it tells every client why.
struct Failed {
  int code = 0;
  std::string message;
  // The bounded reason for metrics and the log (failure_reason.hpp): from the code, or from
  // the client's own alert when it aborted the handshake.
  FailureReason reason = FailureReason::Other;
};

using Event = std::variant<NeedData, HandshakeDone, Plaintext, PeerClosed, Failed>;

class Engine {
public:
  // Keeps the context alive for the connection's lifetime, so a reload can swap contexts
  // while older connections finish.
  explicit Engine(std::shared_ptr<const ServerContext> context);
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Appends received ciphertext (copied; the view need not outlive the call).
  void feed(std::string_view ciphertext);

  // Advances the connection by one event; see the theory of operation above.
  Event next();

  // Encrypts all of `plaintext` into the output, split into records of at most 16 KiB.
  // Only after HandshakeDone; before it, returns a Failed without failing the connection.
  Result<void, Failed> write(std::string_view plaintext);

  // Queues close_notify (after the handshake; during it there is nothing to close gracefully).
  void close();

  [[nodiscard]] bool has_output() const;
  // Moves all pending ciphertext out; the engine keeps no capacity afterwards.
  std::string take_output();

  [[nodiscard]] bool handshake_done() const;

  // Hands the pages of mbedTLS's record buffers that a large record touched back to the kernel
  // (bundled build; a no-op otherwise, or when there is nothing to give back). next() does it
  // for the input buffer when it runs out of input, and the handshake for both; call it when a
  // session goes idle after large writes (a RETR), not between them: the pages would only be
  // faulted in again.
  void trim();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace popgate::tls
