#include "proxy/server/runtime_builder.hpp"

#include "proxy/config/config_loader.hpp"

#include <fmt/format.h>

namespace popgate::proxy {
namespace {

tls::ServerOptions tls_options(const Config& config) {
  tls::ServerOptions o;
  o.min_version = config.tls.min_version;
  o.ciphersuites = config.tls.ciphersuites;
  o.session_tickets = config.tls.session_tickets;
  o.ticket_lifetime = std::chrono::duration_cast<std::chrono::seconds>(config.tls.ticket_lifetime);
  o.client_ca = config.tls.client_ca;
  o.ticket_key_file = config.tls.ticket_key_file;
  for (const auto& c : config.tls.certificates) {
    o.certificates.push_back({c.cert, c.key, c.server_names});
  }
  return o;
}

// Where in the config file a TLS load error belongs.
SourcePos position_of(const Config& config, const tls::LoadError& e) {
  if (e.certificate < config.tls.certificates.size()) {
    const auto& c = config.tls.certificates[e.certificate];
    return e.field == "key" ? c.key_pos : c.cert_pos;
  }
  if (e.field == "client_ca") {
    return config.tls.client_ca_pos;
  }
  if (e.field == "ticket_key_file") {
    return config.tls.ticket_key_file_pos;
  }
  if (e.field == "min_version") {
    return config.tls.min_version_pos;
  }
  if (e.field == "ciphersuites") {
    return config.tls.ciphersuites_pos;
  }
  return {};
}

} // namespace

Result<std::shared_ptr<const Runtime>, std::vector<std::string>>
build_runtime(const std::string& config_path, const Runtime* previous) {
  auto loaded = load_config(config_path);
  if (!loaded) {
    std::vector<std::string> errors;
    for (const auto& e : loaded.error()) {
      errors.push_back(e.to_string());
    }
    return unexpected(std::move(errors));
  }
  auto config = std::make_shared<const Config>(std::move(loaded).value());
  auto context = tls::ServerContext::create(tls_options(*config),
                                            previous != nullptr ? previous->tls.get() : nullptr);
  if (!context) {
    std::vector<std::string> errors;
    for (const auto& e : context.error()) {
      auto pos = position_of(*config, e);
      errors.push_back(fmt::format("{}:{}:{}: {}", config_path, pos.line == 0 ? 1 : pos.line,
                                   pos.column == 0 ? 1 : pos.column, e.message));
    }
    return unexpected(std::move(errors));
  }
  auto runtime = std::make_shared<Runtime>();
  runtime->config = std::move(config);
  runtime->tls = std::move(context).value();
  runtime->rules = policy::RuleSet(runtime->config->policy.rules);
  runtime->access =
      policy::AccessList(runtime->config->policy.access.allow, runtime->config->policy.access.deny);
  return std::shared_ptr<const Runtime>(std::move(runtime));
}

} // namespace popgate::proxy
