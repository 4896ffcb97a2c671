#include "proxy/server/backend_checker.hpp"

#include "proxy/server/check_probe.hpp"
#include "proxy/server/log.hpp"

namespace popgate::proxy {

BackendChecker::BackendChecker(uv_loop_t* loop, ServerHealthTable& health)
    : loop_(loop), health_(health) {}

BackendChecker::~BackendChecker() = default;

void BackendChecker::configure(const std::shared_ptr<const Runtime>& runtime) {
  close_targets();
  const auto& backends = runtime->config->backends;
  for (std::size_t b = 0; b < backends.size(); ++b) {
    const auto interval = backends[b].check_interval;
    if (interval.count() <= 0) {
      continue;
    }
    for (std::size_t s = 0; s < backends[b].servers.size(); ++s) {
      auto* t = new Target;
      t->checker = this;
      t->runtime = runtime;
      t->backend = b;
      t->server = s;
      t->backend_name = backends[b].name;
      t->server_name = backends[b].servers[s].to_string();
      uv_timer_init(loop_, &t->timer);
      t->timer.data = t;
      // The first check at once: a fresh gateway knows every server's state within one
      // interval, before any alert's `for` runs out.
      const auto every = static_cast<std::uint64_t>(interval.count());
      uv_timer_start(&t->timer, on_tick, 0, every);
      targets_.push_back(t);
    }
  }
}

void BackendChecker::stop() { close_targets(); }

void BackendChecker::close_targets() {
  for (auto* t : targets_) {
    if (t->probe != nullptr) {
      t->probe->cancel();
      t->probe = nullptr;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&t->timer),
             [](uv_handle_t* handle) { delete static_cast<Target*>(handle->data); });
  }
  targets_.clear();
}

void BackendChecker::on_tick(uv_timer_t* timer) {
  auto* t = static_cast<Target*>(timer->data);
  if (t->probe == nullptr) { // a check slower than the interval is not stacked on
    t->checker->run_check(*t);
  }
}

void BackendChecker::run_check(Target& target) {
  const auto& backend = target.runtime->config->backends[target.backend];
  target.probe = CheckProbe::start(loop_, backend.servers[target.server], backend.connect_timeout,
                                   backend.greeting_timeout, backend.forward_client,
                                   [&target](const session::CheckVerdict& verdict, Millis elapsed) {
                                     target.probe = nullptr;
                                     target.checker->record(target, verdict, elapsed);
                                   });
}

void BackendChecker::record(Target& target, const session::CheckVerdict& verdict, Millis elapsed) {
  const auto& m = *target.runtime->metrics;
  m.all->set_server_up(*m.backends[target.backend], target.server, verdict.up);
  CheckResult result{verdict.up, std::chrono::system_clock::now(), elapsed, verdict.detail};
  const ServerState before = health_.record_check(target.backend_name, target.server_name, result);
  const ServerState now = verdict.up ? ServerState::Up : ServerState::Down;
  if (before == now) {
    return;
  }
  std::vector<log::Field> fields{log::field("backend", target.backend_name),
                                 log::field("server", target.server_name),
                                 log::number("check_ms", static_cast<long long>(elapsed.count()))};
  if (!verdict.up) {
    fields.push_back(log::field("error", verdict.detail));
  }
  log::write(verdict.up ? LogLevel::Info : LogLevel::Warn, "backend_check",
             verdict.up ? "backend server up" : "backend server down", fields);
}

} // namespace popgate::proxy
