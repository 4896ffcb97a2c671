#include "tls/engine.hpp"

#include <array>
#include <cstring>

#include "tls/handshake_observer.hpp"
#include "tls/mbedtls_compat.hpp"
#include "tls/mbedtls_error.hpp"

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
    return static_cast<int>(length);
  }

  Failed fail(int code, std::string_view what) {
    phase = Phase::Failed;
    failure = Failed{code, describe_failure(what, code)};
    std::string().swap(input);
    input_pos = 0;
    return failure;
  }

  Event step_handshake() {
    int rc = 0;
    {
      const ObserverScope scope(&observer);
      rc = mbedtls_ssl_handshake(&ssl);
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
      return NeedData{};
    }
    if (rc != 0) {
      return fail(rc, "TLS handshake failed");
    }
    phase = Phase::Open;
    handshake_complete = true;
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
  return out;
}

bool Engine::handshake_done() const { return impl_->handshake_complete; }

} // namespace popgate::tls
