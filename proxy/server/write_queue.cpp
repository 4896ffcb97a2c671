#include "proxy/server/write_queue.hpp"

namespace popgate::proxy {
namespace {

struct WriteRequest {
  uv_write_t req{};
  std::string data;
};

} // namespace

bool WriteQueue::write(uv_stream_t* stream, std::string data) {
  auto* w = new WriteRequest;
  w->data = std::move(data);
  w->req.data = this;
  auto n = w->data.size();
  total_ += n;
  bytes_.Increment(static_cast<double>(n));
  flow_.queued(n);
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(n));
  if (uv_write(&w->req, stream, &buf, 1, on_write) != 0) {
    delete w;
    return false;
  }
  return true;
}

void WriteQueue::on_write(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteRequest*>(req);
  auto* self = static_cast<WriteQueue*>(req->data);
  auto n = w->data.size();
  delete w;
  if (status == UV_ECANCELED) {
    return; // the stream is closing
  }
  if (status < 0) {
    self->owner_.write_failed(*self);
    return;
  }
  self->owner_.written(*self, self->flow_.written(n) == FlowControl::Action::Resume);
}

} // namespace popgate::proxy
