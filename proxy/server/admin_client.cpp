#include "proxy/server/admin_client.hpp"

#include "proxy/admin/admin_request.hpp"
#include "proxy/config/config_loader.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace popgate::proxy {
namespace {

constexpr const char* kDefaultSocket = "/run/popgate/admin.sock";
// A reply that takes longer means the gateway is stuck; say so rather than hang a script.
constexpr int kReplyTimeoutS = 10;

void print_usage(std::FILE* to) {
  std::fprintf(to,
               "usage: popgate [-c FILE] ctl [-s SOCKET] [--json] COMMAND...\n"
               "\n"
               "Talks to a running popgate's admin socket: -s SOCKET, else the [admin] socket\n"
               "of the config file, else %s. Commands:\n\n%s\n"
               "DURATION as in the config (\"30m\", \"1d\"); without it a ban lasts until unban.\n"
               "--json prints the reply as one JSON object.\n",
               kDefaultSocket, std::string(admin::usage()).c_str());
}

struct Options {
  std::string socket;
  std::string config;
  bool config_given = false;
  bool json = false;
  std::string command;
};

// Returns false on a usage error (already reported).
bool parse_options(const std::vector<std::string>& words, Options& o) {
  std::size_t i = 0;
  for (; i < words.size(); ++i) {
    const std::string& arg = words[i];
    if ((arg == "-s" || arg == "--socket") && i + 1 < words.size()) {
      o.socket = words[++i];
    } else if ((arg == "-c" || arg == "--config") && i + 1 < words.size()) {
      o.config = words[++i];
      o.config_given = true;
    } else if (arg == "--json") {
      o.json = true;
    } else if (arg == "-h" || arg == "--help") {
      print_usage(stdout);
      std::exit(0);
    } else if (!arg.empty() && arg.front() == '-') {
      std::fprintf(stderr, "popgate ctl: unknown option '%s' (try popgate ctl --help)\n",
                   arg.c_str());
      return false;
    } else {
      break;
    }
  }
  for (; i < words.size(); ++i) {
    o.command += (o.command.empty() ? "" : " ") + words[i];
  }
  if (o.command.empty()) {
    print_usage(stderr);
    return false;
  }
  return true;
}

// The socket to talk to: -s, else the config's [admin] socket, else the default. A config named
// with -c must load; the default one is only a hint (an operator may not be able to read it).
bool socket_path(Options& o) {
  if (!o.socket.empty()) {
    return true;
  }
  auto config = load_config(o.config);
  if (!config && o.config_given) {
    for (const auto& e : config.error()) {
      std::fprintf(stderr, "%s\n", e.to_string().c_str());
    }
    return false;
  }
  if (config) {
    o.socket = config.value().admin.socket;
  }
  if (o.socket.empty() && o.config_given) {
    std::fprintf(stderr, "popgate ctl: %s sets no [admin] socket; the admin socket is off\n",
                 o.config.c_str());
    return false;
  }
  if (o.socket.empty()) {
    o.socket = kDefaultSocket;
  }
  return true;
}

int connect_to(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    std::fprintf(stderr, "popgate ctl: socket path too long: %s\n", path.c_str());
    return -1;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::fprintf(stderr, "popgate ctl: socket: %s\n", std::strerror(errno));
    return -1;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int error = errno;
    std::fprintf(stderr, "popgate ctl: cannot connect to %s: %s%s\n", path.c_str(),
                 std::strerror(error),
                 error == ENOENT || error == ECONNREFUSED
                     ? " (is popgate running with this [admin] socket?)"
                     : (error == EACCES ? " (are you in the socket's [admin] group?)" : ""));
    ::close(fd);
    return -1;
  }
  timeval timeout{kReplyTimeoutS, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The reply up to (without) the empty line that ends it; false when the connection ended or
// timed out first.
bool read_reply(int fd, std::string& reply) {
  std::array<char, 4096> buf{};
  for (;;) {
    auto end = reply.find("\n\n");
    if (end != std::string::npos) {
      reply.resize(end + 1);
      return true;
    }
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    reply.append(buf.data(), static_cast<std::size_t>(n));
  }
}

} // namespace

int run_ctl(const std::vector<std::string>& words, const std::string& config_path,
            bool config_given) {
  Options o;
  o.config = config_path;
  o.config_given = config_given;
  if (!parse_options(words, o) || !socket_path(o)) {
    return 2;
  }
  int fd = connect_to(o.socket);
  if (fd < 0) {
    return 2;
  }
  std::string reply;
  bool sent = send_all(fd, (o.json ? "json " : "") + o.command + "\n");
  bool answered = sent && read_reply(fd, reply);
  ::close(fd);
  if (!answered) {
    std::fprintf(stderr, "popgate ctl: no reply from %s\n", o.socket.c_str());
    return 2;
  }
  if (o.json) {
    std::fwrite(reply.data(), 1, reply.size(), stdout);
    return reply.rfind(R"({"ok":true)", 0) == 0 ? 0 : 1;
  }
  if (reply.rfind("-ERR ", 0) == 0) {
    std::fprintf(stderr, "popgate ctl: %s", reply.c_str() + 5);
    return 1;
  }
  // "+OK summary" then the body: the summary line is printed as it is, without the status.
  std::string_view text(reply);
  if (text.rfind("+OK ", 0) == 0) {
    text.remove_prefix(4);
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

} // namespace popgate::proxy
