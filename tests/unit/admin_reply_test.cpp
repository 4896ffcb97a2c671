// The admin socket's replies: framing (status line, body, one empty line at the end and nowhere
// else), aligned text tables, and JSON that stays valid for any user name a client chose.

#include "proxy/admin/admin_reply.hpp"

#include <gtest/gtest.h>
#include <string>

namespace popgate::admin {
namespace {

SessionRow alice() {
  SessionRow s;
  s.id = "q7hx2kcm-7";
  s.client = "192.0.2.1:5555";
  s.listener = "pop3s";
  s.user = "alice";
  s.tls = "TLSv1.3";
  s.backend = "legacy";
  s.server = "127.0.0.1:110";
  s.state = "transaction";
  s.age_s = 12;
  s.bytes_in = 40;
  s.bytes_out = 1234;
  return s;
}

// The reply ends with exactly one empty line, and it is the only one.
void expect_framed(const std::string& bytes) {
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(bytes.substr(bytes.size() - 2), "\n\n");
  EXPECT_EQ(bytes.find("\n\n"), bytes.size() - 2) << bytes;
}

TEST(AdminReply, SessionsAsAnAlignedTable) {
  SessionRow plain = alice();
  plain.id = "q7hx2kcm-12";
  plain.user = "";
  plain.tls = "";
  plain.server = "";
  plain.state = "authorization";
  std::string text = render(sessions_reply({alice(), plain}), false);
  expect_framed(text);
  EXPECT_EQ(text, "+OK 2 sessions\n"
                  "ID           CLIENT          LISTENER  USER   TLS      BACKEND  SERVER         "
                  "STATE          AGE_S  BYTES_IN  BYTES_OUT\n"
                  "q7hx2kcm-7   192.0.2.1:5555  pop3s     alice  TLSv1.3  legacy   127.0.0.1:110  "
                  "transaction    12     40        1234\n"
                  "q7hx2kcm-12  192.0.2.1:5555  pop3s     -      -        legacy   -              "
                  "authorization  12     40        1234\n"
                  "\n");
}

TEST(AdminReply, SessionsAsJson) {
  std::string json = render(sessions_reply({alice()}), true);
  expect_framed(json);
  EXPECT_EQ(
      json,
      R"({"ok":true,"message":"1 session","sessions":[{"id":"q7hx2kcm-7","client":"192.0.2.1:5555",)"
      R"("listener":"pop3s","user":"alice","tls":"TLSv1.3","backend":"legacy",)"
      R"("server":"127.0.0.1:110","state":"transaction","age_s":12,"bytes_in":40,)"
      R"("bytes_out":1234}]})"
      "\n\n");
}

TEST(AdminReply, AnErrorIsOneLine) {
  EXPECT_EQ(render(error_reply("unknown command 'x'; try `help`"), false),
            "-ERR unknown command 'x'; try `help`\n\n");
  EXPECT_EQ(render(error_reply("no \"such\" session"), true),
            "{\"ok\":false,\"message\":\"no \\\"such\\\" session\"}\n\n");
}

TEST(AdminReply, UserNamesCannotBreakTheFraming) {
  SessionRow evil = alice();
  evil.user = "eve\r\n\r\n+OK forged";
  std::string text = render(sessions_reply({evil}), false);
  expect_framed(text);
  EXPECT_NE(text.find("eve????+OK forged"), std::string::npos) << text;
  std::string json = render(sessions_reply({evil}), true);
  expect_framed(json);
  EXPECT_NE(json.find(R"("user":"eve\r\n\r\n+OK forged")"), std::string::npos) << json;
}

TEST(AdminReply, JsonKeepsUtf8AndReplacesWhatIsNot) {
  SessionRow s = alice();
  s.user = "j\xc3\xb6rg\xff\xe2\x82";
  std::string json = render(sessions_reply({s}), true);
  EXPECT_NE(json.find("\"user\":\"j\xc3\xb6rg\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
            std::string::npos)
      << json;
  s.user = "\xed\xa0\x80"; // a UTF-16 surrogate is not UTF-8
  json = render(sessions_reply({s}), true);
  EXPECT_EQ(json.find('\xed'), std::string::npos) << json;
}

TEST(AdminReply, InfoBansAndServers) {
  InfoRow info;
  info.version = "1.2.3";
  info.uptime_s = 60;
  info.config_file = "/etc/popgate/popgate.toml";
  info.generation = 2;
  info.last_reload = "2026-01-31T12:00:00Z";
  info.last_reload_result = "ok";
  info.workers = 2;
  std::string text = render(info_reply(info), false);
  expect_framed(text);
  EXPECT_NE(text.find("\nconfig_generation: 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nlast_reload_result: ok\n"), std::string::npos) << text;
  InfoRow fresh = info;
  fresh.last_reload = fresh.last_reload_result = "";
  EXPECT_NE(render(info_reply(fresh), true).find(R"("last_reload":null)"), std::string::npos);

  std::string bans = render(
      bans_reply({{"192.0.2.0/24", true, std::nullopt}, {"198.51.100.7", false, 1799}}), false);
  EXPECT_EQ(bans, "+OK 2 bans\n"
                  "BLOCK         SOURCE     EXPIRES_IN_S\n"
                  "192.0.2.0/24  manual     -\n"
                  "198.51.100.7  automatic  1799\n"
                  "\n");
  EXPECT_EQ(render(bans_reply({}), true), R"({"ok":true,"message":"0 bans","bans":[]})"
                                          "\n\n");

  ServerRow up{"legacy", "127.0.0.1:110", true, 3, 1, false};
  ServerRow unknown{"legacy", "127.0.0.1:111", std::nullopt, std::nullopt, 0, true};
  std::string servers = render(servers_reply({up, unknown}), true);
  EXPECT_NE(servers.find(R"({"backend":"legacy","server":"127.0.0.1:111","up":null,)"
                         R"("checked_s_ago":null,"sessions":0,"disabled":true})"),
            std::string::npos)
      << servers;
  EXPECT_NE(render(servers_reply({up}), false).find("127.0.0.1:110  yes"), std::string::npos);
}

TEST(AdminReply, HelpLines) {
  Reply r;
  r.message = "commands";
  r.lines = {"show info", "show bans"};
  EXPECT_EQ(render(r, false), "+OK commands\nshow info\nshow bans\n\n");
  EXPECT_EQ(render(r, true), R"({"ok":true,"message":"commands","lines":["show info","show bans"]})"
                             "\n\n");
}

} // namespace
} // namespace popgate::admin
