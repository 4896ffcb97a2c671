#include "tls/ticket_keys.hpp"

#include <algorithm>
#include <array>
#include <mutex>
#include <vector>

#include "tls/mbedtls_compat.hpp"
#include "tls/mbedtls_error.hpp"

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

namespace popgate::tls {
namespace {

using Secret = std::array<unsigned char, TicketKeys::kSecretBytes>;

constexpr std::string_view kPersonalization = "popgate ticket keys";
// Labels for the two HMAC-SHA-256 derivations (see the header): distinct, so a key name never
// reveals anything about the encryption key.
constexpr std::string_view kNameLabel = "popgate ticket key name";
constexpr std::string_view kCipherLabel = "popgate ticket encryption key";

// A seeded CTR-DRBG of its own: the keys outlive every ServerContext (and its generator).
class Random {
public:
  Random() {
    mbedtls_entropy_init(&entropy_);
    mbedtls_ctr_drbg_init(&drbg_);
  }
  ~Random() {
    mbedtls_ctr_drbg_free(&drbg_);
    mbedtls_entropy_free(&entropy_);
  }
  Random(const Random&) = delete;
  Random& operator=(const Random&) = delete;

  int seed() {
    return mbedtls_ctr_drbg_seed(&drbg_, mbedtls_entropy_func, &entropy_,
                                 reinterpret_cast<const unsigned char*>(kPersonalization.data()),
                                 kPersonalization.size());
  }
  int fill(unsigned char* out, std::size_t length) {
    return mbedtls_ctr_drbg_random(&drbg_, out, length);
  }

private:
  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context drbg_;
};

struct Key {
  Key() { mbedtls_gcm_init(&gcm); }
  ~Key() { mbedtls_gcm_free(&gcm); }
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;

  std::array<unsigned char, TicketKeys::kNameBytes> name{};
  mbedtls_gcm_context gcm;
  std::int64_t created = 0; // generated keys: when, for rotation
};

int derive(const Secret& secret, std::string_view label, unsigned char* out) {
  return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), secret.data(), secret.size(),
                         reinterpret_cast<const unsigned char*>(label.data()), label.size(), out);
}

// The key name and the AES-256-GCM key, both derived from the secret.
Result<std::unique_ptr<Key>, std::string> make_key(const Secret& secret, std::int64_t created) {
  auto key = std::make_unique<Key>();
  key->created = created;
  std::array<unsigned char, 32> derived{};
  int rc = derive(secret, kNameLabel, derived.data());
  std::copy_n(derived.begin(), key->name.size(), key->name.begin());
  if (rc == 0) {
    rc = derive(secret, kCipherLabel, derived.data());
  }
  if (rc == 0) {
    rc = mbedtls_gcm_setkey(&key->gcm, MBEDTLS_CIPHER_ID_AES, derived.data(), 256);
  }
  mbedtls_platform_zeroize(derived.data(), derived.size());
  if (rc != 0) {
    return unexpected("cannot set up a ticket key: " + mbedtls_error_text(rc));
  }
  return key;
}

void put_u64(unsigned char* out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<unsigned char>(v & 0xffU);
    v >>= 8U;
  }
}

std::uint64_t get_u64(const unsigned char* in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8U) | in[i];
  }
  return v;
}

std::string_view trim(std::string_view s) {
  const auto not_space = [](char c) { return c != ' ' && c != '\t' && c != '\r'; };
  while (!s.empty() && !not_space(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && !not_space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

} // namespace

std::string_view describe(TicketError error) {
  switch (error) {
  case TicketError::Malformed:
    return "malformed ticket";
  case TicketError::UnknownKey:
    return "ticket sealed by a key this process does not hold";
  case TicketError::BadTag:
    return "ticket does not authenticate";
  case TicketError::Expired:
    return "ticket expired";
  case TicketError::Crypto:
    return "ticket cipher failed";
  }
  return "ticket error";
}

struct TicketKeys::State {
  std::mutex mutex;
  Random random;
  std::vector<std::unique_ptr<Key>> keys; // oldest first; the last one seals
  bool from_file = false;
};

TicketKeys::TicketKeys(std::unique_ptr<State> state) : state_(std::move(state)) {}
TicketKeys::~TicketKeys() = default;

bool TicketKeys::from_file() const { return state_->from_file; }

std::size_t TicketKeys::size() const {
  const std::lock_guard lock(state_->mutex);
  return state_->keys.size();
}

Result<std::shared_ptr<TicketKeys>, std::string> TicketKeys::from_file_text(std::string_view text) {
  auto state = std::make_unique<State>();
  state->from_file = true;
  if (const int rc = state->random.seed(); rc != 0) {
    return unexpected("cannot seed the random generator: " + mbedtls_error_text(rc));
  }
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const std::size_t end = std::min(text.find('\n'), text.size());
    const std::string_view line = trim(text.substr(0, end));
    text.remove_prefix(std::min(end + 1, text.size()));
    if (line.empty() || line.front() == '#') {
      continue;
    }
    // Room for a few bytes more than a secret, so a too-long key is reported as such.
    std::array<unsigned char, kSecretBytes + 16> decoded{};
    std::size_t length = 0;
    const int rc =
        mbedtls_base64_decode(decoded.data(), decoded.size(), &length,
                              reinterpret_cast<const unsigned char*>(line.data()), line.size());
    Secret secret{};
    const bool ok = rc == 0 && length == kSecretBytes;
    std::copy_n(decoded.begin(), secret.size(), secret.begin());
    mbedtls_platform_zeroize(decoded.data(), decoded.size());
    if (!ok) {
      mbedtls_platform_zeroize(secret.data(), secret.size());
      return unexpected("line " + std::to_string(line_number) + ": not a ticket key; each line " +
                        "must be the base64 of 32 random bytes (popgate --new-ticket-key " +
                        "prints one)");
    }
    auto key = make_key(secret, 0);
    mbedtls_platform_zeroize(secret.data(), secret.size());
    if (!key) {
      return unexpected("line " + std::to_string(line_number) + ": " + key.error());
    }
    if (state->keys.size() == kMaxKeys) {
      return unexpected("line " + std::to_string(line_number) + ": more than " +
                        std::to_string(kMaxKeys) + " keys; drop the oldest lines");
    }
    state->keys.push_back(std::move(key).value());
  }
  if (state->keys.empty()) {
    return unexpected(std::string("no keys in the file; add one made by popgate --new-ticket-key"));
  }
  return std::shared_ptr<TicketKeys>(new TicketKeys(std::move(state)));
}

Result<std::shared_ptr<TicketKeys>, std::string> TicketKeys::generate(std::int64_t now) {
  auto state = std::make_unique<State>();
  if (const int rc = state->random.seed(); rc != 0) {
    return unexpected("cannot seed the random generator: " + mbedtls_error_text(rc));
  }
  Secret secret{};
  int rc = state->random.fill(secret.data(), secret.size());
  auto key = rc == 0 ? make_key(secret, now) : unexpected(mbedtls_error_text(rc));
  mbedtls_platform_zeroize(secret.data(), secret.size());
  if (!key) {
    return unexpected("cannot make a ticket key: " + key.error());
  }
  state->keys.push_back(std::move(key).value());
  return std::shared_ptr<TicketKeys>(new TicketKeys(std::move(state)));
}

Result<std::string, std::string> TicketKeys::new_key_line() {
  Random random;
  Secret secret{};
  int rc = random.seed();
  if (rc == 0) {
    rc = random.fill(secret.data(), secret.size());
  }
  std::array<unsigned char, 64> encoded{};
  std::size_t length = 0;
  if (rc == 0) {
    rc = mbedtls_base64_encode(encoded.data(), encoded.size(), &length, secret.data(),
                               secret.size());
  }
  mbedtls_platform_zeroize(secret.data(), secret.size());
  if (rc != 0) {
    return unexpected("cannot make a ticket key: " + mbedtls_error_text(rc));
  }
  std::string line(reinterpret_cast<const char*>(encoded.data()), length);
  mbedtls_platform_zeroize(encoded.data(), encoded.size());
  return line;
}

Result<std::size_t, TicketError> TicketKeys::seal(std::span<unsigned char> ticket,
                                                  std::size_t state_length, std::int64_t now,
                                                  std::chrono::seconds lifetime) {
  if (ticket.size() < kOverhead || state_length > ticket.size() - kOverhead) {
    return unexpected(TicketError::Malformed);
  }
  State& s = *state_;
  const std::lock_guard lock(s.mutex);
  // Generated keys rotate once the sealing key is a lifetime old; the one before stays to open
  // what it sealed (which expires within a lifetime), anything older goes.
  if (!s.from_file && now - s.keys.back()->created >= lifetime.count()) {
    Secret secret{};
    const int rc = s.random.fill(secret.data(), secret.size());
    auto key = rc == 0 ? make_key(secret, now) : unexpected(std::string());
    mbedtls_platform_zeroize(secret.data(), secret.size());
    if (!key) {
      return unexpected(TicketError::Crypto);
    }
    s.keys.push_back(std::move(key).value());
    if (s.keys.size() > 2) {
      s.keys.erase(s.keys.begin(), s.keys.end() - 2);
    }
  }
  Key& key = *s.keys.back();
  unsigned char* const name = ticket.data();
  unsigned char* const iv = name + kNameBytes;
  unsigned char* const sealed = iv + kIvBytes; // issued | state, encrypted in place
  const std::size_t sealed_length = kIssuedBytes + state_length;
  std::copy(key.name.begin(), key.name.end(), name);
  if (s.random.fill(iv, kIvBytes) != 0) {
    return unexpected(TicketError::Crypto);
  }
  put_u64(sealed, static_cast<std::uint64_t>(now));
  if (mbedtls_gcm_crypt_and_tag(&key.gcm, MBEDTLS_GCM_ENCRYPT, sealed_length, iv, kIvBytes, name,
                                kNameBytes, sealed, sealed, kTagBytes,
                                sealed + sealed_length) != 0) {
    return unexpected(TicketError::Crypto);
  }
  return state_length + kOverhead;
}

Result<std::span<const unsigned char>, TicketError>
TicketKeys::open(std::span<unsigned char> ticket, std::int64_t now, std::chrono::seconds lifetime) {
  if (ticket.size() < kOverhead) {
    return unexpected(TicketError::Malformed);
  }
  unsigned char* const name = ticket.data();
  unsigned char* const iv = name + kNameBytes;
  unsigned char* const sealed = iv + kIvBytes;
  const std::size_t sealed_length = ticket.size() - kNameBytes - kIvBytes - kTagBytes;
  const unsigned char* const tag = sealed + sealed_length;

  State& s = *state_;
  const std::lock_guard lock(s.mutex);
  const auto it = std::find_if(s.keys.begin(), s.keys.end(), [name](const auto& k) {
    return std::equal(k->name.begin(), k->name.end(), name);
  });
  if (it == s.keys.end()) {
    return unexpected(TicketError::UnknownKey);
  }
  // Decrypted in place: on a bad tag the buffer holds garbage, which nobody reads.
  if (mbedtls_gcm_auth_decrypt(&(*it)->gcm, sealed_length, iv, kIvBytes, name, kNameBytes, tag,
                               kTagBytes, sealed, sealed) != 0) {
    return unexpected(TicketError::BadTag);
  }
  const auto issued = static_cast<std::int64_t>(get_u64(sealed));
  if (now - issued > lifetime.count() || issued - now > kClockSkew.count()) {
    return unexpected(TicketError::Expired);
  }
  return std::span<const unsigned char>(sealed + kIssuedBytes, sealed_length - kIssuedBytes);
}

} // namespace popgate::tls
