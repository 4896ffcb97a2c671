#pragma once

// `popgate [-c FILE] ctl [-s SOCKET] [--json] COMMAND...`: sends one command to a running
// popgate's admin socket and prints the reply. Exit status: 0 the command succeeded, 1 popgate
// refused it (the reason is printed on stderr), 2 a usage error or no popgate to talk to.
//
// The socket: -s SOCKET; else the [admin] socket of the config file (-c FILE, before or after
// `ctl`, or the default config if it can be read and sets one); else /run/popgate/admin.sock.

#include <string>
#include <vector>

namespace popgate::proxy {

// `words`: what followed `ctl`. `config_given`: -c came before `ctl` (its errors then count).
int run_ctl(const std::vector<std::string>& words, const std::string& config_path,
            bool config_given);

} // namespace popgate::proxy
