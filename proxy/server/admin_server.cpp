#include "proxy/server/admin_server.hpp"

#include "proxy/admin/admin_request.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace popgate::proxy {
namespace {

template <typename T> uv_handle_t* as_handle(T* h) { return reinterpret_cast<uv_handle_t*>(h); }
template <typename T> uv_stream_t* as_stream(T* h) { return reinterpret_cast<uv_stream_t*>(h); }

// A write owns its bytes until write_cb: request and buffer in one allocation.
struct WriteRequest {
  uv_write_t req{};
  std::string bytes;
  bool then_close = false;
};

// Someone still listens on `path`: a second popgate, or the same one started twice.
bool someone_listens(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  bool listens = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return listens;
}

Result<void, std::string> clear_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return {};
  }
  if (!S_ISSOCK(st.st_mode)) {
    return unexpected(fmt::format("admin.socket {}: exists and is not a socket", path));
  }
  if (someone_listens(path)) {
    return unexpected(
        fmt::format("admin.socket {}: another process listens on it (is popgate running?)", path));
  }
  ::unlink(path.c_str()); // left by a popgate that did not stop cleanly
  return {};
}

} // namespace

struct AdminServer::Client {
  AdminServer* server = nullptr;
  std::uint64_t id = 0;
  uv_pipe_t pipe{};
  uv_timer_t idle{};
  std::string buffer;
  bool busy = false; // a request is being answered
  bool closing = false;
  int open_handles = 2;
};

AdminServer::AdminServer(uv_loop_t* loop, Handler handler)
    : loop_(loop), handler_(std::move(handler)) {}

AdminServer::~AdminServer() = default;

Result<void, std::string> AdminServer::listen(const AdminConfig& config) {
  path_ = config.socket;
  if (auto cleared = clear_stale_socket(path_); !cleared) {
    return cleared;
  }
  auto gid = static_cast<gid_t>(-1);
  if (!config.group.empty()) {
    const struct group* gr = ::getgrnam(config.group.c_str());
    if (gr == nullptr) {
      return unexpected(fmt::format("admin.group '{}' does not exist", config.group));
    }
    gid = gr->gr_gid;
  }
  uv_pipe_init(loop_, &pipe_, 0);
  pipe_.data = this;
  listening_ = true;
  int rc = uv_pipe_bind(&pipe_, path_.c_str());
  if (rc != 0) {
    return unexpected(fmt::format("admin.socket {}: cannot bind: {}; does its folder exist and "
                                  "may popgate write there?",
                                  path_, uv_strerror(rc)));
  }
  if (::chmod(path_.c_str(), config.mode) != 0 ||
      (gid != static_cast<gid_t>(-1) && ::chown(path_.c_str(), static_cast<uid_t>(-1), gid) != 0)) {
    return unexpected(fmt::format("admin.socket {}: cannot set mode {:o} and group '{}': {}", path_,
                                  config.mode, config.group, std::strerror(errno)));
  }
  rc = uv_listen(as_stream(&pipe_), 16, on_connection);
  if (rc != 0) {
    return unexpected(fmt::format("admin.socket {}: cannot listen: {}", path_, uv_strerror(rc)));
  }
  return {};
}

void AdminServer::close() {
  if (!listening_) {
    return;
  }
  listening_ = false;
  uv_close(as_handle(&pipe_), nullptr);
  ::unlink(path_.c_str()); // best effort: after dropping privileges the folder may be root's
  auto clients = clients_;
  for (auto& [id, c] : clients) {
    close_client(*c);
  }
}

void AdminServer::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<AdminServer*>(listener->data);
  if (status < 0) {
    return;
  }
  auto* c = new Client;
  c->server = self;
  c->id = ++self->next_id_;
  uv_pipe_init(self->loop_, &c->pipe, 0);
  uv_timer_init(self->loop_, &c->idle);
  c->pipe.data = c->idle.data = c;
  self->clients_[c->id] = c;
  if (uv_accept(listener, as_stream(&c->pipe)) != 0) {
    self->close_client(*c);
    return;
  }
  if (self->clients_.size() > kMaxClients) {
    self->send(*c, "-ERR too many admin connections; try again\n\n", true);
    return;
  }
  self->resume(*c);
}

// Reading again, with the idle deadline, once no request is being answered.
void AdminServer::resume(Client& c) {
  uv_timer_start(&c.idle, on_idle, kIdleTimeoutMs, 0);
  uv_read_start(as_stream(&c.pipe), on_alloc, on_read);
}

void AdminServer::on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) {
  static thread_local std::array<char, 4096> storage;
  *buf = uv_buf_init(storage.data(), storage.size());
}

void AdminServer::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Client*>(stream->data);
  if (nread == 0) {
    return;
  }
  if (nread < 0) {
    c->server->close_client(*c);
    return;
  }
  c->buffer.append(buf->base, static_cast<std::size_t>(nread));
  c->server->next_request(*c);
}

void AdminServer::on_idle(uv_timer_t* timer) {
  auto* c = static_cast<Client*>(timer->data);
  c->server->close_client(*c);
}

// Takes the next complete line, if no request is being answered; an over-long one ends the
// connection (its end cannot be found without reading without bound).
void AdminServer::next_request(Client& c) {
  if (c.busy || c.closing) {
    return;
  }
  auto lf = c.buffer.find('\n');
  if (lf == std::string::npos) {
    if (c.buffer.size() >= admin::kMaxRequestLine) {
      send(c, "-ERR request line too long\n\n", true);
    }
    return;
  }
  if (lf >= admin::kMaxRequestLine) {
    send(c, "-ERR request line too long\n\n", true);
    return;
  }
  std::string line = c.buffer.substr(0, lf);
  c.buffer.erase(0, lf + 1);
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  c.busy = true;
  uv_read_stop(as_stream(&c.pipe)); // one request at a time; the rest waits in the socket
  uv_timer_stop(&c.idle);
  std::uint64_t id = c.id;
  handler_(line, [this, id](std::string bytes) {
    auto it = clients_.find(id);
    if (it == clients_.end() || it->second->closing) {
      return; // the client went away meanwhile
    }
    send(*it->second, std::move(bytes), false);
  });
}

void AdminServer::send(Client& c, std::string bytes, bool then_close) {
  if (then_close) {
    c.busy = true; // nothing more is read or answered on this connection
    uv_read_stop(as_stream(&c.pipe));
  }
  auto* w = new WriteRequest;
  w->bytes = std::move(bytes);
  w->then_close = then_close;
  w->req.data = &c;
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  int rc = uv_write(&w->req, as_stream(&c.pipe), &buf, 1, [](uv_write_t* req, int status) {
    auto* write = reinterpret_cast<WriteRequest*>(req);
    auto* client = static_cast<Client*>(req->data);
    bool close_after = write->then_close;
    delete write;
    if (status == UV_ECANCELED) {
      return; // closed meanwhile: client may be gone already
    }
    if (status < 0 || close_after) {
      client->server->close_client(*client);
      return;
    }
    client->busy = false;
    client->server->next_request(*client);
    if (!client->busy && !client->closing) {
      client->server->resume(*client);
    }
  });
  if (rc != 0) {
    delete w;
    close_client(c);
  }
}

void AdminServer::close_client(Client& c) {
  if (c.closing) {
    return;
  }
  c.closing = true;
  clients_.erase(c.id);
  auto closed = [](uv_handle_t* h) {
    auto* client = static_cast<Client*>(h->data);
    if (--client->open_handles == 0) {
      delete client;
    }
  };
  uv_close(as_handle(&c.pipe), closed);
  uv_close(as_handle(&c.idle), closed);
}

} // namespace popgate::proxy
