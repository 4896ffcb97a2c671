// Client side: arbitrary bytes in arbitrary pieces; the proxy's choices (forward, answer
// locally, STLS) come from the input too.

#include "fuzz_util.hpp"
#include "proxy/pop3/conversation.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>

using namespace popgate::pop3;
using popgate::fuzz::check;
using popgate::fuzz::HeapChunk;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto max_line = in.ConsumeIntegralInRange<std::size_t>(16, 96);
  Conversation conv(Options{.max_line_length = max_line});
  while (in.remaining_bytes() > 0) {
    const std::string bytes = in.ConsumeRandomLengthString(64);
    const HeapChunk chunk(bytes);
    conv.feed_client(chunk.view());
    for (int guard = 0; guard < 10000; ++guard) {
      const State before = conv.state();
      const ClientEvent e = conv.next_client();
      if (std::holds_alternative<NeedData>(e)) {
        break;
      }
      if (const auto* cmd = std::get_if<Command>(&e)) {
        check(cmd->raw.size() >= 2 && cmd->raw.size() <= max_line);
        check(cmd->raw.substr(cmd->raw.size() - 2) == "\r\n");
        check(cmd->verb != Verb::Unknown && valid_in(cmd->verb, before));
        check(cmd->raw.find('\0') == std::string_view::npos);
        if (in.ConsumeBool()) {
          conv.command_forwarded(*cmd);
        } else {
          const bool ok = in.ConsumeBool();
          conv.command_answered_locally(*cmd, ok);
          if (cmd->verb == Verb::Stls && ok) {
            conv.discard_client_input();
            check(conv.client_buffered() == 0);
            conv.set_tls_active();
          }
        }
      } else if (const auto* sasl = std::get_if<SaslResponse>(&e)) {
        check(sasl->raw.size() >= 2 && sasl->raw.size() <= max_line);
      }
    }
    check(conv.user().size() <= max_line);
  }
  return 0;
}
