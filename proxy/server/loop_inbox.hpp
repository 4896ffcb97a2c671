#pragma once

// Work for one event loop from other threads: a queue of closures behind a mutex, and a
// uv_async_t that wakes the loop to run them. Each worker takes reloads, stops and the admin
// socket's visits this way, and the main loop takes the workers' answers to the admin socket.
//
// post() either promises the closure will run on the loop (true) or drops it because the inbox
// is closed (false). close() runs what was posted before it, so no promise is broken.

#include <functional>
#include <mutex>
#include <uv.h>
#include <vector>

namespace popgate::proxy {

class LoopInbox {
public:
  // Loop thread.
  void open(uv_loop_t* loop) {
    uv_async_init(loop, &async_, on_async);
    async_.data = this;
    open_ = true;
  }
  void close() {
    std::vector<std::function<void()>> left;
    {
      std::lock_guard lock(mutex_);
      if (!open_) {
        return;
      }
      open_ = false;
      left.swap(queue_);
      // Under the lock, so a post() cannot uv_async_send() a closing handle.
      uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    }
    run(left);
  }

  // Any thread.
  bool post(std::function<void()> fn) {
    std::lock_guard lock(mutex_);
    if (!open_) {
      return false;
    }
    queue_.push_back(std::move(fn));
    uv_async_send(&async_); // under the lock: close() cannot close async_ in between
    return true;
  }

private:
  static void on_async(uv_async_t* async) {
    auto* self = static_cast<LoopInbox*>(async->data);
    std::vector<std::function<void()>> work;
    {
      std::lock_guard lock(self->mutex_);
      work.swap(self->queue_);
    }
    run(work);
  }
  static void run(std::vector<std::function<void()>>& work) {
    for (auto& fn : work) {
      fn();
    }
  }

  std::mutex mutex_;
  std::vector<std::function<void()>> queue_;
  uv_async_t async_{};
  bool open_ = false; // guarded by mutex_ once the loop runs
};

} // namespace popgate::proxy
