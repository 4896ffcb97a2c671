#pragma once

// The little SASL that a POP3 proxy has to understand: base64 (RFC 4648 §4), mechanism names
// (RFC 4422 §3.1), and the user name a client claims in PLAIN (RFC 4616) and LOGIN
// (draft-murchison-sasl-login). Passwords are decoded only into scratch buffers that are wiped
// before returning; nothing here keeps them.

#include <optional>
#include <string>
#include <string_view>

namespace popgate::pop3 {

// RFC 4422 §3.1: 1 to 20 characters from [A-Z0-9-_]. Lower case is accepted too, since
// RFC 5034 §4 treats the mechanism name case-insensitively.
bool is_mechanism_name(std::string_view name);

// Canonical base64 with padding, no whitespace. The empty string is valid (zero octets).
bool is_base64(std::string_view text);

// Decodes canonical base64; nullopt when is_base64() is false.
std::optional<std::string> base64_decode(std::string_view text);

// PLAIN message "[authzid] NUL authcid NUL passwd" (RFC 4616 §2), base64-encoded: returns the
// authcid, the identity whose password is checked. The authzid is ignored. nullopt when the
// message is malformed or the authcid is empty.
std::optional<std::string> plain_authcid(std::string_view base64_message);

// LOGIN's first client response is the user name in base64. nullopt when not base64 or empty.
std::optional<std::string> login_user(std::string_view base64_response);

// Overwrites the string's bytes in a way the optimiser keeps, then empties it.
void secure_clear(std::string& s);

} // namespace popgate::pop3
