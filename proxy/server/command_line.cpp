#include "proxy/server/command_line.hpp"

#include <array>

#include <fmt/format.h>
#include <getopt.h>
#include <string_view>

namespace popgate::proxy {
namespace {

// Long-only options get values above any short option's character.
enum LongOnly : int { LongCheck = 256, LongHealthcheck, LongNewTicketKey };

// A leading '+' stops at the first word that is not an option (a subcommand keeps its own
// options); ':' makes getopt report a missing argument as ':' rather than '?'.
constexpr const char* kShortOptions = "+:c:hV";

constexpr auto kLongOptions = std::to_array<option>({
    {"config", required_argument, nullptr, 'c'},
    {"check", no_argument, nullptr, LongCheck},
    {"healthcheck", no_argument, nullptr, LongHealthcheck},
    {"new-ticket-key", no_argument, nullptr, LongNewTicketKey},
    {"version", no_argument, nullptr, 'V'},
    {"help", no_argument, nullptr, 'h'},
    {nullptr, 0, nullptr, 0},
});

// The option as the user wrote it, for an error message: a long option up to any "=VALUE",
// a short one by its letter (it may sit in a cluster such as "-Vc").
std::string written(const char* word, int short_option) {
  std::string arg = word;
  if (arg.starts_with("--")) {
    return arg.substr(0, arg.find('='));
  }
  return fmt::format("-{}", static_cast<char>(short_option));
}

// How many long options start with what the user wrote after "--" (getopt_long accepts a
// unique prefix, so more than one match is an ambiguity, not an unknown option).
int long_prefix_matches(const std::string& word) {
  std::string name = word.substr(2, word.find('=') - 2);
  int matches = 0;
  for (const option& o : kLongOptions) {
    if (o.name != nullptr && std::string_view(o.name).starts_with(name)) {
      ++matches;
    }
  }
  return matches;
}

// Action flags exclude each other: `--check --version` is a mistake, not a priority rule.
Result<void, std::string> set_action(CommandLine& line, Action action, const char* flag) {
  if (line.action != Action::Run && line.action != action) {
    return unexpected(fmt::format("{} cannot be combined with another action flag", flag));
  }
  line.action = action;
  return {};
}

} // namespace

Result<CommandLine, std::string> parse_command_line(int argc, char* const* argv) {
  CommandLine line;
  opterr = 0; // the messages below replace getopt's own
  optind = 0; // glibc: 0 re-initialises getopt completely
  for (;;) {
    int previous = optind == 0 ? 1 : optind;
    int c = ::getopt_long(argc, argv, kShortOptions, kLongOptions.data(), nullptr);
    if (c == -1) {
      break;
    }
    Result<void, std::string> set;
    switch (c) {
    case 'c':
      line.config_path = optarg;
      line.config_given = true;
      break;
    case LongCheck:
      set = set_action(line, Action::Check, "--check");
      break;
    case LongHealthcheck:
      set = set_action(line, Action::Healthcheck, "--healthcheck");
      break;
    case LongNewTicketKey:
      set = set_action(line, Action::NewTicketKey, "--new-ticket-key");
      break;
    case 'V':
      set = set_action(line, Action::Version, "--version");
      break;
    case 'h':
      set = set_action(line, Action::Help, "--help");
      break;
    case ':':
      return unexpected(
          fmt::format("option '{}' needs an argument", written(argv[optind - 1], optopt)));
    default: { // '?': unknown, ambiguous, or a value given to a flag that takes none
      std::string word = argv[previous];
      if (word.starts_with("--") && word.find('=') != std::string::npos && optopt != 0) {
        return unexpected(fmt::format("option '{}' takes no argument", written(argv[previous], 0)));
      }
      if (word.starts_with("--") && optopt == 0 && long_prefix_matches(word) > 1) {
        return unexpected(fmt::format("option '{}' is ambiguous", written(argv[previous], 0)));
      }
      return unexpected(fmt::format("unknown option '{}'", written(argv[previous], optopt)));
    }
    }
    if (!set) {
      return unexpected(set.error());
    }
  }
  if (optind < argc && std::string_view(argv[optind]) == "ctl" && line.action == Action::Run) {
    line.action = Action::Ctl;
    line.rest.assign(argv + optind + 1, argv + argc);
    return line;
  }
  if (optind < argc) {
    // Each subcommand is matched on argv[optind] above and takes the rest.
    return unexpected(fmt::format("unexpected argument '{}'", argv[optind]));
  }
  return line;
}

std::string usage_synopsis() {
  return "usage: popgate [-c FILE] [--check | --healthcheck]\n"
         "       popgate [-c FILE] ctl [-s SOCKET] [--json] COMMAND...   (popgate ctl --help)\n"
         "       popgate --new-ticket-key | --version | --help\n";
}

std::string usage_text() {
  return usage_synopsis() +
         fmt::format(
             "\n"
             "TLS-terminating POP3 gateway: POP3S (implicit TLS) and STLS in front of a plaintext\n"
             "POP3 server.\n"
             "\n"
             "  -c, --config FILE   configuration file (default {}; also --config=FILE)\n"
             "      --check         validate the configuration, certificates and keys; print each\n"
             "                      error as FILE:LINE:COL: message; exit 0 if valid, 1 if not\n"
             "      --healthcheck   ask the running popgate's /healthz ([metrics] bind); exit 0\n"
             "                      when it answers 200 (for container health checks)\n"
             "      --new-ticket-key\n"
             "                      print a new session-ticket key: a line to append to the\n"
             "                      [tls] ticket_key_file every replica reads (newest last)\n"
             "  -V, --version       print the versions of popgate, mbedTLS and libuv\n"
             "  -h, --help          this text\n"
             "\n"
             "A wrong option or a missing argument exits 2.\n"
             "Signals: SIGHUP reloads configuration, certificates and ticket keys;\n"
             "SIGTERM/SIGINT wait [server] drain_delay, drain sessions for shutdown_grace,\n"
             "then stop.\n",
             kDefaultConfigPath);
}

} // namespace popgate::proxy
