// Server side: a random list of forwarded commands, then arbitrary backend bytes in arbitrary
// pieces. Invariant: the events' bytes, concatenated, are exactly a prefix of what was fed, so
// the proxy relays the backend byte for byte.

#include "fuzz_util.hpp"
#include "proxy/pop3/conversation.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>

using namespace popgate::pop3;
using popgate::fuzz::check;
using popgate::fuzz::HeapChunk;

namespace {

std::string_view bytes_of(const ServerEvent& e) {
  if (const auto* g = std::get_if<Greeting>(&e)) {
    return g->line;
  }
  if (const auto* s = std::get_if<Status>(&e)) {
    return s->raw;
  }
  if (const auto* b = std::get_if<Body>(&e)) {
    check(!b->bytes.empty());
    return b->bytes;
  }
  if (const auto* end = std::get_if<BodyEnd>(&e)) {
    check(end->raw == ".\r\n" || end->raw == ".\n");
    return end->raw;
  }
  if (const auto* c = std::get_if<Continuation>(&e)) {
    return c->raw;
  }
  return {};
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto max_response = in.ConsumeIntegralInRange<std::size_t>(16, 256);
  Conversation conv(Options{.max_response_line = max_response});
  const auto commands = in.ConsumeIntegralInRange<int>(0, 16);
  for (int i = 0; i < commands; ++i) {
    const auto verb = static_cast<Verb>(in.ConsumeIntegralInRange<int>(0, kVerbCount - 1));
    conv.command_forwarded(verb, in.ConsumeBool() ? "1" : "");
  }
  std::string fed;
  std::string relayed;
  bool failed = false;
  while (in.remaining_bytes() > 0 && !failed) {
    const std::string bytes = in.ConsumeRandomLengthString(128);
    fed += bytes;
    const HeapChunk chunk(bytes);
    conv.feed_server(chunk.view());
    while (true) {
      const ServerEvent e = conv.next_server();
      if (std::holds_alternative<NeedData>(e)) {
        break;
      }
      if (std::holds_alternative<ServerError>(e)) {
        failed = true;
        break;
      }
      relayed += bytes_of(e);
      check(relayed.size() <= fed.size() && fed.compare(0, relayed.size(), relayed) == 0);
    }
  }
  return 0;
}
