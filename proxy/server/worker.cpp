#include "proxy/server/worker.hpp"

#include "proxy/server/log.hpp"
#include "proxy/server/session.hpp"

#include <cassert>
#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace popgate::proxy {
namespace {
// One read fills at most this much; it is also the most a queue overshoots its high-water
// mark. 64 KiB is four TLS records, enough to keep encryption streaming.
constexpr std::size_t kReadBufferSize = std::size_t{64} * 1024;
} // namespace

Worker::Worker(WorkerShared shared, std::shared_ptr<const Runtime> runtime,
               std::vector<int> listen_fds)
    : shared_(std::move(shared)), runtime_(std::move(runtime)), listen_fds_(std::move(listen_fds)),
      read_buffer_(kReadBufferSize) {
  uv_loop_init(&loop_);
  LoopBusy::enable(&loop_);
  sessions_.loop = &loop_;
  sessions_.read_buffer = &read_buffer_;
  sessions_.bans = &shared_.bans;
  sessions_.per_ip = &shared_.per_ip;
  sessions_.servers = &shared_.servers;
  sessions_.on_session_freed = [this] { session_freed(); };
  inbox_.open(&loop_);
  uv_timer_init(&loop_, &grace_timer_);
  grace_timer_.data = this;
  for (std::size_t i = 0; i < listen_fds_.size(); ++i) {
    listeners_.push_back(std::make_unique<Acceptor>(
        &loop_, listen_fds_[i], [this, i](int fd) { accepted(i, fd); },
        [this, i](int error, unsigned lost) { accept_failed(i, error, lost); }));
    listeners_.back()->start();
  }
}

Worker::~Worker() = default;

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

void Worker::run() {
  busy_.start(&loop_);
  uv_run(&loop_, UV_RUN_DEFAULT);
  busy_.finish();
  // Every handle is closed once the loop ends (see begin_stop): a non-zero result would mean a
  // leaked handle, and so a session or timer that outlived the drain.
  int rc = uv_loop_close(&loop_);
  assert(rc == 0 && "a handle outlived the worker's loop");
  (void)rc;
  shared_.on_exit();
}

// False once the loop is ending: a reload or stop has nothing left to act on.
bool Worker::post(std::function<void()> fn) { return inbox_.post(std::move(fn)); }

bool Worker::visit_sessions(std::function<void(SessionContext&)> fn) {
  return post([this, fn = std::move(fn)] { fn(sessions_); });
}

void Worker::set_runtime(std::shared_ptr<const Runtime> runtime) {
  post([this, runtime = std::move(runtime)] { runtime_ = runtime; });
}

void Worker::stop(Millis grace) {
  post([this, grace] { begin_stop(grace); });
}

void Worker::accepted(std::size_t listener, int fd) {
  unsigned max = runtime_->config->server.max_connections;
  if (stopping_) {
    ::close(fd);
    return;
  }
  if (shared_.connections.fetch_add(1) >= max) {
    shared_.connections.fetch_sub(1);
    // Accept and close at once: leaving the connection in the backlog would only make the
    // client wait for a timeout.
    ::close(fd);
    shared_.metrics.rejected(metrics::RejectReason::MaxConnections).Increment();
    return;
  }
  Session::accept(sessions_, runtime_, fd, listener);
}

// The connections are gone already (acceptor.hpp); popgate keeps serving the sessions it has.
// Every lost connection is counted; the log shows a rate-limited sample.
void Worker::accept_failed(std::size_t listener, int error, unsigned lost) {
  using metrics::AcceptError;
  AcceptError reason = AcceptError::Other;
  std::string_view hint;
  if (error == EMFILE) {
    reason = AcceptError::FdLimit;
    hint = "the descriptor limit is reached: raise LimitNOFILE= (systemd) or ulimit -n, or "
           "lower [server] max_connections";
  } else if (error == ENFILE) {
    reason = AcceptError::SystemFdLimit;
    hint = "the system's file table is full: raise fs.file-max";
  } else if (error == ENOMEM || error == ENOBUFS) {
    reason = AcceptError::OutOfMemory;
  }
  shared_.metrics.accept_errors(reason).Increment(lost);
  std::uint64_t suppressed = 0;
  if (!accept_error_lines_.admit(Millis(uv_now(&loop_)), suppressed)) {
    return;
  }
  log::error("accept", "cannot accept connections; they are closed",
             {log::field("listener", runtime_->config->listeners[listener].name),
              log::field("error", std::strerror(error)),
              log::number("lost", static_cast<long long>(lost)), log::field("hint", hint),
              log::number("suppressed", static_cast<long long>(suppressed))});
}

void Worker::session_freed() {
  shared_.connections.fetch_sub(1);
  if (stopping_ && sessions_.count == 0) {
    uv_timer_stop(&grace_timer_);
    close_loop_handles();
  }
}

void Worker::close_loop_handles() {
  inbox_.close(); // what was posted before still runs: post() promised it would
  uv_close(reinterpret_cast<uv_handle_t*>(&grace_timer_), nullptr);
}

void Worker::begin_stop(Millis grace) {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  for (auto& l : listeners_) {
    l->close();
  }
  if (sessions_.count == 0) {
    close_loop_handles();
    return;
  }
  uv_timer_start(&grace_timer_, on_grace_timer, static_cast<std::uint64_t>(grace.count()), 0);
}

void Worker::on_grace_timer(uv_timer_t* timer) {
  static_cast<Worker*>(timer->data)->close_sessions();
}

void Worker::close_sessions() {
  for (SessionLink* s = sessions_.head; s != nullptr;) {
    SessionLink* next = s->next;
    static_cast<Session*>(s)->shutdown();
    s = next;
  }
}

} // namespace popgate::proxy
