#include "tls/ciphersuites.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include "tls/mbedtls_compat.hpp"

#include <mbedtls/ssl.h>

namespace popgate::tls {
namespace {

// Server preference order (mbedTLS servers pick the first suite of this list that the client
// offers): TLS 1.3 first where available, then ECDSA before RSA (smaller, cheaper handshakes),
// and ChaCha20-Poly1305 before AES-GCM: with mbedTLS, relaying through ChaCha20-Poly1305 cost
// about 40% less CPU per GiB than AES-128-GCM on x86-64 with AES-NI (bench/README.md), and a
// gateway's CPU is spent mostly on bulk encryption. Clients without ChaCha20 get AES-GCM.
constexpr std::array<std::string_view, 9> kDefaultSuites = {
    "TLS1-3-CHACHA20-POLY1305-SHA256",
    "TLS1-3-AES-128-GCM-SHA256",
    "TLS1-3-AES-256-GCM-SHA384",
    "TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256",
    "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",
    "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384",
    "TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256",
    "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256",
    "TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384",
};

bool starts_with(std::string_view s, std::string_view prefix) { return s.starts_with(prefix); }
bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

// IANA spells "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"; mbedTLS uses dashes, and names the
// TLS 1.3 suites "TLS1-3-AES-128-GCM-SHA256" where IANA says "TLS_AES_128_GCM_SHA256".
std::string normalize(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  for (const char c : name) {
    if (c == '_') {
      out.push_back('-');
    } else if (c >= 'a' && c <= 'z') {
      out.push_back(static_cast<char>(c - 'a' + 'A'));
    } else {
      out.push_back(c);
    }
  }
  if (starts_with(out, "TLS-AES-") || starts_with(out, "TLS-CHACHA20-")) {
    out = "TLS1-3-" + out.substr(4);
  }
  return out;
}

enum class SuiteKind { Tls12Aead, Tls13, Refused };

// Classifies by mbedTLS's canonical name: the 3.x API hides the fields of
// mbedtls_ssl_ciphersuite_t, and the names are stable across 2.28 and 3.6.
SuiteKind classify(std::string_view canonical) {
  if (starts_with(canonical, "TLS1-3-")) {
    // CCM-8 has a 64-bit tag; RFC 8446 §B.4 lists it, but it is meant for constrained devices.
    return contains(canonical, "CCM-8") ? SuiteKind::Refused : SuiteKind::Tls13;
  }
  const bool ecdhe = starts_with(canonical, "TLS-ECDHE-ECDSA-WITH-") ||
                     starts_with(canonical, "TLS-ECDHE-RSA-WITH-");
  const bool aead = contains(canonical, "-GCM-") || contains(canonical, "CHACHA20-POLY1305") ||
                    canonical.ends_with("-CCM");
  return ecdhe && aead ? SuiteKind::Tls12Aead : SuiteKind::Refused;
}

void add(SuiteList& list, int id, SuiteKind kind) {
  if (std::find(list.ids.begin(), list.ids.end(), id) != list.ids.end()) {
    return;
  }
  list.ids.push_back(id);
  (kind == SuiteKind::Tls13 ? list.has_tls13 : list.has_tls12) = true;
}

} // namespace

Result<SuiteList, std::string> resolve_ciphersuites(const std::vector<std::string>& names) {
  SuiteList list;
  if (names.empty()) {
    for (const std::string_view name : kDefaultSuites) {
      // A suite the build lacks (TLS 1.3 on 2.28, ChaCha20 on a trimmed build) is skipped.
      const int id = mbedtls_ssl_get_ciphersuite_id(std::string(name).c_str());
      if (id != 0) {
        add(list, id, classify(name));
      }
    }
  } else {
    for (const std::string& name : names) {
      const std::string wanted = normalize(name);
      const int id = mbedtls_ssl_get_ciphersuite_id(wanted.c_str());
      if (id == 0) {
        if (starts_with(wanted, "TLS1-3-") && !POPGATE_HAVE_TLS13) {
          return unexpected("\"" + name + "\" is a TLS 1.3 suite, and this mbedTLS build has no " +
                            "TLS 1.3; list TLS 1.2 ECDHE suites only");
        }
        return unexpected("unknown cipher suite \"" + name +
                          "\"; use an mbedTLS or IANA name such as "
                          "\"TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256\", or leave the list empty");
      }
      const std::string_view canonical = mbedtls_ssl_get_ciphersuite_name(id);
      const SuiteKind kind = classify(canonical);
      if (kind == SuiteKind::Refused) {
        return unexpected("cipher suite \"" + name +
                          "\" is not ECDHE with an AEAD cipher; popgate allows only "
                          "ECDHE-ECDSA/ECDHE-RSA with GCM, CCM or ChaCha20-Poly1305 (and the "
                          "TLS 1.3 suites)");
      }
      add(list, id, kind);
    }
  }
  if (list.ids.empty()) {
    return unexpected(std::string("this mbedTLS build has none of the built-in ECDHE + AEAD "
                                  "suites; rebuild mbedTLS with GCM and ECDHE"));
  }
  list.ids.push_back(0);
  return list;
}

} // namespace popgate::tls
