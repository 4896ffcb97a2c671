"""The process_* families of the Prometheus client conventions and each event loop's busy time,
read at scrape time from the running popgate: present, of the right type, and telling the
truth about the process (its descriptors, its start, its memory)."""

import os
import time

from popgate_fixtures.pop3client import RawPop3
from popgate_fixtures.scrape import promtool_check, scrape
from popgate_fixtures.wait import wait_until

USER = "pia"
PASSWORD = "pw-process-1414"


def test_process_metrics_describe_the_running_process(dovecot_factory, popgate_factory,
                                                      client_ctx):
    d = dovecot_factory({USER: (PASSWORD, [])})
    started = time.time()
    p = popgate_factory([(d.host, d.port)], overrides={"server": {"workers": 2}})
    m = scrape(p)
    for line in ("# TYPE process_cpu_seconds_total counter",
                 "# TYPE process_resident_memory_bytes gauge",
                 "# TYPE process_open_fds gauge", "# TYPE process_max_fds gauge",
                 "# TYPE process_start_time_seconds gauge",
                 "# TYPE popgate_event_loop_busy_seconds_total counter"):
        assert line in m.text, line
    rc, out = promtool_check(m.text)
    assert rc == 0, out

    pid = p.proc.pid
    open_fds = m.value("process_open_fds")
    actual = len(os.listdir(f"/proc/{pid}/fd"))
    # Listeners (two per worker), loops, the metrics socket: more than a handful, and what
    # /proc says give or take the scrape's own connection.
    assert open_fds > 5 and abs(open_fds - actual) <= 3, (open_fds, actual)
    with open(f"/proc/{pid}/limits") as f:
        soft = next(l.split()[3] for l in f if l.startswith("Max open files"))
    assert m.value("process_max_fds") == int(soft)
    # popgate started within this test: its start time is between just before and now.
    assert started - 5 <= m.value("process_start_time_seconds") <= time.time() + 1
    assert m.value("process_resident_memory_bytes") > 1024 * 1024

    loops = {labels["loop"]: v for labels, v in m.series("popgate_event_loop_busy_seconds_total")}
    assert set(loops) == {"main", "worker-0", "worker-1"}, loops
    # Work moves the counters: sessions make the workers busy, scrapes the main loop.
    for _ in range(3):
        with RawPop3("127.0.0.1", p.port, client_ctx) as c:
            c.login(USER, PASSWORD)
            assert c.command("QUIT").startswith(b"+OK")

    def moved():
        later = {l["loop"]: v for l, v in scrape(p).series("popgate_event_loop_busy_seconds_total")}
        workers = sum(later[w] - loops[w] for w in ("worker-0", "worker-1"))
        return later if workers > 0 and later["main"] > loops["main"] else None
    later = wait_until(moved, 10, "the loops' busy time to grow")

    # The kernel counts CPU time in clock ticks: a fresh process may read 0 until it has done
    # enough work, so sessions go on until the counter moves.
    def cpu_counted():
        with RawPop3("127.0.0.1", p.port, client_ctx) as c:
            c.login(USER, PASSWORD)
            assert c.command("QUIT").startswith(b"+OK")
        return scrape(p).value("process_cpu_seconds_total") > 0
    wait_until(cpu_counted, 20, "process_cpu_seconds_total to count the sessions' work")
    elapsed = time.time() - started
    for loop, busy in later.items():
        assert 0 < busy < elapsed, (loop, busy, elapsed)
