#pragma once

// A TLS client over mbedTLS's client API, joined to a server Engine by two in-memory buffers
// (the ConnectionPair idea from h11's tests), and a pump that moves bytes until both sides
// stall. No sockets, no threads, no sleeps.

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tls/engine.hpp"
#include "tls_test_pki.hpp"

#include <mbedtls/ssl.h>

namespace popgate::tls::testing {

struct ClientOptions {
  std::string server_name;       // SNI; "" = send none
  bool only_tls11 = false;       // offer TLS 1.1 and nothing newer (2.28 only)
  std::vector<int> ciphersuites; // empty = mbedTLS's defaults
  const mbedtls_ssl_session* resume = nullptr;
  std::string cert_pem; // client certificate, for client_ca tests
  std::string key_pem;
};

class TestSession {
public:
  TestSession() { mbedtls_ssl_session_init(&session); }
  ~TestSession() { mbedtls_ssl_session_free(&session); }
  TestSession(const TestSession&) = delete;
  TestSession& operator=(const TestSession&) = delete;
  mbedtls_ssl_session session;
};

class TestClient {
public:
  explicit TestClient(const ClientOptions& options) {
    mbedtls_ssl_init(&ssl_);
    mbedtls_ssl_config_init(&config_);
    mbedtls_x509_crt_init(&cert_);
    mbedtls_pk_init(&key_);
    check(mbedtls_ssl_config_defaults(&config_, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT),
          "client config");
    mbedtls_ssl_conf_rng(&config_, TestRandom::generate, TestRandom::get().state());
    // The tests check which certificate arrives, not the chain of trust.
    mbedtls_ssl_conf_authmode(&config_, MBEDTLS_SSL_VERIFY_NONE);
    if (options.only_tls11) {
#if POPGATE_MBEDTLS_3
      throw std::runtime_error("mbedTLS 3.x has no TLS 1.1");
#else
      mbedtls_ssl_conf_min_version(&config_, MBEDTLS_SSL_MAJOR_VERSION_3,
                                   MBEDTLS_SSL_MINOR_VERSION_2);
      mbedtls_ssl_conf_max_version(&config_, MBEDTLS_SSL_MAJOR_VERSION_3,
                                   MBEDTLS_SSL_MINOR_VERSION_2);
#endif
    }
#if defined(MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED)
    // mbedTLS 3.6.1+ clients drop TLS 1.3 tickets unless asked to keep them.
    mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
        &config_, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
#endif
    if (!options.ciphersuites.empty()) {
#if POPGATE_MBEDTLS_3
      // A list of TLS 1.2 suites only makes sense with TLS 1.2.
      mbedtls_ssl_conf_max_tls_version(&config_, MBEDTLS_SSL_VERSION_TLS1_2);
#endif
      suites_ = options.ciphersuites;
      suites_.push_back(0);
      mbedtls_ssl_conf_ciphersuites(&config_, suites_.data());
    }
    if (!options.cert_pem.empty()) {
      check(mbedtls_x509_crt_parse(&cert_,
                                   reinterpret_cast<const unsigned char*>(options.cert_pem.c_str()),
                                   options.cert_pem.size() + 1),
            "client cert");
      PkKey parsed;
      parsed.parse(options.key_pem);
      std::swap(key_, parsed.pk);
      check(mbedtls_ssl_conf_own_cert(&config_, &cert_, &key_), "client own cert");
    }
    check(mbedtls_ssl_setup(&ssl_, &config_), "client setup");
    if (!options.server_name.empty()) {
      check(mbedtls_ssl_set_hostname(&ssl_, options.server_name.c_str()), "set_hostname");
    }
    if (options.resume != nullptr) {
      check(mbedtls_ssl_set_session(&ssl_, options.resume), "set_session");
    }
    mbedtls_ssl_set_bio(&ssl_, this, &TestClient::send, &TestClient::recv, nullptr);
  }
  ~TestClient() {
    mbedtls_ssl_free(&ssl_);
    mbedtls_pk_free(&key_);
    mbedtls_x509_crt_free(&cert_);
    mbedtls_ssl_config_free(&config_);
  }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  void feed(std::string_view bytes) { input_.append(bytes); }
  std::string take_output() {
    std::string out;
    out.swap(output_);
    return out;
  }

  // Drives the handshake, or reads what arrived once it is done.
  void step() {
    if (error != 0) {
      return;
    }
    if (!handshake_done) {
      const int rc = mbedtls_ssl_handshake(&ssl_);
      if (rc == 0) {
        handshake_done = true;
      } else if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) {
        error = rc;
        return;
      } else {
        return;
      }
    }
    std::array<unsigned char, 16384> buffer{};
    for (;;) {
      const int rc = mbedtls_ssl_read(&ssl_, buffer.data(), buffer.size());
      if (rc > 0) {
        received.append(reinterpret_cast<const char*>(buffer.data()), static_cast<std::size_t>(rc));
        continue;
      }
#if defined(MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
      if (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
        continue; // TLS 1.3 (RFC 8446 §4.6.1): the ticket is now in the session
      }
#endif
      if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
        peer_closed = true;
      } else if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE && rc != 0) {
        error = rc;
      }
      return;
    }
  }

  void write(std::string_view data) {
    std::size_t done = 0;
    while (done < data.size()) {
      const int rc = mbedtls_ssl_write(
          &ssl_, reinterpret_cast<const unsigned char*>(data.data()) + done, data.size() - done);
#if defined(MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
      if (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
        continue; // TLS 1.3: a ticket arrived while writing; the write is still to be done
      }
#endif
      check(rc, "client write");
      done += static_cast<std::size_t>(rc);
    }
  }

  void close_notify() { check(mbedtls_ssl_close_notify(&ssl_), "client close_notify"); }

  void save_session(TestSession& out) {
    check(mbedtls_ssl_get_session(&ssl_, &out.session), "get_session");
  }

  // "CN=..." of the certificate the server sent.
  [[nodiscard]] std::string peer_subject() const {
    const mbedtls_x509_crt* peer = mbedtls_ssl_get_peer_cert(&ssl_);
    if (peer == nullptr) {
      return {};
    }
    std::array<char, 256> dn{};
    check(mbedtls_x509_dn_gets(dn.data(), dn.size(), &peer->subject), "dn_gets");
    return dn.data();
  }

  bool handshake_done = false;
  bool peer_closed = false;
  int error = 0;
  std::string received;

private:
  static int recv(void* self, unsigned char* buf, std::size_t length) {
    auto& client = *static_cast<TestClient*>(self);
    if (client.input_.empty()) {
      return MBEDTLS_ERR_SSL_WANT_READ;
    }
    const std::size_t n = std::min(length, client.input_.size());
    std::copy_n(client.input_.data(), n, buf);
    client.input_.erase(0, n);
    return static_cast<int>(n);
  }
  static int send(void* self, const unsigned char* buf, std::size_t length) {
    static_cast<TestClient*>(self)->output_.append(reinterpret_cast<const char*>(buf), length);
    return static_cast<int>(length);
  }

  mbedtls_ssl_context ssl_;
  mbedtls_ssl_config config_;
  mbedtls_x509_crt cert_;
  mbedtls_pk_context key_;
  std::vector<int> suites_;
  std::string input_;
  std::string output_;
};

// What the server Engine reported, with views copied out.
struct ServerLog {
  int handshakes = 0;
  std::string version;
  std::string cipher;
  std::string sni;
  bool resumed = false;
  std::string plaintext;
  int peer_closed = 0;
  std::optional<Failed> failed;
};

// Calls next() until NeedData (or Failed: that event is sticky), recording everything.
inline void drain(Engine& server, ServerLog& log) {
  for (int guard = 0; guard < 100000; ++guard) {
    Event event = server.next();
    if (std::holds_alternative<NeedData>(event)) {
      return;
    }
    if (auto* done = std::get_if<HandshakeDone>(&event)) {
      ++log.handshakes;
      log.version = done->version;
      log.cipher = done->cipher;
      log.sni = done->sni;
      log.resumed = done->resumed;
    } else if (auto* text = std::get_if<Plaintext>(&event)) {
      log.plaintext.append(text->data);
    } else if (std::holds_alternative<PeerClosed>(event)) {
      ++log.peer_closed;
    } else if (auto* failure = std::get_if<Failed>(&event)) {
      log.failed = *failure;
      return;
    }
  }
  ADD_FAILURE() << "server engine never returned NeedData";
}

// Moves bytes both ways until neither side produces any, feeding the server `chunk` bytes at a
// time with a drain after each. Bounded by a round limit instead of a clock.
inline void pump(TestClient& client, Engine& server, ServerLog& log,
                 std::size_t chunk = std::string::npos) {
  for (int round = 0; round < 10000; ++round) {
    client.step();
    const std::string to_server = client.take_output();
    for (std::size_t at = 0; at < to_server.size(); at += std::min(chunk, to_server.size())) {
      server.feed(std::string_view(to_server).substr(at, chunk));
      drain(server, log);
    }
    drain(server, log);
    const std::string to_client = server.take_output();
    client.feed(to_client);
    if (to_server.empty() && to_client.empty()) {
      return;
    }
  }
  ADD_FAILURE() << "pump did not settle";
}

} // namespace popgate::tls::testing
