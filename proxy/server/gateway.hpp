#pragma once

// The composition root: owns the metrics, the worker loops and the main loop, which handles
// signals (SIGHUP reload, SIGTERM/SIGINT drain and stop), certificate renewal and the metrics
// endpoint. Sessions never run on the main loop, so a slow scrape or a reload that parses
// certificates cannot stall a transfer.

#include "metrics/metrics.hpp"
#include "proxy/server/admin_commands.hpp"
#include "proxy/server/backend_checker.hpp"
#include "proxy/server/process_metrics.hpp"
#include "proxy/server/runtime.hpp"
#include "proxy/server/server_control.hpp"
#include "proxy/server/server_health.hpp"
#include "proxy/server/worker.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <uv.h>
#include <vector>

namespace popgate::proxy {

class MetricsServer;
class RedisBanStore;

class Gateway {
public:
  Gateway(std::string config_path, std::shared_ptr<const Runtime> runtime);
  ~Gateway();

  // Binds, drops privileges, runs until stopped. Returns the process exit code.
  int run();

private:
  std::shared_ptr<const Runtime> with_metrics(const Runtime& runtime);
  bool bind_listeners(std::vector<std::vector<int>>& fds);
  void watch_signals_and_certificates();
  void log_started(unsigned workers) const;
  void add_loop_collector();
  struct FileStamp {
    std::string path;
    struct timespec mtime {};
    ino_t inode = 0;
    off_t size = 0;
    bool operator==(const FileStamp& o) const;
  };

  static void on_signal(uv_signal_t* handle, int signum);
  static void on_cert_poll(uv_timer_t* timer);
  static void on_worker_done(uv_async_t* async);
  struct ReloadOutcome {
    bool applied = false;
    std::string summary; // for STATUS=: "applied", "refused (...)", ...
  };
  // `by_signal`: a SIGHUP, which systemd sees as RELOADING=1 ... READY=1.
  void reload(std::string_view trigger, bool by_signal);
  ReloadOutcome apply_reload(std::string_view trigger);
  std::string keep_start_only_keys(std::shared_ptr<const Runtime>& next) const;
  [[nodiscard]] std::string status_line() const;
  void notify(const std::string& state);
  void stop();
  void stop_accepting();
  void close_main_handles();
  [[nodiscard]] std::vector<FileStamp> stamp_certificates() const;
  void publish_certificates();
  void warn_unreadable_tls_files() const;
  void configure_bans();
  bool open_admin_socket();

  std::string config_path_;
  // Before runtime_ and the workers: a Runtime's metric handles are released into it when the
  // Runtime ends, so it must outlive them all.
  std::unique_ptr<metrics::Metrics> metrics_;
  // Before runtime_ too: each Runtime's metric handles file session connects into it.
  ServerHealthTable health_;
  std::shared_ptr<const Runtime> runtime_;
  std::atomic<unsigned> connections_{0};
  policy::IpLimiter per_ip_;
  policy::SharedBans bans_;
  ServerControl servers_;
  GatewayStatus status_;
  std::atomic<unsigned> workers_done_{0};
  std::atomic<bool> draining_{false};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::unique_ptr<BackendChecker> checker_;  // on loop_, from run() on
  std::unique_ptr<RedisBanStore> ban_store_; // on the main loop; shares bans_ with other replicas
  std::unique_ptr<AdminCommands> admin_;     // [admin] socket; null when off
  std::vector<FileStamp> cert_stamps_;

  uv_loop_t loop_{};
  LoopBusy busy_;
  uv_signal_t sighup_{};
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  uv_timer_t cert_timer_{};
  uv_timer_t drain_delay_timer_{}; // [server] drain_delay after SIGTERM
  uv_async_t worker_done_{};
  bool stopping_ = false;
  std::string last_reload_ = "none since start";
  std::string status_sent_; // the last STATUS= line sent, so an unchanged one is not resent
  bool notify_failed_ = false;
};

} // namespace popgate::proxy
