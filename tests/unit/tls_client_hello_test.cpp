// Hand-made ClientHellos through the server Engine, in memory: hostile ones (truncated, wrong
// lengths, wrong types, bad key shares and points) must end in Failed with mbedTLS's own alert
// already in the engine's output, so the caller's flush-then-close delivers it; split and large
// ones (up to the 16 KiB record limit, and beyond it over several records) are handled as the
// linked mbedTLS allows: 3.6.4 and later reassemble a ClientHello fragmented over records
// (mbedtls_ssl_handshake() in include/mbedtls/ssl.h), 2.28 refuses it with an alert.
//
// RFC 8446 §4.1.2 and RFC 5246 §7.4.1.2 give the ClientHello layout built below.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tls/engine.hpp"
#include "tls/mbedtls_compat.hpp"
#include "tls_test_pki.hpp"

namespace popgate::tls {
namespace {

// Record content types (RFC 8446 §5.1) and the alert level that ends a connection (§6).
constexpr unsigned char kHandshakeRecord = 22;
constexpr unsigned char kAlertRecord = 21;
constexpr unsigned char kFatal = 2;
constexpr std::size_t kMaxRecord = 16384; // plaintext bytes per record, RFC 8446 §5.1

// Extension and group code points (IANA TLS registries).
constexpr std::uint16_t kSupportedGroups = 10;
constexpr std::uint16_t kPointFormats = 11;
constexpr std::uint16_t kSignatureAlgorithms = 13;
constexpr std::uint16_t kPadding = 21; // RFC 7685
constexpr std::uint16_t kSupportedVersions = 43;
constexpr std::uint16_t kKeyShare = 51;
constexpr std::uint16_t kX25519 = 0x001d;
constexpr std::uint16_t kSecp256r1 = 0x0017;

std::string u8(std::size_t v) { return {static_cast<char>(v & 0xff)}; }
std::string u16(std::size_t v) { return u8(v >> 8) + u8(v); }
std::string u24(std::size_t v) { return u8(v >> 16) + u16(v); }
std::string with_u16_length(const std::string& s) { return u16(s.size()) + s; }

// The parts of a ClientHello, each already encoded, so a case can corrupt any one of them.
struct Hello {
  std::string legacy_version = u16(0x0303);
  std::string random = std::string(32, '\x5a');
  std::string session_id = u8(32) + std::string(32, '\x11'); // RFC 8446 §4.1.2 compat mode
  std::string suites;
  std::string compression = u8(1) + u8(0); // one method: null
  std::vector<std::pair<std::uint16_t, std::string>> extensions;
  std::string extensions_override; // used as is instead of `extensions` when non-empty

  void add(std::uint16_t type, const std::string& data) { extensions.emplace_back(type, data); }

  [[nodiscard]] std::string body() const {
    std::string ext = extensions_override;
    if (ext.empty()) {
      for (const auto& [type, data] : extensions) {
        ext += u16(type) + with_u16_length(data);
      }
      ext = with_u16_length(ext);
    }
    return legacy_version + random + session_id + suites + compression + ext;
  }
};

std::string suites(std::initializer_list<std::uint16_t> ids) {
  std::string s;
  for (const auto id : ids) {
    s += u16(id);
  }
  return with_u16_length(s);
}

// What every ECDHE-ECDSA client sends: groups, point formats, signature algorithms.
Hello tls12_hello() {
  Hello h;
  h.suites = suites({0xc02b, 0xcca9}); // ECDHE-ECDSA AES-128-GCM, ChaCha20-Poly1305
  h.add(kSupportedGroups, with_u16_length(u16(kX25519) + u16(kSecp256r1)));
  h.add(kPointFormats, u8(1) + u8(0));
  h.add(kSignatureAlgorithms, with_u16_length(u16(0x0403) + u16(0x0804) + u16(0x0401)));
  return h;
}

std::string key_share(std::uint16_t group, const std::string& key) {
  return with_u16_length(u16(group) + with_u16_length(key));
}

// A TLS 1.3-only ClientHello with one key share.
Hello tls13_hello(std::uint16_t group, const std::string& key) {
  Hello h;
  h.suites = suites({0x1301}); // TLS_AES_128_GCM_SHA256
  h.add(kSupportedVersions, u8(2) + u16(0x0304));
  h.add(kSupportedGroups, with_u16_length(u16(kX25519) + u16(kSecp256r1)));
  h.add(kSignatureAlgorithms, with_u16_length(u16(0x0403) + u16(0x0804)));
  h.add(kKeyShare, key_share(group, key));
  return h;
}

// RFC 7748 §4.1: the base point u = 9 (little-endian) is a valid public key.
std::string valid_x25519_key() { return u8(9) + std::string(31, '\0'); }

std::string handshake_message(unsigned char type, const std::string& body) {
  return u8(type) + u24(body.size()) + body;
}
std::string client_hello(const Hello& h) { return handshake_message(1, h.body()); }

// Wraps `payload` in records of at most `fragment` bytes each.
std::string records(const std::string& payload, std::size_t fragment = kMaxRecord,
                    unsigned char type = kHandshakeRecord) {
  std::string out;
  for (std::size_t at = 0; at < payload.size(); at += fragment) {
    const std::string part = payload.substr(at, fragment);
    out += u8(type) + u16(0x0301) + with_u16_length(part); // RFC 8446 §5.1 legacy version
  }
  return out;
}

// A ClientHello whose one record is padded (RFC 7685) to exactly `record_size` bytes.
std::string padded_hello(std::size_t size) {
  Hello h = tls12_hello();
  const std::size_t unpadded = client_hello(h).size() + 4; // + the padding extension header
  h.add(kPadding, std::string(size - unpadded, '\0'));
  return client_hello(h);
}

// A ClientHello of `count` cipher suites: unknown ones (GREASE-like, RFC 8701) then a real one.
std::string many_suites_hello(std::size_t count) {
  Hello h = tls12_hello();
  std::string list;
  for (std::size_t i = 0; i + 1 < count; ++i) {
    list += u16(0x0a0a + ((i % 16) << 12) + ((i % 16) << 4));
  }
  list += u16(0xc02b);
  h.suites = with_u16_length(list);
  return client_hello(h);
}

enum class Outcome {
  Answers, // the server writes its flight (ServerHello first)
  Waits,   // NeedData and nothing written: the rest of the message may still come
  Refuses, // Failed, with a fatal alert as the last record written
};

struct Case {
  std::string_view name;
  std::string input; // the bytes the client sends, records included
  Outcome outcome;
  bool tls13_only = false;
};

// mbedTLS 3.6.4 and later reassemble handshake messages fragmented over records (ChangeLog), as
// long as the whole message fits in the 16 KiB input buffer; 2.28 refuses any fragmented one.
constexpr bool kReassembles = MBEDTLS_VERSION_NUMBER >= 0x03060400;
constexpr Outcome kAnswersIfReassembled = kReassembles ? Outcome::Answers : Outcome::Refuses;

std::vector<Case> cases() {
  std::vector<Case> c;
  c.push_back({"WellFormedTls12HelloGetsTheServerFlight", records(client_hello(tls12_hello())),
               Outcome::Answers});
  c.push_back({"HelloSplitOverThreeRecords", records(client_hello(tls12_hello()), 40),
               kAnswersIfReassembled});
  c.push_back(
      {"HelloFillingOneFullSizeRecord", records(padded_hello(kMaxRecord)), Outcome::Answers});
  c.push_back(
      {"HelloOfTwelveKibInTwoRecords", records(padded_hello(12000), 8000), kAnswersIfReassembled});
  // Larger than mbedTLS's input buffer (MBEDTLS_SSL_IN_CONTENT_LEN): it cannot be reassembled.
  c.push_back({"HelloOfTwentyKibInTwoRecords", records(padded_hello(20000)), Outcome::Refuses});
  c.push_back(
      {"HelloWithFourThousandCipherSuites", records(many_suites_hello(4000)), Outcome::Answers});
  {
    // One record over the limit: RFC 8446 §5.1 says record_overflow.
    const std::string hello = padded_hello(kMaxRecord + 200);
    c.push_back({"RecordLongerThanSixteenKib",
                 u8(kHandshakeRecord) + u16(0x0301) + with_u16_length(hello), Outcome::Refuses});
  }
  {
    Hello h = tls12_hello();
    h.suites = u16(40) + u16(0xc02b); // says 20 suites, has one: the rest runs into the hello
    c.push_back({"CipherSuiteLengthPastTheEnd", records(client_hello(h)), Outcome::Refuses});
  }
  {
    Hello h = tls12_hello();
    h.suites = u16(3) + u16(0xc02b) + u8(0); // odd length
    c.push_back({"OddCipherSuiteLength", records(client_hello(h)), Outcome::Refuses});
  }
  {
    Hello h = tls12_hello();
    h.session_id = u8(33) + std::string(33, '\x11'); // at most 32, RFC 8446 §4.1.2
    c.push_back({"SessionIdLongerThan32", records(client_hello(h)), Outcome::Refuses});
  }
  {
    Hello h = tls12_hello();
    h.compression = u8(1) + u8(1); // DEFLATE only: RFC 5246 §7.4.1.2 makes null mandatory
    // mbedTLS's TLS 1.2 server checks only the list's length and never compresses: harmless.
    c.push_back({"NoNullCompressionMethodInTls12", records(client_hello(h)), Outcome::Answers});
  }
  {
    Hello h = tls13_hello(kX25519, valid_x25519_key());
    h.compression = u8(1) + u8(1); // RFC 8446 §4.1.2: exactly one null byte, or illegal_parameter
    c.push_back(
        {"NoNullCompressionMethodInTls13", records(client_hello(h)), Outcome::Refuses, true});
  }
  {
    Hello h = tls12_hello();
    h.extensions_override = u16(200) + u16(kPointFormats) + u16(2) + u8(1) + u8(0);
    c.push_back({"ExtensionsLengthPastTheEnd", records(client_hello(h)), Outcome::Refuses});
  }
  {
    Hello h = tls12_hello();
    h.extensions_override = with_u16_length(u16(kPointFormats) + u16(50) + u8(1) + u8(0));
    c.push_back({"OneExtensionLongerThanTheList", records(client_hello(h)), Outcome::Refuses});
  }
  {
    // The handshake header claims 10 bytes more than the record and then the client sends data.
    const std::string body = tls12_hello().body();
    const std::string message = u8(1) + u24(body.size() + 10) + body;
    c.push_back({"HelloTruncatedThenApplicationData",
                 records(message) + records("xxxxxxxxxx", kMaxRecord, 23), Outcome::Refuses});
  }
  {
    const std::string hello = client_hello(tls12_hello());
    c.push_back({"HelloCutShortInsideItsRecord",
                 records(hello.substr(0, 4) + tls12_hello().body().substr(0, 20)),
                 kReassembles ? Outcome::Waits : Outcome::Refuses});
  }
  c.push_back({"ServerHelloSentByTheClient", records(handshake_message(2, tls12_hello().body())),
               Outcome::Refuses});
  c.push_back({"ApplicationDataBeforeAnyHello", records("USER alice\r\n", kMaxRecord, 23),
               Outcome::Refuses});
  c.push_back(
      {"EmptyHandshakeRecord", u8(kHandshakeRecord) + u16(0x0301) + u16(0), Outcome::Refuses});
  c.push_back({"WellFormedTls13HelloGetsTheServerFlight",
               records(client_hello(tls13_hello(kX25519, valid_x25519_key()))), Outcome::Answers,
               true});
  c.push_back({"X25519KeyShareOf31Bytes",
               records(client_hello(tls13_hello(kX25519, std::string(31, '\x09')))),
               Outcome::Refuses, true});
  c.push_back({"P256KeyShareNotOnTheCurve",
               records(client_hello(tls13_hello(kSecp256r1, u8(4) + std::string(64, '\x01')))),
               Outcome::Refuses, true});
  c.push_back({"P256KeyShareCompressedPoint",
               records(client_hello(tls13_hello(kSecp256r1, u8(2) + std::string(32, '\x01')))),
               Outcome::Refuses, true});
  {
    Hello h = tls13_hello(kX25519, valid_x25519_key());
    h.extensions.back().second = u16(40) + u16(kX25519) + u16(32) + valid_x25519_key();
    c.push_back({"KeyShareListLengthPastTheEnd", records(client_hello(h)), Outcome::Refuses, true});
  }
  return c;
}

// One record's header fields, from the start of `bytes`.
struct Record {
  unsigned char type;
  std::size_t length;
};

std::vector<Record> parse_records(std::string_view bytes) {
  std::vector<Record> out;
  while (bytes.size() >= 5) {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
    const std::size_t length = (std::size_t{b(3)} << 8) | b(4);
    out.push_back({b(0), length});
    bytes.remove_prefix(std::min(bytes.size(), 5 + length));
  }
  return out;
}

std::shared_ptr<const ServerContext> server_context(const testing::TempDir& dir) {
  static const testing::TestCert cert = testing::make_cert(testing::CertParams{});
  ServerOptions options;
  options.certificates = {
      CertificateSpec{dir.write("c.crt", cert.cert_pem), dir.write("c.key", cert.key_pem), {}}};
  auto context = ServerContext::create(options);
  return context ? context.value() : nullptr;
}

// Feeds `input` in pieces of `chunk` bytes, calling next() after each, as the reactor does.
Event drive(Engine& engine, std::string_view input, std::size_t chunk) {
  Event last = NeedData{};
  for (std::size_t at = 0; at < input.size(); at += chunk) {
    engine.feed(input.substr(at, chunk));
    last = engine.next();
    if (std::holds_alternative<Failed>(last)) {
      return last;
    }
  }
  return last;
}

class TlsClientHello : public ::testing::TestWithParam<Case> {
protected:
  testing::TempDir dir_;
  std::shared_ptr<const ServerContext> context_ = server_context(dir_);
};

void check_outcome(const Case& c, Engine& engine, const Event& event) {
  const std::string output = engine.take_output();
  const std::vector<Record> sent = parse_records(output);
  if (c.outcome == Outcome::Waits) {
    EXPECT_TRUE(std::holds_alternative<NeedData>(event));
    EXPECT_TRUE(output.empty());
    return;
  }
  if (c.outcome == Outcome::Answers) {
    ASSERT_FALSE(std::holds_alternative<Failed>(event)) << std::get<Failed>(event).message;
    ASSERT_FALSE(sent.empty()) << "no ServerHello";
    EXPECT_EQ(sent.front().type, kHandshakeRecord);
    return;
  }
  ASSERT_TRUE(std::holds_alternative<Failed>(event));
  const auto& failed = std::get<Failed>(event);
  EXPECT_LT(failed.code, 0);
  // mbedtls_strerror's text ("SSL - ...") is in the message, for the session log line.
  EXPECT_NE(failed.message.find("TLS handshake failed: SSL - "), std::string::npos)
      << failed.message;
  // The alert mbedTLS queued is in the output when Failed is returned: the last record sent.
  ASSERT_FALSE(sent.empty()) << "no alert for: " << failed.message;
  EXPECT_EQ(sent.back().type, kAlertRecord) << failed.message;
  EXPECT_EQ(sent.back().length, 2U);
  const auto level = static_cast<unsigned char>(output[output.size() - 2]);
  EXPECT_EQ(level, kFatal);
  // Failed is sticky: more input changes nothing and sends nothing more.
  engine.feed(records(client_hello(tls12_hello())));
  EXPECT_TRUE(std::holds_alternative<Failed>(engine.next()));
  EXPECT_FALSE(engine.has_output());
}

TEST_P(TlsClientHello, WholeAndOneByteAtATime) {
  const Case& c = GetParam();
  ASSERT_TRUE(context_);
  if (c.tls13_only && !ServerContext::tls13_available()) {
    GTEST_SKIP() << "TLS 1.3 ClientHello; this mbedTLS has no TLS 1.3";
  }
  for (const std::size_t chunk : {c.input.size(), std::size_t{1}}) {
    SCOPED_TRACE(chunk == 1 ? "one byte at a time" : "whole");
    Engine engine(context_);
    const Event event = drive(engine, c.input, chunk);
    check_outcome(c, engine, event);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, TlsClientHello, ::testing::ValuesIn(cases()),
                         [](const auto& p) { return std::string(p.param.name); });

} // namespace
} // namespace popgate::tls
