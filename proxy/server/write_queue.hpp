#pragma once

// The writes queued on one direction of a session, counted against its FlowControl. Each write
// owns its bytes until libuv's write callback: request and buffer in one allocation (libuv
// docs/code/tcp-echo-server). The owner learns when a write completes (and whether that drained
// the queue below its low-water mark) or fails; a write cancelled by uv_close is only freed.

#include "proxy/server/flow_control.hpp"

#include <cstdint>
#include <prometheus/counter.h>
#include <string>
#include <uv.h>

namespace popgate::proxy {

class WriteQueue {
public:
  class Owner {
  public:
    virtual void written(WriteQueue& queue, bool resumed) = 0;
    virtual void write_failed(WriteQueue& queue) = 0;

  protected:
    ~Owner() = default;
  };

  // `bytes` counts every byte queued (popgate_bytes_total for this direction).
  WriteQueue(Owner& owner, prometheus::Counter& bytes, std::size_t high_water)
      : owner_(owner), bytes_(bytes), flow_(high_water) {}

  // Queues `data` on `stream`. Returns false when libuv refused it: then no callback comes.
  bool write(uv_stream_t* stream, std::string data);

  // Above the high-water mark: stop reading the side that fills this queue.
  [[nodiscard]] bool paused() const { return flow_.paused(); }
  [[nodiscard]] std::uint64_t total() const { return total_; }
  [[nodiscard]] std::size_t queued() const { return flow_.queued(); }

private:
  static void on_write(uv_write_t* req, int status);

  Owner& owner_;
  prometheus::Counter& bytes_;
  FlowControl flow_;
  std::uint64_t total_ = 0;
};

} // namespace popgate::proxy
