#include "proxy/server/worker.hpp"

#include "proxy/server/log.hpp"
#include "proxy/server/session.hpp"

#include <cassert>

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
  sessions_.on_session_freed = [this] { session_freed(); };
  uv_async_init(&loop_, &async_, on_async);
  async_.data = this;
  uv_timer_init(&loop_, &grace_timer_);
  grace_timer_.data = this;
  for (std::size_t i = 0; i < listen_fds_.size(); ++i) {
    auto l = std::make_unique<Listener>();
    l->worker = this;
    l->index = i;
    uv_tcp_init(&loop_, &l->tcp);
    l->tcp.data = l.get();
    uv_tcp_open(&l->tcp, listen_fds_[i]);
    int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&l->tcp), 1024, on_connection);
    if (rc != 0) {
      log::error("listener", "cannot listen",
                 {log::field("listener", runtime_->config->listeners[i].name),
                  log::field("error", uv_strerror(rc))});
    }
    listeners_.push_back(std::move(l));
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

void Worker::post(std::function<void()> fn) {
  std::lock_guard lock(mutex_);
  if (closing_) {
    return; // the loop is ending: a reload or stop has nothing left to act on
  }
  inbox_.push_back(std::move(fn));
  // Under the lock, so close_loop_handles() cannot close async_ in between.
  uv_async_send(&async_);
}

void Worker::set_runtime(std::shared_ptr<const Runtime> runtime) {
  post([this, runtime = std::move(runtime)] { runtime_ = runtime; });
}

void Worker::stop(Millis grace) {
  post([this, grace] { begin_stop(grace); });
}

void Worker::on_async(uv_async_t* async) {
  auto* self = static_cast<Worker*>(async->data);
  std::vector<std::function<void()>> work;
  {
    std::lock_guard lock(self->mutex_);
    work.swap(self->inbox_);
  }
  for (auto& fn : work) {
    fn();
  }
}

void Worker::on_connection(uv_stream_t* server, int status) {
  auto* l = static_cast<Listener*>(server->data);
  Worker& w = *l->worker;
  if (status < 0 || w.stopping_) {
    return;
  }
  unsigned max = w.runtime_->config->server.max_connections;
  if (w.shared_.connections.fetch_add(1) >= max) {
    w.shared_.connections.fetch_sub(1);
    // Accept and close at once: leaving the connection in the backlog would only make the
    // client wait for a timeout.
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(&w.loop_, tcp);
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(tcp)) == 0) {
      w.shared_.metrics.rejected(metrics::RejectReason::MaxConnections).Increment();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(tcp),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    return;
  }
  Session::accept(w.sessions_, w.runtime_, server, l->index);
}

void Worker::session_freed() {
  shared_.connections.fetch_sub(1);
  if (stopping_ && sessions_.count == 0) {
    uv_timer_stop(&grace_timer_);
    close_loop_handles();
  }
}

void Worker::close_loop_handles() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&grace_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

void Worker::begin_stop(Millis grace) {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  for (auto& l : listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp), nullptr);
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
