// Both streams of one session interleaved: the input is a script of "client sends these bytes"
// and "backend sends these bytes" steps. The harness plays a proxy that forwards every valid
// command and answers STLS itself. Checks the state machine's invariants along the way.

#include "fuzz_util.hpp"
#include "proxy/pop3/conversation.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>

using namespace popgate::pop3;
using popgate::fuzz::check;
using popgate::fuzz::HeapChunk;

namespace {

void pull_client(Conversation& conv) {
  for (int guard = 0; guard < 10000; ++guard) {
    const State before = conv.state();
    const ClientEvent e = conv.next_client();
    if (std::holds_alternative<NeedData>(e)) {
      return;
    }
    if (const auto* cmd = std::get_if<Command>(&e)) {
      check(valid_in(cmd->verb, before));
      if (cmd->verb == Verb::Stls) {
        conv.command_answered_locally(*cmd, true);
        conv.discard_client_input();
        conv.set_tls_active();
      } else {
        conv.command_forwarded(*cmd);
      }
    } else if (std::holds_alternative<SaslResponse>(e)) {
      check(before == State::AuthExchange);
    }
  }
  check(false); // next_client() must reach NeedData
}

bool pull_server(Conversation& conv) {
  for (int guard = 0; guard < 100000; ++guard) {
    const unsigned failures = conv.auth_failures();
    const ServerEvent e = conv.next_server();
    if (std::holds_alternative<NeedData>(e)) {
      return true;
    }
    if (std::holds_alternative<ServerError>(e)) {
      return false;
    }
    if (const auto* s = std::get_if<Status>(&e)) {
      check(conv.auth_failures() == failures + (s->auth == AuthResult::Failure ? 1u : 0u));
      if (s->auth == AuthResult::Success) {
        check(conv.state() == State::Transaction || conv.state() == State::Update);
      }
    }
  }
  check(false);
  return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  Conversation conv(Options{.max_line_length = 64, .max_response_line = 128});
  bool server_ok = true;
  while (in.remaining_bytes() > 0) {
    const bool client = in.ConsumeBool();
    const std::string bytes = in.ConsumeRandomLengthString(96);
    const HeapChunk chunk(bytes);
    if (client) {
      conv.feed_client(chunk.view());
    } else if (server_ok) {
      conv.feed_server(chunk.view());
      server_ok = pull_server(conv);
    }
    pull_client(conv);
  }
  return 0;
}
