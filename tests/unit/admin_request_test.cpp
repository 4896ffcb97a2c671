// The admin socket's request parser: every command with its arguments, keywords in any case,
// the json prefix, and each kind of bad line with the reason an operator reads.

#include "proxy/admin/admin_request.hpp"

#include <array>
#include <gtest/gtest.h>
#include <string>

namespace popgate::admin {
namespace {

using std::chrono::minutes;

struct Good {
  std::string_view name;
  std::string_view line;
  Verb verb;
};

const auto kGood = std::to_array<Good>({
    {"help", "help", Verb::Help},
    {"show_info", "show info", Verb::ShowInfo},
    {"show_sessions_in_upper_case", "SHOW SESSIONS", Verb::ShowSessions},
    {"show_bans_with_extra_blanks", "  show \t bans  ", Verb::ShowBans},
    {"show_servers", "show servers", Verb::ShowServers},
    {"ban_an_address", "ban 192.0.2.7", Verb::Ban},
    {"ban_a_block_for_a_while", "ban 2001:db8::/32 12h", Verb::Ban},
    {"unban", "unban 192.0.2.0/24", Verb::Unban},
    {"kick_session", "kick session q7hx2kcm-42", Verb::KickSession},
    {"kick_user", "kick user alice", Verb::KickUser},
    {"kick_client", "kick client 198.51.100.9", Verb::KickClient},
    {"disable_server", "disable server legacy 127.0.0.1:110", Verb::DisableServer},
    {"enable_server", "Enable Server legacy [2001:db8::1]:110", Verb::EnableServer},
});

class GoodRequest : public testing::TestWithParam<Good> {};

TEST_P(GoodRequest, Parses) {
  auto r = parse_request(GetParam().line);
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r.value().verb, GetParam().verb);
  EXPECT_FALSE(r.value().json);
  auto json = parse_request("json " + std::string(GetParam().line));
  ASSERT_TRUE(json.has_value()) << json.error();
  EXPECT_TRUE(json.value().json);
  EXPECT_EQ(json.value().verb, GetParam().verb);
}

INSTANTIATE_TEST_SUITE_P(Admin, GoodRequest, testing::ValuesIn(kGood),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(AdminRequest, ArgumentsArePassedOn) {
  auto ban = parse_request("ban 198.51.100.77/24 30m").value();
  EXPECT_EQ(ban.block->to_string(), "198.51.100.0/24");
  EXPECT_EQ(ban.duration, minutes(30));
  EXPECT_FALSE(parse_request("ban 198.51.100.7").value().duration.has_value());
  EXPECT_EQ(parse_request("kick session q7hx2kcm-42").value().session, "q7hx2kcm-42");
  EXPECT_EQ(parse_request("kick user Jane Doe ").value().name, "Jane Doe");
  auto disable = parse_request("disable server legacy 127.0.0.1:110").value();
  EXPECT_EQ(disable.name, "legacy");
  EXPECT_EQ(disable.server, "127.0.0.1:110");
  EXPECT_EQ(verb_name(Verb::KickUser), "kick_user");
  EXPECT_TRUE(changes_state(Verb::Ban));
  EXPECT_FALSE(changes_state(Verb::ShowSessions));
}

struct Bad {
  std::string_view name;
  std::string_view line;
  std::string_view reason_fragment;
};

const auto kBad = std::to_array<Bad>({
    {"empty", "", "empty request"},
    {"only_json", "json", "empty request"},
    {"unknown_verb", "reboot now", "unknown command 'reboot'"},
    {"show_what", "show users", "usage: show info"},
    {"show_with_extra", "show info please", "usage: show info"},
    {"ban_without_address", "ban", "usage: ban ADDR|CIDR [DURATION]"},
    {"ban_a_host_name", "ban mail.example.com", "'mail.example.com' is not an address"},
    {"ban_a_bad_prefix", "ban 192.0.2.0/33", "is not an address or CIDR block"},
    {"ban_a_bad_duration", "ban 192.0.2.7 forever", "'forever' is not a duration"},
    {"ban_a_zero_duration", "ban 192.0.2.7 0", "'0' is not a duration"},
    {"ban_with_extra", "ban 192.0.2.7 1h later", "unexpected 'later'"},
    {"unban_with_duration", "unban 192.0.2.7 1h", "unexpected '1h'"},
    {"kick_nothing", "kick", "usage: kick session ID"},
    {"kick_session_with_odd_characters", "kick session ab;c", "'ab;c' is not a session id"},
    {"kick_session_too_long",
     "kick session aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "is not a session id"},
    {"kick_session_twice", "kick session a-1 a-2", "'a-1' is not a session id"},
    {"kick_user_without_name", "kick user", "usage: kick user NAME"},
    {"kick_client_host_name", "kick client localhost", "is not an address"},
    {"disable_without_server", "disable server legacy", "usage: disable server BACKEND"},
    {"disable_backend", "disable backend legacy 127.0.0.1:110", "usage: disable server"},
    {"control_characters", "show\x01info", "control characters"},
    {"help_with_argument", "help me", "unknown command 'help'"},
});

class BadRequest : public testing::TestWithParam<Bad> {};

TEST_P(BadRequest, IsRefusedWithAReason) {
  auto r = parse_request(GetParam().line);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find(GetParam().reason_fragment), std::string::npos) << r.error();
  EXPECT_EQ(r.error().find('\n'), std::string::npos) << "one line";
}

INSTANTIATE_TEST_SUITE_P(Admin, BadRequest, testing::ValuesIn(kBad),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(AdminRequest, PeerTextInAReasonIsPrintableAndShort) {
  std::string line = "reboot" + std::string(500, 'x');
  auto r = parse_request(line);
  ASSERT_FALSE(r.has_value());
  EXPECT_LT(r.error().size(), 120u);
  auto high = parse_request("\xff\xfe now");
  ASSERT_FALSE(high.has_value());
  EXPECT_NE(high.error().find("'?"
                              "?'"),
            std::string::npos)
      << high.error();
}

TEST(AdminRequest, OverLongLineIsRefused) {
  auto r = parse_request(std::string(kMaxRequestLine, 'a'));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), "request line too long");
}

} // namespace
} // namespace popgate::admin
