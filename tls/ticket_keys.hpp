#pragma once

// Session-ticket keys: what seals a TLS session into a ticket and opens it again, on every
// replica that holds the same keys.
//
// mbedTLS's own ticket context (ssl_ticket.h) makes its keys itself and keeps two, so replicas
// cannot share them and a reload loses them. This class holds a list instead: the newest key
// seals, every key opens. The keys come either from a ticket key file (`[tls] ticket_key_file`,
// format below) or are generated in the process; generated keys rotate every ticket lifetime
// and the previous one still opens, as mbedTLS's do.
//
// A ticket key file is text: one key per line, the base64 of 32 random bytes (what
// `popgate --new-ticket-key` or `openssl rand -base64 32` prints), the newest key last. Empty
// lines and lines starting with '#' are ignored. To rotate: append a new key on every replica,
// reload, and drop the oldest line some time later (at least one ticket_lifetime later, so the
// tickets it sealed have expired).
//
// Each 32-byte secret is never used directly: HMAC-SHA-256 derives from it a 16-byte key name
// (RFC 5077 §4's key_name, which tells which key sealed a ticket) and the AES-256-GCM key.
//
// A ticket is key_name(16) | iv(12) | AES-256-GCM(issued(8) | state) | tag(16), with key_name
// as additional data. `issued` is the unix time the ticket was sealed; a ticket older than the
// lifetime (or issued more than kClockSkew in the future) does not open, whichever key it names.
//
// Thread-safe: one mutex guards the keys and their GCM contexts; seal and open are short.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace popgate::tls {

enum class TicketError {
  Malformed,  // shorter than a ticket, or too small a buffer to seal into
  UnknownKey, // sealed by a key this process does not hold (rotated out, or another fleet)
  BadTag,     // names a key we hold but does not authenticate: forged or corrupted
  Expired,    // older than the lifetime, or issued in the future beyond kClockSkew
  Crypto,     // the cipher or random generator failed
};

std::string_view describe(TicketError error);

class TicketKeys {
public:
  static constexpr std::size_t kSecretBytes = 32;
  static constexpr std::size_t kNameBytes = 16;
  static constexpr std::size_t kIvBytes = 12;
  static constexpr std::size_t kIssuedBytes = 8;
  static constexpr std::size_t kTagBytes = 16;
  // Where seal() expects the state to have been written already: after the clear header and
  // the issue time.
  static constexpr std::size_t kStateOffset = kNameBytes + kIvBytes + kIssuedBytes;
  static constexpr std::size_t kOverhead = kStateOffset + kTagBytes;
  // Replicas' clocks differ a little; a ticket "from the future" by less than this still opens.
  static constexpr std::chrono::seconds kClockSkew{60};
  // More keys than this in a file is a mistake (a key appended every minute, never dropped).
  static constexpr std::size_t kMaxKeys = 64;

  ~TicketKeys();
  TicketKeys(const TicketKeys&) = delete;
  TicketKeys& operator=(const TicketKeys&) = delete;

  // Keys from a ticket key file's text (format above). They never rotate on their own: the
  // file is the admin's to rotate. The error names the line and what is wrong, never a key.
  static Result<std::shared_ptr<TicketKeys>, std::string> from_file_text(std::string_view text);

  // One random key made at `now` (unix seconds); seal() replaces it once it is a lifetime old,
  // keeping the previous one to open the tickets it sealed.
  static Result<std::shared_ptr<TicketKeys>, std::string> generate(std::int64_t now);

  // One new line for a ticket key file (base64 of kSecretBytes random bytes, no newline).
  static Result<std::string, std::string> new_key_line();

  // `ticket` holds `state_length` bytes of session state at kStateOffset and room for
  // kOverhead - kStateOffset more bytes after them. Fills in the header, encrypts in place and
  // appends the tag. Returns the ticket's length (state_length + kOverhead).
  Result<std::size_t, TicketError> seal(std::span<unsigned char> ticket, std::size_t state_length,
                                        std::int64_t now, std::chrono::seconds lifetime);

  // Authenticates and decrypts `ticket` in place; returns the session state inside it (a view
  // into `ticket`).
  Result<std::span<const unsigned char>, TicketError>
  open(std::span<unsigned char> ticket, std::int64_t now, std::chrono::seconds lifetime);

  // Whether the keys came from a file (false: generated, and rotating).
  [[nodiscard]] bool from_file() const;
  // How many keys open tickets now.
  [[nodiscard]] std::size_t size() const;

private:
  struct State;
  explicit TicketKeys(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

} // namespace popgate::tls
