// The command line (SPEC section 2) through getopt_long: every spelling of -c, the action
// flags, and the error for each kind of mistake.

#include "proxy/server/command_line.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace popgate::proxy {
namespace {

// argv as main() gets it: writable strings, argv[0] the program, a null pointer at the end.
Result<CommandLine, std::string> parse(const std::vector<std::string_view>& args) {
  std::vector<std::string> words{"popgate"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(words.size() + 1);
  for (auto& w : words) {
    argv.push_back(w.data());
  }
  argv.push_back(nullptr);
  return parse_command_line(static_cast<int>(words.size()), argv.data());
}

struct Accepted {
  std::string_view name;
  std::vector<std::string_view> args;
  Action action;
  std::string_view config_path;
};

class CommandLineAccepts : public testing::TestWithParam<Accepted> {};

TEST_P(CommandLineAccepts, WithThisActionAndConfig) {
  const auto& c = GetParam();
  auto line = parse(c.args);
  ASSERT_TRUE(line.has_value()) << line.error();
  EXPECT_EQ(line.value().action, c.action);
  EXPECT_EQ(line.value().config_path, c.config_path);
  EXPECT_TRUE(line.value().rest.empty());
}

const auto kAccepted = std::to_array<Accepted>({
    {"nothing_runs_with_the_default_config", {}, Action::Run, kDefaultConfigPath},
    {"short_c_with_a_separate_file", {"-c", "/tmp/a.toml"}, Action::Run, "/tmp/a.toml"},
    {"short_c_with_the_file_attached", {"-c/tmp/a.toml"}, Action::Run, "/tmp/a.toml"},
    {"long_config_with_a_separate_file", {"--config", "a.toml"}, Action::Run, "a.toml"},
    {"long_config_with_equals", {"--config=a.toml"}, Action::Run, "a.toml"},
    {"a_unique_prefix_of_a_long_option", {"--conf=a.toml"}, Action::Run, "a.toml"},
    {"the_last_config_wins", {"-c", "a.toml", "--config", "b.toml"}, Action::Run, "b.toml"},
    {"check_after_the_config", {"-c", "a.toml", "--check"}, Action::Check, "a.toml"},
    {"check_before_the_config", {"--check", "--config=a.toml"}, Action::Check, "a.toml"},
    {"check_given_twice", {"--check", "--check"}, Action::Check, kDefaultConfigPath},
    {"healthcheck", {"--healthcheck", "-c", "a.toml"}, Action::Healthcheck, "a.toml"},
    {"new_ticket_key", {"--new-ticket-key"}, Action::NewTicketKey, kDefaultConfigPath},
    {"long_version", {"--version"}, Action::Version, kDefaultConfigPath},
    {"short_version", {"-V"}, Action::Version, kDefaultConfigPath},
    {"long_help", {"--help"}, Action::Help, kDefaultConfigPath},
    {"short_help", {"-h"}, Action::Help, kDefaultConfigPath},
    {"a_file_named_like_an_option_after_c", {"-c", "--check"}, Action::Run, "--check"},
});

INSTANTIATE_TEST_SUITE_P(Spellings, CommandLineAccepts, testing::ValuesIn(kAccepted),
                         [](const auto& test) { return std::string(test.param.name); });

struct Refused {
  std::string_view name;
  std::vector<std::string_view> args;
  std::string_view error;
};

class CommandLineRefuses : public testing::TestWithParam<Refused> {};

TEST_P(CommandLineRefuses, WithThisError) {
  const auto& c = GetParam();
  auto line = parse(c.args);
  ASSERT_FALSE(line.has_value());
  EXPECT_EQ(line.error(), c.error);
}

const auto kRefused = std::to_array<Refused>({
    {"short_c_without_a_file", {"-c"}, "option '-c' needs an argument"},
    {"long_config_without_a_file", {"--config"}, "option '--config' needs an argument"},
    {"check_then_c_without_a_file", {"--check", "-c"}, "option '-c' needs an argument"},
    {"an_unknown_long_option", {"--verbose"}, "unknown option '--verbose'"},
    {"an_unknown_long_option_with_a_value", {"--colour=red"}, "unknown option '--colour'"},
    {"an_unknown_short_option", {"-x"}, "unknown option '-x'"},
    {"an_unknown_letter_in_a_cluster", {"-Vx"}, "unknown option '-x'"},
    {"a_value_for_a_flag_without_one", {"--check=yes"}, "option '--check' takes no argument"},
    {"an_ambiguous_prefix", {"--c", "a.toml"}, "option '--c' is ambiguous"},
    {"a_stray_word", {"-c", "a.toml", "extra"}, "unexpected argument 'extra'"},
    {"two_actions",
     {"--check", "--version"},
     "--version cannot be combined with another action flag"},
});

INSTANTIATE_TEST_SUITE_P(Mistakes, CommandLineRefuses, testing::ValuesIn(kRefused),
                         [](const auto& test) { return std::string(test.param.name); });

TEST(CommandLineCtl, TakesEveryWordAfterIt) {
  auto line = parse({"ctl", "-s", "/run/x.sock", "--json", "kick", "user", "alice"});
  ASSERT_TRUE(line.has_value()) << line.error();
  EXPECT_EQ(line.value().action, Action::Ctl);
  EXPECT_FALSE(line.value().config_given);
  EXPECT_EQ(line.value().rest,
            (std::vector<std::string>{"-s", "/run/x.sock", "--json", "kick", "user", "alice"}));
  auto with_config = parse({"-c", "a.toml", "ctl", "show", "info"});
  ASSERT_TRUE(with_config.has_value()) << with_config.error();
  EXPECT_TRUE(with_config.value().config_given);
  EXPECT_EQ(with_config.value().config_path, "a.toml");
  EXPECT_EQ(with_config.value().rest, (std::vector<std::string>{"show", "info"}));
  EXPECT_FALSE(parse({"--check", "ctl", "show", "info"}).has_value()) << "ctl is no check";
  EXPECT_NE(usage_synopsis().find("ctl [-s SOCKET] [--json] COMMAND..."), std::string::npos);
}

TEST(CommandLineUsage, NamesEveryFlag) {
  auto text = usage_text();
  for (std::string_view flag : {"-c, --config FILE", "--check", "--healthcheck", "--new-ticket-key",
                                "--version", "--help", "exits 2"}) {
    EXPECT_NE(text.find(flag), std::string::npos) << flag;
  }
}

} // namespace
} // namespace popgate::proxy
