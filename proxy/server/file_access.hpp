#pragma once

// Can popgate read its certificate, key and CA files as the user it runs as? The first load
// happens as root, before privileges are dropped; every renewal is read later as [server] user.
// With certbot's defaults (0700 live/ and archive/, 0600 keys) the start works and the renewal
// 60 days later fails, so `--check` and the start ask the kernel now, as that user.

#include "base/result.hpp"
#include "proxy/config/config.hpp"

#include <string>
#include <vector>

namespace popgate::proxy {

// A file named in the config: where (for FILE:LINE:COL) and which key.
struct ConfiguredFile {
  std::string path;
  SourcePos pos;
  std::string key; // "cert", "key", "client_ca", "ticket_key_file", "configuration"
};

// Every [[tls.certificate]] cert and key, then [tls] client_ca and ticket_key_file: the files a
// renewal or key rotation replaces, in config order.
std::vector<ConfiguredFile> configured_tls_files(const Config& config);
// What a reload reads: the configuration file itself, then configured_tls_files().
std::vector<ConfiguredFile> files_read_on_reload(const Config& config);

struct FileProblem {
  std::size_t index;  // into the files given
  std::string reason; // "Permission denied: /etc/letsencrypt/live is not searchable"
};

// Opens and reads one byte of each file as the process is now.
std::vector<FileProblem> unreadable_files(const std::vector<ConfiguredFile>& files);

// The same in a child process that first drops to `user`/`group` as the server does
// (drop_privileges). Only meaningful as root; the error says why the check could not run.
Result<std::vector<FileProblem>, std::string>
unreadable_files_as(const std::string& user, const std::string& group,
                    const std::vector<ConfiguredFile>& files);

} // namespace popgate::proxy
