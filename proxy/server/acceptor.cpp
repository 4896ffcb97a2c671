#include "proxy/server/acceptor.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace popgate::proxy {
namespace {

int open_reserve() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

int accept_one(int listen_fd) {
  return ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

// Errors that consumed nothing or only a connection the peer already gave up: try the next.
bool retry(int err) { return err == EINTR || err == ECONNABORTED; }

} // namespace

Acceptor::Acceptor(uv_loop_t* loop, int listen_fd, OnAccepted on_accepted, OnError on_error)
    : listen_fd_(listen_fd), reserve_fd_(open_reserve()), on_accepted_(std::move(on_accepted)),
      on_error_(std::move(on_error)) {
  uv_poll_init(loop, &poll_, listen_fd_);
  poll_.data = this;
  uv_timer_init(loop, &resume_);
  resume_.data = this;
}

Acceptor::~Acceptor() {
  if (!closed_) {
    ::close(listen_fd_);
  }
  if (reserve_fd_ >= 0) {
    ::close(reserve_fd_);
  }
}

void Acceptor::start() { uv_poll_start(&poll_, UV_READABLE, on_readable); }

void Acceptor::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  // uv_close stops the poll and forgets the descriptor at once, so closing it now is safe and
  // new connections are refused from here on rather than queued.
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&resume_), nullptr);
  ::close(listen_fd_);
}

void Acceptor::on_readable(uv_poll_t* poll, int status, int /*events*/) {
  auto* self = static_cast<Acceptor*>(poll->data);
  if (status < 0) {
    self->on_error_(-status, 1);
    self->pause();
    return;
  }
  self->accept_batch();
}

void Acceptor::accept_batch() {
  for (int i = 0; i < kBatch && !closed_; ++i) {
    int fd = accept_one(listen_fd_);
    if (fd >= 0) {
      on_accepted_(fd);
      continue;
    }
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      return;
    }
    if (retry(err)) {
      continue;
    }
    if ((err == EMFILE || err == ENFILE) && reserve_fd_ >= 0) {
      on_error_(err, shed_pending());
      if (reserve_fd_ >= 0) {
        return; // drained: the socket is quiet until the next client
      }
    } else {
      on_error_(err, 1);
    }
    pause();
    return;
  }
}

// Frees the reserve descriptor, uses it to accept and close everything pending, and takes it
// back. Returns the connections lost, counting the one whose accept failed.
unsigned Acceptor::shed_pending() {
  ::close(reserve_fd_);
  unsigned lost = 1;
  for (;;) {
    int fd = accept_one(listen_fd_);
    if (fd >= 0) {
      ::close(fd);
      ++lost;
    } else if (!retry(errno)) {
      break;
    }
  }
  reserve_fd_ = open_reserve(); // -1 if another thread took the slot: pause() follows
  return lost;
}

void Acceptor::pause() {
  uv_poll_stop(&poll_);
  uv_timer_start(&resume_, on_resume, static_cast<std::uint64_t>(kPause.count()), 0);
}

void Acceptor::on_resume(uv_timer_t* timer) {
  auto* self = static_cast<Acceptor*>(timer->data);
  if (self->reserve_fd_ < 0) {
    self->reserve_fd_ = open_reserve();
  }
  self->start();
}

} // namespace popgate::proxy
