// The PROXY protocol v1/v2 header parser: arbitrary first bytes of a connection, fed whole, one
// byte at a time and in pseudo-random pieces (the pieces derive from the input, so a crash
// reproduces from its file alone). Every way of feeding must reach the same decision, a Done
// header must hand back exactly the bytes after it, and what write_proxy_header() makes of the
// parsed addresses must parse back to the same addresses.

#include "fuzz_util.hpp"
#include "proxy/proxy_protocol/proxy_header.hpp"

#include <cstdint>
#include <string>
#include <string_view>

using popgate::fuzz::check;
using popgate::fuzz::Chunker;
using popgate::fuzz::HeapChunk;
using namespace popgate::proxy_protocol;
using Status = ProxyHeaderParser::Status;

namespace {

struct Outcome {
  Status status = Status::NeedData;
  std::string rest; // rest() followed by the bytes never fed, once Done
  std::optional<ProxiedAddresses> addresses;
};

bool same(const std::optional<ProxiedAddresses>& a, const std::optional<ProxiedAddresses>& b) {
  if (a.has_value() != b.has_value()) {
    return false;
  }
  return !a || (a->source == b->source && a->source_port == b->source_port &&
                a->destination == b->destination && a->destination_port == b->destination_port);
}

// Feeds `input` in the pieces `next_size` picks, stopping at the first Done or Invalid as the
// session does.
template <typename NextSize> Outcome parse(std::string_view input, NextSize next_size) {
  ProxyHeaderParser parser;
  Outcome out;
  std::size_t fed = 0;
  while (fed < input.size() && out.status == Status::NeedData) {
    const std::size_t n = std::min(next_size(), input.size() - fed);
    const HeapChunk chunk(input.substr(fed, n));
    out.status = parser.feed(chunk.view());
    fed += n;
    // Bounded: the parser decides within kMaxHeader bytes.
    check(out.status != Status::NeedData || fed <= ProxyHeaderParser::kMaxHeader);
  }
  if (out.status == Status::Done) {
    out.rest = std::string(parser.rest()) + std::string(input.substr(fed));
    out.addresses = parser.addresses();
  } else if (out.status == Status::Invalid) {
    check(!parser.error().empty());
  }
  return out;
}

void check_round_trip(ProxyVersion version, const ProxiedAddresses& addresses) {
  const std::string header = write_proxy_header(version, addresses);
  ProxyHeaderParser parser;
  check(parser.feed(header) == Status::Done);
  check(parser.rest().empty());
  check(same(parser.addresses(), addresses));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const Outcome whole = parse(input, [&] { return input.size(); });
  const Outcome bytewise = parse(input, [] { return std::size_t{1}; });
  Chunker chunker(input, 64);
  const Outcome pieces = parse(input, [&] { return chunker.next(); });

  for (const Outcome* other : {&bytewise, &pieces}) {
    check(other->status == whole.status);
    check(other->rest == whole.rest);
    check(same(other->addresses, whole.addresses));
  }
  if (whole.status != Status::Done) {
    return 0;
  }
  // rest() is what followed the header: a suffix of the input, after at most kMaxHeader bytes.
  check(input.ends_with(whole.rest));
  check(input.size() - whole.rest.size() <= ProxyHeaderParser::kMaxHeader);
  if (whole.addresses) {
    check_round_trip(ProxyVersion::V2, *whole.addresses);
    // v1 names one family for both addresses (write_proxy_header's precondition); a v2 TCP6
    // block may carry a v4-mapped address next to a native IPv6 one.
    if (whole.addresses->source.is_v4() == whole.addresses->destination.is_v4()) {
      check_round_trip(ProxyVersion::V1, *whole.addresses);
    }
  }
  return 0;
}
