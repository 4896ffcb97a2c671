#include "proxy/server/process_metrics.hpp"

#include "metrics/process_stats.hpp"

#include <algorithm>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

namespace popgate::proxy {
namespace {

std::string read_file(const char* path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Entries of /proc/self/fd, minus the descriptor the listing itself holds while counting. It
// is opened with open() and fdopendir() rather than opendir(): ThreadSanitizer sees open() make
// the descriptor, but not opendir(), and would take a number a worker's closed socket had for
// that socket still in use.
std::size_t count_open_fds() {
  int fd = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return 0;
  }
  std::size_t n = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') {
      ++n;
    }
  }
  ::closedir(dir);
  return n > 0 ? n - 1 : 0;
}

std::vector<prometheus::MetricFamily> collect_process() {
  auto stat = metrics::parse_proc_stat(read_file("/proc/self/stat"));
  auto boot = metrics::parse_boot_time(read_file("/proc/stat"));
  if (!stat || !boot) {
    return {}; // not Linux, or /proc not mounted (a chroot): export nothing rather than zeros
  }
  rlimit limit{};
  std::uint64_t max_fds = 0;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    max_fds = limit.rlim_cur;
  }
  return metrics::process_families(metrics::process_stats(
      *stat, *boot, ::sysconf(_SC_CLK_TCK), ::sysconf(_SC_PAGESIZE), count_open_fds(), max_fds));
}

} // namespace

void add_process_collector(metrics::Metrics& metrics) { metrics.add_collector(collect_process); }

void LoopBusy::enable(uv_loop_t* loop) { uv_loop_configure(loop, UV_METRICS_IDLE_TIME); }

void LoopBusy::start(uv_loop_t* loop) {
  std::lock_guard lock(mutex_);
  loop_ = loop;
  started_ns_ = uv_hrtime();
}

void LoopBusy::finish() {
  std::lock_guard lock(mutex_);
  last_ = measure();
  loop_ = nullptr;
}

double LoopBusy::seconds() const {
  std::lock_guard lock(mutex_);
  last_ = measure();
  return last_;
}

double LoopBusy::measure() const {
  if (loop_ == nullptr) {
    return last_;
  }
  const std::uint64_t idle = uv_metrics_idle_time(loop_);
  const std::uint64_t elapsed = uv_hrtime() - started_ns_;
  const double busy = elapsed > idle ? static_cast<double>(elapsed - idle) / 1e9 : 0.0;
  return std::max(last_, busy);
}

} // namespace popgate::proxy
