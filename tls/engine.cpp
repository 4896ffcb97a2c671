#include "tls/engine.hpp"

#include <array>
#include <cstring>

#include "tls/handshake_observer.hpp"
#include "tls/mbedtls_compat.hpp"
#include "tls/mbedtls_error.hpp"
#include "tls/record_memory.hpp"

#include <mbedtls/ssl.h>

namespace popgate::tls {

HandshakeObserver*& current_handshake_observer() {
  static thread_local HandshakeObserver* observer = nullptr;
  return observer;
}

namespace {

// The largest plaintext a TLS record carries (RFC 8446 §5.1, RFC 5246 §6.2.1), so one
// mbedtls_ssl_read() returns a whole record. One per thread, not per connection: thousands of
// idle sessions must not each hold 16 KiB they are not using.
constexpr std::size_t kScratchSize = 16384;

std::array<unsigned char, kScratchSize>& scratch() {
  static thread_local std::array<unsigned char, kScratchSize> buffer;
  return buffer;
}

// Adds what to do for the failures an admin meets most, after mbedTLS's own text.
std::string describe_failure(std::string_view what, int code) {
  std::string message = std::string(what) + ": " + mbedtls_error_text(code);
#if defined(MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION)
  if (code == MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION) {
    message += "; the client offers no TLS version popgate accepts (minimum TLS 1.2, RFC 8996)";
  }
#endif
#if defined(MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION)
  if (code == MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION) {
    message += "; the client offers no TLS version popgate accepts (minimum TLS 1.2, RFC 8996)";
  }
#endif
#if defined(MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN)
  if (code == MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN) {
    message += "; the client offers no ECDHE + AEAD cipher suite popgate accepts";
  }
#endif
  return message;
}

// The alert a failed handshake gets when mbedTLS itself queued none. mbedTLS alerts most
// ClientHello errors, but not all: an invalid or oversized record, an unexpected record type, a
// message too large to reassemble or a key share of the wrong size end the handshake in
// silence, and the client sees only a reset. RFC 8446 §6.2 asks for an alert on every failure:
// decode_error for what cannot be parsed, unexpected_message for what comes out of order,
// illegal_parameter for values out of range, handshake_failure otherwise. 0 means send none:
// the peer's own alert or close_notify ended it, or the connection is going away anyway.
unsigned char fallback_alert(int code) {
  switch (code) {
  case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
  case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
  case MBEDTLS_ERR_SSL_CONN_EOF:
    return 0;
  case MBEDTLS_ERR_SSL_INVALID_RECORD:
#if defined(MBEDTLS_ERR_SSL_DECODE_ERROR)
  case MBEDTLS_ERR_SSL_DECODE_ERROR:
#endif
    return MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR;
  case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
    return MBEDTLS_SSL_ALERT_MSG_UNEXPECTED_MESSAGE;
  case MBEDTLS_ERR_SSL_BAD_INPUT_DATA:
#if defined(MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER)
  case MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER:
#endif
    return MBEDTLS_SSL_ALERT_MSG_ILLEGAL_PARAMETER;
  case MBEDTLS_ERR_SSL_ALLOC_FAILED:
#if defined(MBEDTLS_ERR_SSL_INTERNAL_ERROR)
  case MBEDTLS_ERR_SSL_INTERNAL_ERROR:
#endif
    return MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR;
  default:
    return MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE;
  }
}

} // namespace

struct Engine::Impl {
  enum class Phase { Handshaking, Open, PeerClosed, Failed };

  explicit Impl(std::shared_ptr<const ServerContext> ctx) : context(std::move(ctx)) {
    mbedtls_ssl_init(&ssl);
    if (!context) {
      fail(MBEDTLS_ERR_SSL_BAD_INPUT_DATA, "TLS engine created without a server context");
      return;
    }
    if (const int rc = mbedtls_ssl_setup(&ssl, context->ssl_config()); rc != 0) {
      fail(rc, "cannot set up the TLS connection");
      return;
    }
    mbedtls_ssl_set_bio(&ssl, this, &Impl::send, &Impl::recv, nullptr);
  }
  ~Impl() { mbedtls_ssl_free(&ssl); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // BIO: mbedTLS asks for up to `length` bytes; hand out what was fed, or WANT_READ when the
  // buffer is empty (the sans-IO equivalent of a non-blocking socket with nothing to read).
  static int recv(void* self, unsigned char* buf, std::size_t length) {
    Impl& impl = *static_cast<Impl*>(self);
    const std::size_t available = impl.input.size() - impl.input_pos;
    if (available == 0) {
      return MBEDTLS_ERR_SSL_WANT_READ;
    }
    const std::size_t n = std::min(length, available);
    impl.input_touched = impl.input_touched || n > kUntouchedRecord;
    std::memcpy(buf, impl.input.data() + impl.input_pos, n);
    impl.input_pos += n;
    if (impl.input_pos == impl.input.size()) {
      std::string().swap(impl.input); // drained: give the capacity back while idle
      impl.input_pos = 0;
    }
    return static_cast<int>(n);
  }

  // BIO: everything mbedTLS sends is appended to the output; the caller drains it.
  static int send(void* self, const unsigned char* buf, std::size_t length) {
    Impl& impl = *static_cast<Impl*>(self);
    impl.output.append(reinterpret_cast<const char*>(buf), length);
    impl.output_touched = impl.output_touched || length > kUntouchedRecord;
    impl.track_records(impl.output.size() - length);
    return static_cast<int>(length);
  }

  // Follows the record headers (RFC 8446 §5.1: type, version, 16-bit length) in what mbedTLS
  // wrote, from output[from] on, so a failure can tell whether its last record was an alert.
  void track_records(std::size_t from) {
    while (from < output.size()) {
      if (record_left > 0) {
        const std::size_t n = std::min(record_left, output.size() - from);
        record_left -= n;
        from += n;
        continue;
      }
      if (output.size() - from < kRecordHeader) {
        return; // mbedTLS writes whole headers; a split one is not worth tracking
      }
      const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(output[from + i]); };
      last_record_type = byte(0);
      last_record_length = (std::size_t{byte(3)} << 8) | byte(4);
      last_record_start = from;
      record_left = last_record_length;
      from += kRecordHeader;
    }
  }

  // Whether the last record written since output[since] is an alert: a plaintext one (type 21,
  // two bytes), or under TLS 1.3 handshake keys an encrypted record of an alert's size (2 bytes,
  // the inner content type and a 16-byte AEAD tag, RFC 8446 §5.2).
  [[nodiscard]] bool alert_was_last(std::size_t since) const {
    if (output.size() <= since || last_record_start < since) {
      return false;
    }
    constexpr std::size_t kEncryptedAlert = 2 + 1 + 16;
    return (last_record_type == MBEDTLS_SSL_MSG_ALERT && last_record_length == 2) ||
           (last_record_type == MBEDTLS_SSL_MSG_APPLICATION_DATA &&
            last_record_length == kEncryptedAlert);
  }

  // Gives the record buffers' drained pages back (record_memory.hpp), if a large record went
  // through them since the last time and mbedTLS holds nothing in them: no partial record
  // received (in_left), no decrypted data unread. Our BIO never leaves output unsent.
  // `output` too: not from next(), which a reactor may call between the writes of a RETR,
  // where giving the output buffer's pages back only to fault them in again cost 10% of the
  // relay's CPU (perf); the reactor calls trim() once the session is idle instead.
  void trim(bool with_output) {
#if POPGATE_HAVE_RECORD_MEMORY
    const bool out = with_output && output_touched;
    if ((!input_touched && !out) || !handshake_complete || ssl.MBEDTLS_PRIVATE(in_left) != 0 ||
        mbedtls_ssl_check_pending(&ssl) != 0) {
      return;
    }
    if (input_touched) {
      trim_record_buffer(ssl.MBEDTLS_PRIVATE(in_buf));
      input_touched = false;
    }
    if (out) {
      trim_record_buffer(ssl.MBEDTLS_PRIVATE(out_buf));
      output_touched = false;
    }
#else
    (void)with_output;
#endif
  }

  Failed fail(int code, std::string_view what) {
    phase = Phase::Failed;
    FailureReason reason = classify_failure(code, peer_alert());
    if (const int alert = plaintext_alert(code); alert >= 0) {
      reason = classify_failure(MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE, alert);
    }
    failure = Failed{code, describe_failure(what, code), reason};
    std::string().swap(input);
    input_pos = 0;
    return failure;
  }

  // The description of the fatal alert the peer just sent, or -1. mbedTLS returns
  // FATAL_ALERT_MESSAGE with the alert record still in in_msg: level, then description.
  [[nodiscard]] int peer_alert() const {
#if POPGATE_MBEDTLS_3
    const unsigned char* msg = ssl.MBEDTLS_PRIVATE(in_msg);
    const std::size_t length = ssl.MBEDTLS_PRIVATE(in_msglen);
    const int type = ssl.MBEDTLS_PRIVATE(in_msgtype);
#else
    const unsigned char* msg = ssl.in_msg;
    const std::size_t length = ssl.in_msglen;
    const int type = ssl.in_msgtype;
#endif
    if (msg == nullptr || type != MBEDTLS_SSL_MSG_ALERT || length < 2) {
      return -1;
    }
    return msg[1];
  }

  // TLS 1.3: a client that gives up before it switches to its handshake keys (OpenSSL, on a
  // certificate it does not trust) sends its alert in plaintext, and mbedTLS, which expects
  // encrypted records from it by then, reports a bad MAC. A record of type alert cannot be an
  // encrypted one (their outer type is always application_data, RFC 8446 §5.2): it is the
  // client's alert, and its description says why. -1 for anything else.
  [[nodiscard]] int plaintext_alert(int code) const {
#if POPGATE_MBEDTLS_3
    const unsigned char* header = ssl.MBEDTLS_PRIVATE(in_hdr);
#else
    const unsigned char* header = ssl.in_hdr;
#endif
    if (code != MBEDTLS_ERR_SSL_INVALID_MAC || header == nullptr ||
        header[0] != MBEDTLS_SSL_MSG_ALERT || header[3] != 0 || header[4] != 2) {
      return -1;
    }
    return header[kRecordHeader + 1];
  }

  Event step_handshake() {
    int rc = 0;
    const std::size_t output_before = output.size();
    {
      const ObserverScope scope(&observer);
      rc = mbedtls_ssl_handshake(&ssl);
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
      return NeedData{};
    }
    if (rc != 0) {
      // mbedTLS sends its alert (pending or immediate) inside the failing call, through our
      // BIO: if the last record that call wrote is not an alert, none went out, so send one
      // (see fallback_alert). A TLS 1.3 flight may still sit unflushed in mbedTLS's buffer
      // (its steps only queue, ssl_tls.c): then the first send_alert call only flushes it and
      // the second writes the alert. With our BIO both always succeed.
      if (const unsigned char alert = fallback_alert(rc); alert != 0) {
        for (int attempt = 0; attempt < 2 && !alert_was_last(output_before); ++attempt) {
          (void)mbedtls_ssl_send_alert_message(&ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL, alert);
        }
      }
      return fail(rc, "TLS handshake failed");
    }
    phase = Phase::Open;
    handshake_complete = true;
    trim(true); // the handshake's flights and the client's records are done with
    release_tls13_handshake(&ssl);
    return HandshakeDone{mbedtls_ssl_get_version(&ssl), mbedtls_ssl_get_ciphersuite(&ssl),
                         observer.ticket_accepted, observer.sni};
  }

  Event read_record() {
    auto& buffer = scratch();
    const int rc = mbedtls_ssl_read(&ssl, buffer.data(), buffer.size());
    if (rc > 0) {
      return Plaintext{std::string_view(reinterpret_cast<const char*>(buffer.data()),
                                        static_cast<std::size_t>(rc))};
    }
    // 0 would mean the transport reached EOF, which our BIO never reports: EOF is the
    // caller's to see on its socket.
    if (rc == 0 || rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
      trim(false);
      return NeedData{};
    }
    if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      phase = Phase::PeerClosed;
      return PeerClosed{};
    }
    return fail(rc, "TLS read failed");
  }

  std::shared_ptr<const ServerContext> context;
  mbedtls_ssl_context ssl;
  std::string input; // fed, not yet consumed by mbedTLS: [input_pos, size)
  std::size_t input_pos = 0;
  std::string output;
  // Record tracking over `output` (track_records); offsets are into the current output, which
  // take_output() empties: it resets them.
  static constexpr std::size_t kRecordHeader = 5;
  std::size_t record_left = 0;
  std::size_t last_record_start = 0;
  std::size_t last_record_length = 0;
  unsigned char last_record_type = 0;
  // A record larger than this went through mbedTLS's buffers since the last trim(): it reached
  // past the buffers' first page, which trim_record_buffer() keeps.
  static constexpr std::size_t kUntouchedRecord = 4000;
  bool input_touched = false;
  bool output_touched = false;
  HandshakeObserver observer;
  Phase phase = Phase::Handshaking;
  bool handshake_complete = false;
  bool close_sent = false;
  Failed failure;
};

Engine::Engine(std::shared_ptr<const ServerContext> context)
    : impl_(std::make_unique<Impl>(std::move(context))) {}
Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

void Engine::feed(std::string_view ciphertext) {
  Impl& impl = *impl_;
  if (impl.phase == Impl::Phase::Failed || ciphertext.empty()) {
    return;
  }
  if (impl.input_pos > 0) {
    impl.input.erase(0, impl.input_pos);
    impl.input_pos = 0;
  }
  impl.input.append(ciphertext);
}

Event Engine::next() {
  Impl& impl = *impl_;
  switch (impl.phase) {
  case Impl::Phase::Handshaking:
    return impl.step_handshake();
  case Impl::Phase::Open:
    return impl.read_record();
  case Impl::Phase::PeerClosed:
    return NeedData{};
  case Impl::Phase::Failed:
    return impl.failure;
  }
  return NeedData{};
}

Result<void, Failed> Engine::write(std::string_view plaintext) {
  Impl& impl = *impl_;
  if (impl.phase == Impl::Phase::Failed) {
    return unexpected(impl.failure);
  }
  if (!impl.handshake_complete) {
    return unexpected(Failed{MBEDTLS_ERR_SSL_BAD_INPUT_DATA,
                             "TLS write before the handshake finished (a caller bug)"});
  }
  const auto* data = reinterpret_cast<const unsigned char*>(plaintext.data());
  std::size_t done = 0;
  while (done < plaintext.size()) {
    // mbedTLS writes at most one record per call and returns how much it took.
    const int rc = mbedtls_ssl_write(&impl.ssl, data + done, plaintext.size() - done);
    if (rc <= 0) {
      return unexpected(impl.fail(rc, "TLS write failed"));
    }
    done += static_cast<std::size_t>(rc);
  }
  return {};
}

void Engine::close() {
  Impl& impl = *impl_;
  if (!impl.handshake_complete || impl.close_sent || impl.phase == Impl::Phase::Failed) {
    return;
  }
  impl.close_sent = true;
  // With our BIO the alert always fits in the output, so WANT_WRITE cannot happen; any other
  // error leaves nothing useful to send, and the caller is closing anyway.
  (void)mbedtls_ssl_close_notify(&impl.ssl);
}

bool Engine::has_output() const { return !impl_->output.empty(); }

std::string Engine::take_output() {
  std::string out;
  out.swap(impl_->output);
  impl_->last_record_start = 0;
  impl_->last_record_type = 0;
  return out;
}

bool Engine::handshake_done() const { return impl_->handshake_complete; }

void Engine::trim() { impl_->trim(true); }

} // namespace popgate::tls
