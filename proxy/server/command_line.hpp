#pragma once

// popgate's command line (SPEC section 2), parsed with getopt_long so that `-c FILE`,
// `--config FILE`, `--config=FILE` and `-cFILE` are the same, long options may be abbreviated
// to a unique prefix, and a missing argument or an unknown option is a clear error.
//
// A new flag is one row in the option table in command_line.cpp plus a case in its switch; a
// subcommand (a first word such as `ctl`) is recognised where positional words are handled, and
// everything after it is left to that subcommand in CommandLine::rest.

#include "base/result.hpp"

#include <string>
#include <vector>

namespace popgate::proxy {

inline constexpr const char* kDefaultConfigPath = "/etc/popgate/popgate.toml";

enum class Action {
  Run,          // serve with the configuration file
  Check,        // --check: validate and exit
  Healthcheck,  // --healthcheck: ask a running popgate's /healthz
  NewTicketKey, // --new-ticket-key: print a line for a ticket_key_file
  Version,      // --version / -V
  Help,         // --help / -h
  Ctl,          // ctl ...: talk to a running popgate's admin socket (admin_client.hpp)
};

struct CommandLine {
  Action action = Action::Run;
  std::string config_path = kDefaultConfigPath;
  bool config_given = false;     // -c was on the command line
  std::vector<std::string> rest; // words after a subcommand, for that subcommand
};

// The error is one line for stderr, without the program name or the usage text: the caller
// prints "popgate: <error>" and usage_synopsis() and exits 2. Resets getopt's global state, so it
// may be called more than once in a process (the unit tests do).
Result<CommandLine, std::string> parse_command_line(int argc, char* const* argv);

// The two usage lines printed after a command-line error, and the whole --help text.
std::string usage_synopsis();
std::string usage_text();

} // namespace popgate::proxy
