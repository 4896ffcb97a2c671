#pragma once

// The shared, immutable half of the TLS core: everything built once from [tls] in the config
// and used by every connection's Engine on every thread.
//
// A ServerContext owns the entropy source, the CTR-DRBG, the loaded certificates and the
// mbedtls_ssl_config pointing at them, and shares the session-ticket keys (tls/ticket_keys.hpp).
// mbedTLS is built with MBEDTLS_THREADING_C (Debian's build is), so the DRBG has its own mutex,
// the ticket keys have theirs, and the config is only read by handshakes: hand out
// shared_ptr<const ServerContext> to any number of event loops. A reload builds a new context;
// connections keep the old one alive through their Engine until they end.

#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "tls/options.hpp"

struct mbedtls_ssl_config;

namespace popgate::tls {

class ServerContext {
public:
  // Validates and loads everything in `options`, reporting every problem found (each with the
  // certificate index and field it is about), not only the first.
  //
  // `replaces` is the context this one takes over from on a reload, if any: without a
  // ticket_key_file its generated ticket keys are kept, so tickets issued before the reload
  // still resume. With a ticket_key_file the file is read again.
  static Result<std::shared_ptr<const ServerContext>, std::vector<LoadError>>
  create(const ServerOptions& options, const ServerContext* replaces = nullptr);

  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // One entry per configured certificate, in configuration order.
  [[nodiscard]] const std::vector<CertificateInfo>& certificates() const;

  // Whether this build of mbedTLS can speak TLS 1.3 (3.x built with MBEDTLS_SSL_PROTO_TLS1_3).
  static bool tls13_available();
  // The linked library and which build it is, e.g. "mbedTLS 3.6.6, bundled build" (popgate's
  // own, POPGATE_MBEDTLS=bundled) or "mbedTLS 2.28.3, system library".
  static std::string library_version();
  // library_version() and whether TLS 1.3 is there, e.g. "mbedTLS 3.6.6, bundled build (TLS 1.3
  // available)": what --version prints and the build_info metric's mbedtls label carries.
  static std::string library_summary();

private:
  friend class Engine;
  struct State;

  ServerContext();
  [[nodiscard]] const ::mbedtls_ssl_config* ssl_config() const;

  std::unique_ptr<State> state_;
};

} // namespace popgate::tls
