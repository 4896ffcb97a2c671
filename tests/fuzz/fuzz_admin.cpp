// The admin socket's request parser and reply formatter: an arbitrary request line (what any
// member of the socket's group can send) and arbitrary text in every reply field (a user name
// is chosen by a POP3 client). The parser must refuse with a one-line printable reason or give
// a request whose arguments are valid; every reply must keep its framing, whatever its text:
// one status line first, exactly one empty line, at the end.

#include "fuzz_util.hpp"
#include "proxy/admin/admin_reply.hpp"
#include "proxy/admin/admin_request.hpp"

#include <cstdint>
#include <string>
#include <string_view>

using popgate::fuzz::check;
using namespace popgate::admin;

namespace {

void check_framed(const std::string& bytes, bool json) {
  check(bytes.size() >= 2 && bytes.compare(bytes.size() - 2, 2, "\n\n") == 0);
  check(bytes.find("\n\n") == bytes.size() - 2);
  check(json ? bytes.front() == '{'
             : (bytes.rfind("+OK ", 0) == 0 || bytes.rfind("-ERR ", 0) == 0));
  if (json) {
    check(bytes.find('\n') == bytes.size() - 2); // one line; no raw control character
    for (char c : bytes.substr(0, bytes.size() - 2)) {
      check(static_cast<unsigned char>(c) >= 0x20);
    }
  }
}

void check_request(const Request& r) {
  switch (r.verb) {
  case Verb::Ban:
    check(r.block.has_value());
    check(!r.duration || r.duration->count() > 0);
    break;
  case Verb::Unban:
  case Verb::KickClient:
    check(r.block.has_value() && !r.duration);
    break;
  case Verb::KickUser:
    check(!r.name.empty() && r.name.back() != ' ');
    break;
  case Verb::DisableServer:
  case Verb::EnableServer:
    check(!r.name.empty() && !r.server.empty());
    break;
  default:
    break;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const popgate::fuzz::HeapChunk chunk(std::string_view(reinterpret_cast<const char*>(data), size));
  const std::string_view line = chunk.view();
  auto parsed = parse_request(line);
  if (parsed.has_value()) {
    check(line.size() < kMaxRequestLine);
    check_request(parsed.value());
    check(!verb_name(parsed.value().verb).empty());
  } else {
    const std::string& reason = parsed.error();
    check(!reason.empty() && reason.find('\n') == std::string::npos);
    for (char c : reason) {
      check(static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f);
    }
  }

  // The input as every text a reply carries.
  const std::string text(line);
  SessionRow s;
  s.client = s.listener = s.user = s.tls = s.backend = s.server = s.state = text;
  InfoRow info;
  info.version = info.config_file = info.last_reload = info.last_reload_result = text;
  for (bool json : {false, true}) {
    check_framed(render(sessions_reply({s, s}), json), json);
    check_framed(render(info_reply(info), json), json);
    check_framed(render(bans_reply({{text, true, std::nullopt}}), json), json);
    check_framed(render(servers_reply({{text, text, true, 1, 2, false}}), json), json);
    check_framed(render(error_reply(text), json), json);
  }
  return 0;
}
