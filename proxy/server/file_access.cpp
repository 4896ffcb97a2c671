#include "proxy/server/file_access.hpp"

#include "proxy/server/listen_socket.hpp"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

namespace popgate::proxy {
namespace {

// The first directory on the way to `path` that the process may not enter, or "".
std::string first_closed_directory(const std::string& path) {
  for (std::size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (::access(dir.c_str(), X_OK) != 0 && errno == EACCES) {
      return dir;
    }
  }
  return {};
}

std::string read_problem(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  int err = errno;
  if (fd >= 0) {
    char byte = 0;
    ssize_t n = ::read(fd, &byte, 1);
    err = errno;
    ::close(fd);
    if (n >= 0) {
      return {};
    }
  }
  std::string reason = std::strerror(err);
  if (err == EACCES) {
    std::string dir = first_closed_directory(path);
    reason += dir.empty() ? ": the file itself is not readable" : ": " + dir + " is not searchable";
  }
  return reason;
}

// The child's report, one "INDEX\tREASON\n" line per problem.
std::vector<FileProblem> parse_report(const std::string& text) {
  std::vector<FileProblem> problems;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    std::string line = text.substr(start, end - start);
    std::size_t tab = line.find('\t');
    if (tab != std::string::npos) {
      problems.push_back({std::strtoul(line.c_str(), nullptr, 10), line.substr(tab + 1)});
    }
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return problems;
}

} // namespace

std::vector<ConfiguredFile> configured_tls_files(const Config& config) {
  std::vector<ConfiguredFile> files;
  for (const auto& c : config.tls.certificates) {
    files.push_back({c.cert, c.cert_pos, "cert"});
    files.push_back({c.key, c.key_pos, "key"});
  }
  if (!config.tls.client_ca.empty()) {
    files.push_back({config.tls.client_ca, config.tls.client_ca_pos, "client_ca"});
  }
  if (!config.tls.ticket_key_file.empty()) {
    files.push_back(
        {config.tls.ticket_key_file, config.tls.ticket_key_file_pos, "ticket_key_file"});
  }
  return files;
}

std::vector<ConfiguredFile> files_read_on_reload(const Config& config) {
  std::vector<ConfiguredFile> files{{config.path, {}, "configuration"}};
  auto tls = configured_tls_files(config);
  files.insert(files.end(), tls.begin(), tls.end());
  return files;
}

std::vector<FileProblem> unreadable_files(const std::vector<ConfiguredFile>& files) {
  std::vector<FileProblem> problems;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (auto reason = read_problem(files[i].path); !reason.empty()) {
      problems.push_back({i, std::move(reason)});
    }
  }
  return problems;
}

Result<std::vector<FileProblem>, std::string>
unreadable_files_as(const std::string& user, const std::string& group,
                    const std::vector<ConfiguredFile>& files) {
  std::array<int, 2> pipe_fds{};
  if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
    return unexpected(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
  }
  pid_t child = ::fork();
  if (child < 0) {
    int err = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return unexpected(fmt::format("cannot fork: {}", std::strerror(err)));
  }
  if (child == 0) {
    // The child only drops privileges, reads and reports; _exit skips the parent's atexit
    // handlers and destructors.
    ::close(pipe_fds[0]);
    std::string report;
    int rc = 0;
    if (auto dropped = drop_privileges(user, group); !dropped) {
      report = dropped.error();
      rc = 3;
    } else {
      for (const auto& p : unreadable_files(files)) {
        report += fmt::format("{}\t{}\n", p.index, p.reason);
      }
    }
    for (std::size_t off = 0; off < report.size();) {
      ssize_t n = ::write(pipe_fds[1], report.data() + off, report.size() - off);
      if (n <= 0) {
        break;
      }
      off += static_cast<std::size_t>(n);
    }
    ::_exit(rc);
  }
  ::close(pipe_fds[1]);
  std::string report;
  std::array<char, 4096> buf{};
  for (ssize_t n; (n = ::read(pipe_fds[0], buf.data(), buf.size())) != 0;) {
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      break;
    }
    report.append(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 3) {
    return unexpected(report.empty() ? std::string("the check as that user did not finish")
                                     : report);
  }
  return parse_report(report);
}

} // namespace popgate::proxy
