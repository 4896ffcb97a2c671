// popgate: a TLS-terminating POP3 gateway. Command line per SPEC section 2.

#include "proxy/server/gateway.hpp"
#include "proxy/server/healthcheck.hpp"
#include "proxy/server/log.hpp"
#include "proxy/server/runtime_builder.hpp"
#include "proxy/server/version.hpp"

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <uv.h>

namespace {

constexpr const char* kDefaultConfig = "/etc/popgate/popgate.toml";

void print_help() {
  std::printf(
      "usage: popgate [-c FILE] [--check | --healthcheck]\n"
      "       popgate --version | --help\n"
      "\n"
      "TLS-terminating POP3 gateway: POP3S (implicit TLS) and STLS in front of a plaintext\n"
      "POP3 server.\n"
      "\n"
      "  -c, --config FILE   configuration file (default %s)\n"
      "      --check         validate the configuration, certificates and keys; print each\n"
      "                      error as FILE:LINE:COL: message; exit 0 if valid, 1 if not\n"
      "      --healthcheck   ask the running popgate's /healthz ([metrics] bind); exit 0\n"
      "                      when it answers 200 (for container health checks)\n"
      "      --version       print the versions of popgate, mbedTLS and libuv\n"
      "  -h, --help          this text\n"
      "\n"
      "Signals: SIGHUP reloads configuration and certificates; SIGTERM/SIGINT drain sessions\n"
      "for [server] shutdown_grace, then stop.\n",
      kDefaultConfig);
}

void print_version() {
  std::printf("popgate %s\n%s (TLS 1.3 %s)\nlibuv %s\n", popgate::proxy::kVersion,
              popgate::tls::ServerContext::library_version().c_str(),
              popgate::tls::ServerContext::tls13_available() ? "available" : "not available",
              uv_version_string());
}

int run(int argc, char** argv) {
  std::string config_path = kDefaultConfig;
  bool check = false;
  bool healthcheck = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--check") {
      check = true;
    } else if (arg == "--healthcheck") {
      healthcheck = true;
    } else if (arg == "--version" || arg == "-V") {
      print_version();
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      print_help();
      return 0;
    } else {
      std::fprintf(stderr, "popgate: unknown argument '%s' (try --help)\n", argv[i]);
      return 2;
    }
  }

  if (healthcheck) {
    return popgate::proxy::run_healthcheck(config_path);
  }
  auto runtime = popgate::proxy::build_runtime(config_path);
  if (!runtime) {
    for (const auto& e : runtime.error()) {
      std::fprintf(stderr, "%s\n", e.c_str());
    }
    if (!check) {
      std::fprintf(stderr, "popgate: configuration is not valid; not starting\n");
    }
    return 1;
  }
  if (check) {
    std::printf("%s: configuration is valid\n", config_path.c_str());
    return 0;
  }
  const auto& server = runtime.value()->config->server;
  popgate::proxy::log::configure(server.log_format, server.log_level);
  // A client that vanishes must not kill the process with SIGPIPE; writes report EPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  popgate::proxy::Gateway gateway(config_path, std::move(runtime).value());
  return gateway.run();
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
