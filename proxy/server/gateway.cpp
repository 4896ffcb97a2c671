#include "proxy/server/gateway.hpp"

#include "metrics/process_stats.hpp"
#include "proxy/config/restart_keys.hpp"
#include "proxy/server/fd_limit.hpp"
#include "proxy/server/file_access.hpp"
#include "proxy/server/listen_socket.hpp"
#include "proxy/server/log.hpp"
#include "proxy/server/metrics_server.hpp"
#include "proxy/server/redis_ban_store.hpp"
#include "proxy/server/runtime_builder.hpp"
#include "proxy/server/sd_notify.hpp"
#include "proxy/server/transparent_socket.hpp"
#include "proxy/server/version.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <unistd.h>

#include <fmt/format.h>

namespace popgate::proxy {
namespace {
// Certificate and ticket key files are checked this often: renewal by certbot or acme.sh, or a
// ticket key rotation, needs no signal.
constexpr std::uint64_t kCertPollMs = 5000;

metrics::Labels labels_of(const Config& c) {
  metrics::Labels l;
  for (const auto& x : c.listeners) {
    l.listeners.push_back(x.name);
  }
  l.version = kVersion;
  l.mbedtls = tls::ServerContext::library_summary();
  l.libuv = uv_version_string();
  return l;
}
// TPROXY delivers SYNs for addresses that are not the host's own; the kernel drops them unless
// the listening socket is transparent. REDIRECT works without it, so lacking the privilege is a
// warning, said once per listener.
void accept_tproxy(const ListenerConfig& l, int fd, bool first) {
  if (!l.transparent) {
    return;
  }
  int err = set_transparent(fd, l.bind.is_v6() ? AF_INET6 : AF_INET);
  if (err != 0 && first) {
    log::warn("startup", "listener " + l.name +
                             ": cannot set IP_TRANSPARENT, so TPROXY connections will not arrive "
                             "(REDIRECT works); grant CAP_NET_ADMIN: " +
                             std::strerror(err));
  }
}

} // namespace

bool Gateway::FileStamp::operator==(const FileStamp& o) const {
  return path == o.path && mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec &&
         inode == o.inode && size == o.size;
}

Gateway::Gateway(std::string config_path, std::shared_ptr<const Runtime> runtime)
    : config_path_(std::move(config_path)), runtime_(std::move(runtime)) {
  status_.config_path = config_path_;
  metrics_ = std::make_unique<metrics::Metrics>(labels_of(*runtime_->config));
  runtime_ = with_metrics(*runtime_);
  add_process_collector(*metrics_);
  health_.configure(*runtime_->config);
  metrics_->max_connections().Set(runtime_->config->server.max_connections);
  publish_certificates();
  configure_bans();
}

Gateway::~Gateway() = default;

// Each Runtime carries the metric handles of its own config (runtime_metrics.hpp).
std::shared_ptr<const Runtime> Gateway::with_metrics(const Runtime& runtime) {
  auto counted = std::make_shared<Runtime>(runtime);
  counted->metrics = RuntimeMetrics::build(*metrics_, *counted->config, &health_);
  return counted;
}

// Scrapes run on this loop, and workers_ changes only before and after it runs, so the
// collector reads the list without a lock; each LoopBusy guards its own numbers.
void Gateway::add_loop_collector() {
  metrics_->add_collector([this] {
    std::vector<metrics::LoopBusy> loops{{"main", busy_.seconds()}};
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      loops.push_back({"worker-" + std::to_string(i), workers_[i]->busy_seconds()});
    }
    return std::vector<prometheus::MetricFamily>{metrics::loop_busy_family(loops)};
  });
}

void Gateway::configure_bans() {
  const auto& ban = runtime_->config->policy.ban;
  bans_.configure({ban.failures, ban.window, ban.duration, ban.exempt});
  if (ban_store_) {
    ban_store_->configure(ban);
  }
}

int Gateway::run() {
  const Config& config = *runtime_->config;
  unsigned n = config.server.workers;
  if (n == 0) {
    n = std::max(1u, std::thread::hardware_concurrency());
  }
  raise_descriptor_limit(config.server.max_connections,
                         static_cast<unsigned>(config.listeners.size()) * n, n);
  uv_loop_init(&loop_);
  LoopBusy::enable(&loop_);
  if (!config.metrics.bind.empty()) {
    auto ep = Endpoint::parse(config.metrics.bind);
    metrics_server_ =
        std::make_unique<MetricsServer>(&loop_, *metrics_, config.metrics.path, draining_);
    auto started = metrics_server_->listen(*ep);
    if (!started) {
      log::error("startup", "metrics endpoint: " + started.error());
      return 1;
    }
  }
  // Bind everything first: a port in use or a missing privilege stops startup here.
  std::vector<std::vector<int>> fds(n);
  if (!bind_listeners(fds) || !open_admin_socket()) {
    return 1;
  }
  bool source_client =
      std::any_of(config.backends.begin(), config.backends.end(),
                  [](const BackendConfig& b) { return b.source == BackendSource::Client; });
  auto dropped = source_client
                     ? drop_privileges_keeping_net_admin(config.server.user, config.server.group)
                     : drop_privileges(config.server.user, config.server.group);
  if (!dropped) {
    log::error("startup", dropped.error());
    return 1;
  }
  if (!config.server.user.empty()) {
    warn_unreadable_tls_files();
  }
  watch_signals_and_certificates();
  // Before the workers: their first failures already find the store's queue.
  ban_store_ = std::make_unique<RedisBanStore>(&loop_, bans_, *metrics_);
  ban_store_->configure(config.policy.ban);
  for (unsigned w = 0; w < n; ++w) {
    workers_.push_back(std::make_unique<Worker>(WorkerShared{*metrics_, connections_,
                                                             [this] {
                                                               ++workers_done_;
                                                               uv_async_send(&worker_done_);
                                                             },
                                                             per_ip_, bans_, servers_},
                                                runtime_, fds[w]));
  }
  for (auto& w : workers_) {
    w->start();
  }
  checker_ = std::make_unique<BackendChecker>(&loop_, health_);
  checker_->configure(runtime_);
  log_started(n);
  // Every listener is bound and every worker accepts: `systemctl start` may return now.
  notify("READY=1\n" + status_line());

  add_loop_collector();
  busy_.start(&loop_);
  uv_run(&loop_, UV_RUN_DEFAULT);
  busy_.finish();
  for (auto& w : workers_) {
    w->join();
  }
  workers_.clear();
  admin_.reset(); // after the workers: none of them can answer it any more
  metrics_server_.reset();
  checker_.reset();
  ban_store_.reset();
  int rc = uv_loop_close(&loop_);
  log::info("shutdown", "popgate stopped");
  return rc == 0 ? 0 : 1;
}

// [admin] socket: bound with the listeners, before privileges are dropped (its folder, such as
// /run/popgate, is usually root's). A change of [admin] takes a restart.
bool Gateway::open_admin_socket() {
  const auto& admin = runtime_->config->admin;
  if (admin.socket.empty()) {
    return true;
  }
  admin_ = std::make_unique<AdminCommands>(
      AdminCommands::Parts{&loop_, &workers_, &runtime_, &bans_, &servers_, &health_,
                           metrics_.get(), &status_, &ban_store_});
  if (auto listening = admin_->listen(admin); !listening) {
    log::error("startup", listening.error());
    return false;
  }
  return true;
}

// One listening socket per listener and worker (SO_REUSEPORT spreads connections over them).
bool Gateway::bind_listeners(std::vector<std::vector<int>>& fds) {
  for (const auto& l : runtime_->config->listeners) {
    for (auto& worker_fds : fds) {
      auto fd = open_listen_socket(l.bind);
      if (!fd) {
        log::error("startup", "listener " + l.name + ": " + fd.error());
        return false;
      }
      worker_fds.push_back(fd.value());
      accept_tproxy(l, fd.value(), &worker_fds == fds.data());
    }
  }
  return true;
}

void Gateway::watch_signals_and_certificates() {
  uv_signal_init(&loop_, &sighup_);
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  sighup_.data = sigterm_.data = sigint_.data = this;
  uv_signal_start(&sighup_, on_signal, SIGHUP);
  uv_signal_start(&sigterm_, on_signal, SIGTERM);
  uv_signal_start(&sigint_, on_signal, SIGINT);
  uv_timer_init(&loop_, &cert_timer_);
  cert_timer_.data = this;
  cert_stamps_ = stamp_certificates();
  uv_timer_start(&cert_timer_, on_cert_poll, kCertPollMs, kCertPollMs);
  uv_timer_init(&loop_, &drain_delay_timer_);
  drain_delay_timer_.data = this;
  uv_async_init(&loop_, &worker_done_, on_worker_done);
  worker_done_.data = this;
}

void Gateway::log_started(unsigned workers) const {
  const Config& config = *runtime_->config;
  std::string binds;
  for (const auto& l : config.listeners) {
    binds += (binds.empty() ? "" : ", ") + l.name + "=" + l.bind.to_string();
  }
  log::info("startup", "popgate started",
            {log::field("version", kVersion), log::field("listeners", binds),
             log::number("workers", static_cast<long long>(workers)),
             log::field("metrics", config.metrics.bind)});
}

void Gateway::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<Gateway*>(handle->data);
  if (signum == SIGHUP) {
    self->reload("SIGHUP", true);
  } else {
    self->stop();
  }
}

void Gateway::reload(std::string_view trigger, bool by_signal) {
  if (by_signal) {
    notify(sd_notify::reloading_state());
  }
  ReloadOutcome outcome = apply_reload(trigger);
  metrics_->config_reload(outcome.applied).Increment();
  metrics_->record_reload(outcome.applied, std::chrono::system_clock::now());
  last_reload_ = outcome.summary;
  status_.reloaded(outcome.applied, outcome.summary);
  // systemd waits for READY=1 after RELOADING=1 whether or not the new config was taken.
  notify((by_signal ? "READY=1\n" : "") + status_line());
}

Gateway::ReloadOutcome Gateway::apply_reload(std::string_view trigger) {
  auto built = build_runtime(config_path_, runtime_.get());
  if (!built) {
    for (const auto& e : built.error()) {
      log::error("reload", "new configuration refused; the running one stays",
                 {log::field("trigger", trigger), log::field("error", e)});
    }
    return {false, "refused (invalid configuration)"};
  }
  auto next = std::move(built).value();
  const auto& old_listeners = runtime_->config->listeners;
  const auto& new_listeners = next->config->listeners;
  bool same_shape = old_listeners.size() == new_listeners.size();
  for (std::size_t i = 0; same_shape && i < old_listeners.size(); ++i) {
    // transparent too: IP_TRANSPARENT is set on the listening sockets when they are made.
    same_shape = old_listeners[i].name == new_listeners[i].name &&
                 old_listeners[i].bind.to_string() == new_listeners[i].bind.to_string() &&
                 old_listeners[i].transparent == new_listeners[i].transparent;
  }
  bool same_backends = runtime_->config->backends.size() == next->config->backends.size();
  for (std::size_t i = 0; same_backends && i < next->config->backends.size(); ++i) {
    same_backends = runtime_->config->backends[i].name == next->config->backends[i].name;
  }
  if (!same_shape || !same_backends) {
    log::error("reload",
               "new configuration changes listeners or backend names; restart popgate for that",
               {log::field("trigger", trigger)});
    return {false, "refused (listeners or backend names changed; restart needed)"};
  }
  std::string restart_keys = keep_start_only_keys(next);
  runtime_ = with_metrics(*next);
  for (auto& w : workers_) {
    w->set_runtime(runtime_);
  }
  health_.configure(*runtime_->config);
  checker_->configure(runtime_);
  metrics_->max_connections().Set(runtime_->config->server.max_connections);
  log::configure(runtime_->config->server.log_format, runtime_->config->server.log_level);
  publish_certificates();
  configure_bans();
  cert_stamps_ = stamp_certificates();
  if (restart_keys.empty()) {
    log::info("reload", "configuration reloaded", {log::field("trigger", trigger)});
    return {true, "applied"};
  }
  log::warn("reload", "configuration reloaded except keys that only a restart applies",
            {log::field("trigger", trigger), log::field("restart_needed", restart_keys)});
  return {true, "applied; restart needed for " + restart_keys};
}

// Start-only keys (restart_keys.hpp) keep their running values; each change is a warning.
// Returns the changed keys' names, comma-separated, or "" if none changed.
std::string Gateway::keep_start_only_keys(std::shared_ptr<const Runtime>& next) const {
  auto changed = keys_needing_restart(*runtime_->config, *next->config);
  std::string names;
  for (const auto& k : changed) {
    log::warn(
        "reload", "this key only changes on a restart; the running value stays",
        {log::field("key", k.key), log::field("running", k.running), log::field("new", k.wanted)});
    names += (names.empty() ? "" : ", ") + k.key;
  }
  if (!changed.empty()) {
    auto kept = std::make_shared<Runtime>(*next);
    kept->config =
        std::make_shared<const Config>(with_running_start_keys(*runtime_->config, *next->config));
    next = std::move(kept);
  }
  return names;
}

// STATUS= for `systemctl status`: sessions now and how the last reload went. Sent at start,
// after each reload and on the certificate poll, not per session.
std::string Gateway::status_line() const {
  return fmt::format("STATUS={} sessions; last reload: {}", connections_.load(), last_reload_);
}

void Gateway::notify(const std::string& state) {
  if (state.starts_with("STATUS=") && state == status_sent_) {
    return; // nothing changed since the last poll
  }
  if (!sd_notify::send(state) && !notify_failed_) {
    notify_failed_ = true; // once: a socket that is gone stays gone
    log::warn("systemd", "cannot send to NOTIFY_SOCKET",
              {log::field("error", std::strerror(errno))});
  }
  if (state.starts_with("STATUS=")) {
    status_sent_ = state;
  }
}

void Gateway::publish_certificates() {
  std::vector<metrics::CertificateExpiry> certs;
  for (const auto& c : runtime_->tls->certificates()) {
    certs.push_back({c.name, std::chrono::sys_seconds(std::chrono::seconds(c.not_after))});
  }
  metrics_->set_certificates(certs);
}

std::vector<Gateway::FileStamp> Gateway::stamp_certificates() const {
  std::vector<FileStamp> stamps;
  for (const auto& f : configured_tls_files(*runtime_->config)) {
    FileStamp s;
    s.path = f.path;
    struct stat st {};
    if (::stat(f.path.c_str(), &st) == 0) { // follows symlinks: certbot's live/ links count
      s.mtime = st.st_mtim;
      s.inode = st.st_ino;
      s.size = st.st_size;
    }
    stamps.push_back(s);
  }
  return stamps;
}

// The start read the config and TLS files before dropping privileges; a reload or renewal reads
// them after. Say now, not in 60 days, if [server] user cannot (`--check` as root says so too).
void Gateway::warn_unreadable_tls_files() const {
  auto files = files_read_on_reload(*runtime_->config);
  for (const auto& p : unreadable_files(files)) {
    log::error("startup",
               "the run user cannot read this file, so reloads and certificate renewals will be "
               "refused; make it readable by a group of that user or copy it with "
               "conf/deploy-hook",
               {log::field("file", files[p.index].path), log::field("error", p.reason),
                log::field("user", runtime_->config->server.user)});
  }
}

void Gateway::on_cert_poll(uv_timer_t* timer) {
  auto* self = static_cast<Gateway*>(timer->data);
  auto now = self->stamp_certificates();
  if (now != self->cert_stamps_) {
    // Remember what was seen, so a half-written renewal that fails to load is retried only
    // when the files change again, not every poll.
    self->cert_stamps_ = now;
    self->reload("certificate or ticket key files changed", false);
  }
  self->notify(self->status_line());
}

// SIGTERM: /healthz answers 503 at once. With a drain_delay the listeners stay open that long,
// so connections a balancer still sends while it notices are served, not refused; then the
// listeners close and open sessions get shutdown_grace to end. A second signal during the
// delay cuts it short (an admin's second Ctrl-C means "now").
void Gateway::stop() {
  if (stopping_) {
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(&drain_delay_timer_)) != 0) {
      uv_timer_stop(&drain_delay_timer_);
      stop_accepting();
    }
    return;
  }
  stopping_ = true;
  draining_ = true;
  notify("STOPPING=1");
  uv_timer_stop(&cert_timer_);
  const auto delay = runtime_->config->server.drain_delay;
  if (delay.count() > 0) {
    log::info("shutdown", "draining: /healthz answers 503, still accepting for drain_delay",
              {log::number("drain_delay_s", static_cast<double>(delay.count()) / 1000.0)});
    uv_timer_start(
        &drain_delay_timer_,
        [](uv_timer_t* timer) { static_cast<Gateway*>(timer->data)->stop_accepting(); },
        static_cast<std::uint64_t>(delay.count()), 0);
    return;
  }
  stop_accepting();
}

void Gateway::stop_accepting() {
  auto grace = runtime_->config->server.shutdown_grace;
  log::info("shutdown", "draining sessions",
            {log::number("grace_s", static_cast<double>(grace.count()) / 1000.0)});
  for (auto& w : workers_) {
    w->stop(grace);
  }
}

void Gateway::on_worker_done(uv_async_t* async) {
  auto* self = static_cast<Gateway*>(async->data);
  if (self->workers_done_.load() == self->workers_.size()) {
    self->close_main_handles();
  }
}

void Gateway::close_main_handles() {
  for (auto* h :
       {reinterpret_cast<uv_handle_t*>(&sighup_), reinterpret_cast<uv_handle_t*>(&sigterm_),
        reinterpret_cast<uv_handle_t*>(&sigint_), reinterpret_cast<uv_handle_t*>(&cert_timer_),
        reinterpret_cast<uv_handle_t*>(&drain_delay_timer_),
        reinterpret_cast<uv_handle_t*>(&worker_done_)}) {
    uv_close(h, nullptr);
  }
  if (metrics_server_) {
    metrics_server_->close();
  }
  checker_->stop();
  if (ban_store_) {
    ban_store_->close();
  }
  if (admin_) {
    admin_->close();
  }
}

} // namespace popgate::proxy
