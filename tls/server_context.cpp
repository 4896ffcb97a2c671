#include "tls/server_context.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string_view>

#include "tls/certificate_store.hpp"
#include "tls/ciphersuites.hpp"
#include "tls/handshake_observer.hpp"
#include "tls/mbedtls_compat.hpp"
#include "tls/mbedtls_error.hpp"
#include "tls/record_memory.hpp"
#include "tls/ticket_keys.hpp"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>

#if defined(MBEDTLS_SSL_SESSION_TICKETS)
#define POPGATE_HAVE_TICKETS 1
#else
#define POPGATE_HAVE_TICKETS 0
#endif

namespace popgate::tls {
namespace {

// Key exchange groups, preferred first: X25519 (RFC 7748), then the NIST curves every client
// has. RFC 8422 §5.1.1 lets the server pick among what the client offers.
#if POPGATE_MBEDTLS_3
constexpr std::array<std::uint16_t, 4> kGroups = {MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
                                                  MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
                                                  MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1, 0};
#else
constexpr std::array<mbedtls_ecp_group_id, 4> kCurves = {
    MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE};
#endif

// RFC 8446 §4.6.1: a ticket lifetime must not exceed seven days; RFC 5077 sets no limit but
// the same bound is sensible for TLS 1.2.
constexpr std::chrono::seconds kMaxTicketLifetime{7 * 24 * 3600};

constexpr std::string_view kPersonalization = "popgate tls server";

// A ticket key file is a few lines; anything much bigger is the wrong file.
constexpr std::streamsize kMaxTicketKeyFileBytes = 64L * 1024;

// The ticket callbacks run inside a handshake and are given no clock; wall time is what a
// ticket's issue time means on every replica.
std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

Result<std::shared_ptr<TicketKeys>, std::string> read_ticket_key_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return unexpected("cannot read ticket_key_file " + path + ": " + std::strerror(errno) +
                      "; it must be readable by the user popgate runs as");
  }
  std::string text(static_cast<std::size_t>(kMaxTicketKeyFileBytes) + 1, '\0');
  in.read(text.data(), kMaxTicketKeyFileBytes + 1);
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > static_cast<std::size_t>(kMaxTicketKeyFileBytes)) {
    return unexpected("ticket_key_file " + path + " is larger than 64 KiB; it holds one key " +
                      "per line");
  }
  auto keys = TicketKeys::from_file_text(text);
  std::fill(text.begin(), text.end(), '\0');
  if (!keys) {
    return unexpected("ticket_key_file " + path + ": " + keys.error());
  }
  return keys;
}

// Keeps the SNI for logs: lower case, printable host-name characters only, bounded by the
// DNS limit, so a hostile ClientHello cannot inject into a log line.
std::string sanitize_server_name(std::string_view raw) {
  std::string out;
  out.reserve(std::min<std::size_t>(raw.size(), 253));
  for (const char c : raw.substr(0, 253)) {
    if (c >= 'A' && c <= 'Z') {
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
               c == '_') {
      out.push_back(c);
    } else {
      out.push_back('?');
    }
  }
  return out;
}

// RFC 6066 §3: pick the certificate for the requested name; an unknown name keeps the default
// (the first certificate) rather than failing, as most POP3 clients send whatever host name
// the user typed.
int on_server_name(void* store_ptr, mbedtls_ssl_context* ssl, const unsigned char* name,
                   std::size_t length) {
  const auto* store = static_cast<const CertificateStore*>(store_ptr);
  const std::string_view requested(reinterpret_cast<const char*>(name), length);
  if (HandshakeObserver* observer = current_handshake_observer()) {
    observer->sni = sanitize_server_name(requested);
  }
  if (const LoadedCertificate* cert = store->find(requested)) {
    return mbedtls_ssl_set_hs_own_cert(ssl, &cert->chain, &cert->key);
  }
  return 0;
}

} // namespace

struct ServerContext::State {
  State() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_x509_crt_init(&client_ca);
    mbedtls_ssl_config_init(&config);
  }
  ~State() {
    mbedtls_ssl_config_free(&config);
    mbedtls_x509_crt_free(&client_ca);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

#if POPGATE_HAVE_TICKETS
  static int write_ticket(void* self, const mbedtls_ssl_session* session, unsigned char* start,
                          const unsigned char* end, std::size_t* length, std::uint32_t* lifetime);
  static int parse_ticket(void* self, mbedtls_ssl_session* session, unsigned char* buf,
                          std::size_t length);
#endif

  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  // Shared with the context this one replaced on reload when they are generated, so tickets
  // survive the reload; read from ticket_key_file otherwise.
  std::shared_ptr<TicketKeys> ticket_keys;
  std::chrono::seconds ticket_lifetime{0};
  mbedtls_x509_crt client_ca;
  mbedtls_ssl_config config;
  SuiteList suites;
  CertificateStore store;
  std::vector<CertificateInfo> infos;
};

#if POPGATE_HAVE_TICKETS
// RFC 5077 §4: the session state, sealed with the newest ticket key. mbedTLS serialises the
// session (mbedtls_ssl_session_save) straight into the ticket buffer, which is encrypted in place.
int ServerContext::State::write_ticket(void* self, const mbedtls_ssl_session* session,
                                       unsigned char* start, const unsigned char* end,
                                       std::size_t* length, std::uint32_t* lifetime) {
  State& state = *static_cast<State*>(self);
  *length = 0;
  const auto room = static_cast<std::size_t>(end - start);
  if (room < TicketKeys::kOverhead) {
    return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
  }
  std::size_t state_length = 0;
  if (const int rc = mbedtls_ssl_session_save(session, start + TicketKeys::kStateOffset,
                                              room - TicketKeys::kOverhead, &state_length);
      rc != 0) {
    return rc;
  }
  auto sealed =
      state.ticket_keys->seal({start, room}, state_length, unix_now(), state.ticket_lifetime);
  if (!sealed) {
    return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
  }
  *length = sealed.value();
  *lifetime = static_cast<std::uint32_t>(state.ticket_lifetime.count());
  return 0;
}

namespace {
// What mbedTLS expects a ticket parser to return; every one of them means a full handshake.
int ticket_error_code(TicketError error) {
  switch (error) {
  case TicketError::UnknownKey:
  case TicketError::Expired:
    return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
  case TicketError::BadTag:
    return MBEDTLS_ERR_SSL_INVALID_MAC;
  case TicketError::Malformed:
    return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
  case TicketError::Crypto:
    break;
  }
  return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
}
} // namespace

// Opens a ticket with any of the keys, then checks it for two reasons.
//
// It tells the Engine that this handshake resumes a session: a ticket that decrypts and
// authenticates is what makes an mbedTLS server resume (RFC 5077 §3.1). The callback gets no
// SSL context, hence the observer.
//
// And it refuses a TLS 1.2 ticket whose suite needs another key type than the certificate this
// handshake will use (a client reusing a ticket under another server name). mbedTLS would
// restore the session, then pick a fresh suite for the certificate and answer with a suite that
// differs from the session's, which clients rightly abort on (RFC 5246 §7.4.1.3). A refused
// ticket just means a full handshake (RFC 5077 §3.4).
int ServerContext::State::parse_ticket(void* self, mbedtls_ssl_session* session, unsigned char* buf,
                                       std::size_t length) {
  State& state = *static_cast<State*>(self);
  auto opened = state.ticket_keys->open({buf, length}, unix_now(), state.ticket_lifetime);
  if (!opened) {
    return ticket_error_code(opened.error());
  }
  if (const int rc = mbedtls_ssl_session_load(session, opened->data(), opened->size()); rc != 0) {
    return rc;
  }
  HandshakeObserver* observer = current_handshake_observer();
#if POPGATE_MBEDTLS_3
  const int suite = mbedtls_ssl_session_get_ciphersuite_id(session);
#else
  const int suite = session->ciphersuite;
#endif
  const char* suite_name = mbedtls_ssl_get_ciphersuite_name(suite);
  const std::string_view name = suite_name != nullptr ? suite_name : "";
  const LoadedCertificate* cert =
      observer != nullptr && !observer->sni.empty() ? state.store.find(observer->sni) : nullptr;
  if (cert == nullptr) {
    cert = &state.store.default_certificate();
  }
  const bool needs_ecdsa = name.find("-ECDSA-") != std::string_view::npos;
  const bool needs_rsa = name.find("-RSA-") != std::string_view::npos;
  if ((needs_ecdsa && !mbedtls_pk_can_do(&cert->key, MBEDTLS_PK_ECDSA)) ||
      (needs_rsa && !mbedtls_pk_can_do(&cert->key, MBEDTLS_PK_RSA))) {
    return MBEDTLS_ERR_SSL_INVALID_MAC;
  }
  if (observer != nullptr) {
    observer->ticket_accepted = true;
  }
  return 0;
}
#endif

namespace {

void set_versions(mbedtls_ssl_config& config, bool tls13_min, bool tls13_max) {
#if POPGATE_MBEDTLS_3
  mbedtls_ssl_conf_min_tls_version(&config, tls13_min ? MBEDTLS_SSL_VERSION_TLS1_3
                                                      : MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_max_tls_version(&config, tls13_max ? MBEDTLS_SSL_VERSION_TLS1_3
                                                      : MBEDTLS_SSL_VERSION_TLS1_2);
#else
  // RFC 8996: TLS 1.0 and 1.1 are deprecated; 2.28 knows nothing newer than 1.2 (3,3).
  (void)tls13_min;
  (void)tls13_max;
  mbedtls_ssl_conf_min_version(&config, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&config, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
}

} // namespace

ServerContext::ServerContext() : state_(std::make_unique<State>()) {}
ServerContext::~ServerContext() = default;

const std::vector<CertificateInfo>& ServerContext::certificates() const { return state_->infos; }

const ::mbedtls_ssl_config* ServerContext::ssl_config() const { return &state_->config; }

bool ServerContext::tls13_available() { return POPGATE_HAVE_TLS13 != 0; }

std::string ServerContext::library_version() {
  // Which build: popgate's own static one (cmake/mbedtls_bundled.cmake) or the distribution's.
#if defined(POPGATE_MBEDTLS_BUNDLED)
  constexpr std::string_view kBuild = ", bundled build";
#else
  constexpr std::string_view kBuild = ", system library";
#endif
#if defined(MBEDTLS_VERSION_C)
  std::array<char, 32> version{};
  mbedtls_version_get_string(version.data());
  return std::string("mbedTLS ") + version.data() + std::string(kBuild);
#else
  return "mbedTLS " MBEDTLS_VERSION_STRING + std::string(kBuild);
#endif
}

std::string ServerContext::library_summary() {
  return library_version() +
         (tls13_available() ? " (TLS 1.3 available)" : " (TLS 1.3 not available)");
}

Result<std::shared_ptr<const ServerContext>, std::vector<LoadError>>
ServerContext::create(const ServerOptions& options, const ServerContext* replaces) {
  std::vector<LoadError> errors;
  const auto fail = [&errors](std::string field, std::string message) {
    errors.push_back(LoadError{LoadError::kNoCertificate, std::move(field), std::move(message)});
  };
  // Before the context's first mbedTLS allocation, so connections get the record buffers'
  // allocator (bundled build).
  install_record_memory();
  std::shared_ptr<ServerContext> context(new ServerContext());
  State& s = *context->state_;

#if POPGATE_MBEDTLS_3
  // PSA must be up before any 3.x TLS 1.3 handshake or key parse; it is idempotent.
  if (const psa_status_t status = psa_crypto_init(); status != PSA_SUCCESS) {
    fail("library", "cannot initialise PSA crypto (status " + std::to_string(status) + ")");
    return unexpected(std::move(errors));
  }
#endif
  if (const int rc = mbedtls_ctr_drbg_seed(
          &s.drbg, mbedtls_entropy_func, &s.entropy,
          reinterpret_cast<const unsigned char*>(kPersonalization.data()), kPersonalization.size());
      rc != 0) {
    fail("library", "cannot seed the random generator: " + mbedtls_error_text(rc));
    return unexpected(std::move(errors));
  }

  bool tls13_min = false;
  if (options.min_version == "1.3") {
    if (!tls13_available()) {
      fail("min_version", "min_version \"1.3\" needs TLS 1.3, which " + library_version() +
                              " does not provide; use \"1.2\" or an mbedTLS 3.x build");
    }
    tls13_min = true;
  } else if (options.min_version != "1.2") {
    fail("min_version", "min_version \"" + options.min_version +
                            "\" is not supported; use \"1.2\" or \"1.3\" (TLS 1.0 and 1.1 are "
                            "deprecated by RFC 8996)");
  }

  if (auto suites = resolve_ciphersuites(options.ciphersuites); !suites) {
    fail("ciphersuites", suites.error());
  } else {
    s.suites = std::move(suites.value());
    if (tls13_min && !s.suites.has_tls13 && tls13_available()) {
      fail("ciphersuites", "min_version is \"1.3\" but no TLS 1.3 suite is listed; add "
                           "\"TLS_AES_128_GCM_SHA256\" or leave the list empty");
    } else if (!tls13_min && !s.suites.has_tls12) {
      fail("ciphersuites", "min_version is \"1.2\" but no TLS 1.2 suite is listed; add an "
                           "ECDHE AEAD suite or set min_version = \"1.3\"");
    }
  }

  if (options.session_tickets &&
      (options.ticket_lifetime.count() <= 0 || options.ticket_lifetime > kMaxTicketLifetime)) {
    fail("ticket_lifetime", "ticket_lifetime must be between 1s and 7 days (RFC 8446 §4.6.1)");
  }
#if POPGATE_HAVE_TICKETS
  if (options.session_tickets) {
    const std::shared_ptr<TicketKeys> kept =
        replaces != nullptr ? replaces->state_->ticket_keys : nullptr;
    auto keys = !options.ticket_key_file.empty() ? read_ticket_key_file(options.ticket_key_file)
                : kept != nullptr && !kept->from_file() ? kept
                                                        : TicketKeys::generate(unix_now());
    if (!keys) {
      fail("ticket_key_file", keys.error());
    } else {
      s.ticket_keys = std::move(keys).value();
      s.ticket_lifetime = options.ticket_lifetime;
    }
  }
#else
  (void)replaces;
  if (!options.ticket_key_file.empty()) {
    fail("ticket_key_file", "ticket_key_file is set, but this mbedTLS build has no session "
                            "tickets (MBEDTLS_SSL_SESSION_TICKETS)");
  }
#endif

  if (!options.client_ca.empty()) {
    if (const int rc = mbedtls_x509_crt_parse_file(&s.client_ca, options.client_ca.c_str());
        rc != 0) {
      fail("client_ca", "cannot load client CA bundle " + options.client_ca + ": " +
                            (rc > 0 ? std::to_string(rc) + " certificate(s) could not be parsed"
                                    : mbedtls_error_text(rc)) +
                            "; it must be readable PEM certificates");
    }
  }

  auto store = CertificateStore::load(options.certificates, mbedtls_ctr_drbg_random, &s.drbg);
  if (!store) {
    errors.insert(errors.end(), store.error().begin(), store.error().end());
  }
  if (!errors.empty()) {
    return unexpected(std::move(errors));
  }
  s.store = std::move(store.value());
  s.infos = s.store.infos();

  mbedtls_ssl_config& config = s.config;
  if (const int rc = mbedtls_ssl_config_defaults(
          &config, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
      rc != 0) {
    fail("library", "cannot set up the TLS configuration: " + mbedtls_error_text(rc));
    return unexpected(std::move(errors));
  }
  mbedtls_ssl_conf_rng(&config, mbedtls_ctr_drbg_random, &s.drbg);
  set_versions(config, tls13_min, s.suites.has_tls13);
  mbedtls_ssl_conf_ciphersuites(&config, s.suites.ids.data());
#if POPGATE_MBEDTLS_3
  mbedtls_ssl_conf_groups(&config, kGroups.data());
#else
  mbedtls_ssl_conf_curves(&config, kCurves.data());
#endif
#if defined(MBEDTLS_SSL_RENEGOTIATION)
  // RFC 5746 secure renegotiation is still renegotiation: a client-driven CPU cost and a
  // state change mid-session that POP3 never needs.
  mbedtls_ssl_conf_renegotiation(&config, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif

  const LoadedCertificate& fallback = s.store.default_certificate();
  if (const int rc = mbedtls_ssl_conf_own_cert(&config, &fallback.chain, &fallback.key); rc != 0) {
    fail("library", "cannot install the default certificate: " + mbedtls_error_text(rc));
    return unexpected(std::move(errors));
  }
  mbedtls_ssl_conf_sni(&config, on_server_name, &s.store);

  if (!options.client_ca.empty()) {
    mbedtls_ssl_conf_ca_chain(&config, &s.client_ca, nullptr);
    mbedtls_ssl_conf_authmode(&config, MBEDTLS_SSL_VERIFY_REQUIRED);
  } else {
    mbedtls_ssl_conf_authmode(&config, MBEDTLS_SSL_VERIFY_NONE);
  }

#if POPGATE_HAVE_TICKETS
  if (options.session_tickets) {
    // Sealed with AES-256-GCM as RFC 5077 §4 recommends (tls/ticket_keys.hpp).
    mbedtls_ssl_conf_session_tickets_cb(&config, State::write_ticket, State::parse_ticket, &s);
  }
#if POPGATE_HAVE_TLS13
  else {
    mbedtls_ssl_conf_new_session_tickets(&config, 0);
  }
#endif
#endif

  return std::shared_ptr<const ServerContext>(std::move(context));
}

} // namespace popgate::tls
