#pragma once

// The systemd notification protocol (sd_notify(3)), written out here rather than linking
// libsystemd: one datagram of "KEY=value" lines to the AF_UNIX socket named by $NOTIFY_SOCKET
// (a path, or an abstract socket written with a leading '@'). Without $NOTIFY_SOCKET every call
// does nothing, so popgate run from a shell or a container is unaffected.
//
// popgate sends READY=1 once every listener is bound and the workers run, RELOADING=1 with
// MONOTONIC_USEC before a SIGHUP reload and READY=1 after it (applied or refused), STOPPING=1 when
// the drain begins, and STATUS= lines for `systemctl status`.

#include <string>
#include <string_view>

namespace popgate::proxy::sd_notify {

// Sends `state` (one or more "KEY=value" lines). Returns false if $NOTIFY_SOCKET is set but the
// datagram could not be sent; notification is best effort, so callers only log that.
bool send(std::string_view state);

// "RELOADING=1\nMONOTONIC_USEC=<CLOCK_MONOTONIC now in microseconds>", as systemd 253+ expects
// from a service that reloads (systemd.service(5), Type=notify-reload).
std::string reloading_state();

} // namespace popgate::proxy::sd_notify
