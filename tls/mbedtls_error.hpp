#pragma once

#include <string>

namespace popgate::tls {

// mbedtls_strerror() text for an mbedTLS error code, e.g.
// "SSL - Processing of the ClientHello handshake message failed (-0x7900)".
// Error messages quote it so an admin can look the code up in mbedTLS's documentation.
std::string mbedtls_error_text(int code);

} // namespace popgate::tls
