// popgate: a TLS-terminating POP3 gateway. Command line per SPEC section 2.

#include "proxy/server/admin_client.hpp"
#include "proxy/server/command_line.hpp"
#include "proxy/server/config_check.hpp"
#include "proxy/server/gateway.hpp"
#include "proxy/server/healthcheck.hpp"
#include "proxy/server/log.hpp"
#include "proxy/server/runtime_builder.hpp"
#include "proxy/server/version.hpp"
#include "tls/ticket_keys.hpp"

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <uv.h>

namespace {

void print_version() {
  std::printf("popgate %s\n%s (TLS 1.3 %s)\nlibuv %s\n", popgate::proxy::kVersion,
              popgate::tls::ServerContext::library_version().c_str(),
              popgate::tls::ServerContext::tls13_available() ? "available" : "not available",
              uv_version_string());
}

int print_new_ticket_key() {
  auto line = popgate::tls::TicketKeys::new_key_line();
  if (!line) {
    std::fprintf(stderr, "popgate: %s\n", line.error().c_str());
    return 1;
  }
  std::printf("%s\n", line->c_str());
  return 0;
}

int serve(const std::string& config_path) {
  auto runtime = popgate::proxy::build_runtime(config_path);
  if (!runtime) {
    for (const auto& e : runtime.error()) {
      std::fprintf(stderr, "%s\n", e.c_str());
    }
    std::fprintf(stderr, "popgate: configuration is not valid; not starting\n");
    return 1;
  }
  if (!popgate::proxy::privileges_allow(*runtime.value()->config)) {
    std::fprintf(stderr, "popgate: configuration is not valid; not starting\n");
    return 1;
  }
  const auto& server = runtime.value()->config->server;
  popgate::proxy::log::configure(server.log_format, server.log_level);
  // A client that vanishes must not kill the process with SIGPIPE; writes report EPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  popgate::proxy::Gateway gateway(config_path, std::move(runtime).value());
  return gateway.run();
}

int run(int argc, char** argv) {
  using popgate::proxy::Action;
  auto parsed = popgate::proxy::parse_command_line(argc, argv);
  if (!parsed) {
    std::fprintf(stderr, "popgate: %s\n%s(popgate --help says more)\n", parsed.error().c_str(),
                 popgate::proxy::usage_synopsis().c_str());
    return 2;
  }
  const auto& line = parsed.value();
  switch (line.action) {
  case Action::Version:
    print_version();
    return 0;
  case Action::Help:
    std::fputs(popgate::proxy::usage_text().c_str(), stdout);
    return 0;
  case Action::Healthcheck:
    return popgate::proxy::run_healthcheck(line.config_path);
  case Action::NewTicketKey:
    return print_new_ticket_key();
  case Action::Check:
    return popgate::proxy::run_check(line.config_path);
  case Action::Ctl:
    return popgate::proxy::run_ctl(line.rest, line.config_path, line.config_given);
  case Action::Run:
    break;
  }
  return serve(line.config_path);
}

} // namespace

// Whatever escapes startup (an allocation failure, a library's exception) is reported as an
// error exit, not std::terminate's abort.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "popgate: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "popgate: unknown exception\n");
  }
  return 1;
}
