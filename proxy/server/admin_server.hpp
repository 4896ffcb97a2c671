#pragma once

// The admin socket ([admin] socket): a Unix stream socket on the main loop that `popgate ctl`
// (or socat) talks to. Line-based: each request is one line; the handler answers each with one
// reply (proxy/admin/admin_reply.hpp frames it), possibly later, once the workers have
// answered. A connection handles one request at a time, in order.
//
// Bounds: at most kMaxClients connections (one more is told so and closed), request lines of
// at most admin::kMaxRequestLine bytes (a longer one gets an error and the connection is
// closed), and kIdleTimeout without a request closes a connection.
//
// Who may connect is the file's permissions: [admin] mode and group are applied right after
// bind. A stale socket file left by a popgate that died is replaced; one that a running process
// still listens on is an error.

#include "base/result.hpp"
#include "proxy/config/config.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <uv.h>

namespace popgate::proxy {

class AdminServer {
public:
  static constexpr unsigned kMaxClients = 16;
  static constexpr std::uint64_t kIdleTimeoutMs = 60'000;

  // `reply` may be called later (from the main loop), at most once; calling it after the
  // connection went away is harmless.
  using Reply = std::function<void(std::string bytes)>;
  using Handler = std::function<void(std::string_view line, Reply reply)>;

  AdminServer(uv_loop_t* loop, Handler handler);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  Result<void, std::string> listen(const AdminConfig& config);
  // Stops listening, closes every connection and removes the socket file.
  void close();

private:
  struct Client;
  static void on_connection(uv_stream_t* server, int status);
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_idle(uv_timer_t* timer);
  void resume(Client& c);
  void next_request(Client& c);
  void send(Client& c, std::string bytes, bool then_close);
  void close_client(Client& c);

  uv_loop_t* loop_;
  Handler handler_;
  uv_pipe_t pipe_{};
  std::string path_;
  bool listening_ = false;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, Client*> clients_;
};

} // namespace popgate::proxy
