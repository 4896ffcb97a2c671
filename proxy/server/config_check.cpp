#include "proxy/server/config_check.hpp"

#include "proxy/server/file_access.hpp"
#include "proxy/server/runtime_builder.hpp"
#include "proxy/server/transparent_socket.hpp"

#include <chrono>
#include <cstdio>
#include <unistd.h>

#include <fmt/format.h>

namespace popgate::proxy {
namespace {

std::string where(const std::string& config_path, SourcePos pos) {
  return fmt::format("{}:{}:{}", config_path, pos.line == 0 ? 1 : pos.line,
                     pos.column == 0 ? 1 : pos.column);
}

// Run as root with [server] user set: read the config and each TLS file as that user, as a
// reload or a certificate renewal will.
bool tls_files_readable_by_run_user(const std::string& config_path, const Config& config) {
  if (config.server.user.empty() || ::geteuid() != 0) {
    return true;
  }
  auto files = files_read_on_reload(config);
  auto problems = unreadable_files_as(config.server.user, config.server.group, files);
  if (!problems) {
    std::fprintf(stderr, "%s: cannot check the files as user '%s': %s\n", config_path.c_str(),
                 config.server.user.c_str(), problems.error().c_str());
    return false;
  }
  for (const auto& p : problems.value()) {
    const auto& f = files[p.index];
    std::fprintf(
        stderr,
        "%s: [server] user '%s' cannot read %s file %s (%s); popgate reads it as that "
        "user on every reload and renewal: make it readable by a group of that user (chgrp, "
        "chmod 0640, directories above it g+x; e.g. adduser %s ssl-cert), or let the "
        "renewal copy it there (conf/deploy-hook)\n",
        where(config_path, f.pos).c_str(), config.server.user.c_str(), f.key.c_str(),
        f.path.c_str(), p.reason.c_str(), config.server.user.c_str());
  }
  return problems.value().empty();
}

void warn_about_expiry(const std::string& config_path, const Config& config,
                       const tls::ServerContext& tls) {
  auto now = std::chrono::system_clock::now();
  const auto& certs = tls.certificates();
  for (std::size_t i = 0; i < certs.size() && i < config.tls.certificates.size(); ++i) {
    auto not_after =
        std::chrono::system_clock::time_point(std::chrono::seconds(certs[i].not_after));
    auto left = std::chrono::duration_cast<std::chrono::hours>(not_after - now).count() / 24;
    if (left >= kExpiryWarningDays) {
      continue;
    }
    const auto& c = config.tls.certificates[i];
    std::string when = not_after <= now ? "has expired" : fmt::format("expires in {} days", left);
    std::fprintf(stderr, "%s: warning: certificate '%s' (%s) %s; renew it\n",
                 where(config_path, c.cert_pos).c_str(), certs[i].name.c_str(), c.cert.c_str(),
                 when.c_str());
  }
}

} // namespace

bool privileges_allow(const Config& config) {
  auto problems = transparent_privilege_problems(config);
  for (const auto& line : problems.warnings) {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  for (const auto& line : problems.errors) {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  return problems.errors.empty();
}

int run_check(const std::string& config_path) {
  auto built = build_runtime(config_path);
  if (!built) {
    for (const auto& e : built.error()) {
      std::fprintf(stderr, "%s\n", e.c_str());
    }
    return 1;
  }
  const auto& runtime = *built.value();
  warn_about_expiry(config_path, *runtime.config, *runtime.tls);
  if (!privileges_allow(*runtime.config)) {
    return 1;
  }
  if (!tls_files_readable_by_run_user(config_path, *runtime.config)) {
    return 1;
  }
  std::printf("%s: configuration is valid\n", config_path.c_str());
  return 0;
}

} // namespace popgate::proxy
