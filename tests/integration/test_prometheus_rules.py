"""Checks the Prometheus alert rules and the Grafana dashboard shipped under conf/.

Runs promtool (Debian's prometheus package) on conf/prometheus/alerts.yml and its unit tests,
and makes sure the dashboard is valid JSON whose queries are valid PromQL and name only the
metrics popgate exports. Needs no popgate binary.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

SOURCE_DIR = pathlib.Path(
    os.environ.get("POPGATE_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2])
)
PROMETHEUS_DIR = SOURCE_DIR / "conf" / "prometheus"
DASHBOARD = SOURCE_DIR / "conf" / "grafana" / "popgate-dashboard.json"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

# The metric families of the product contract (SPEC section 4), plus popgate_max_connections,
# which popgate exports so that alerts can compare sessions with the configured limit.
COUNTERS = {
    "connections_total", "tls_handshakes_total", "tls_sessions_resumed_total", "starttls_total",
    "plaintext_auth_refused_total", "starttls_discarded_bytes_total", "commands_total",
    "auth_total", "policy_decisions_total", "bans_total", "rejected_connections_total",
    "bytes_total", "backend_errors_total", "config_reloads_total", "tls_sessions_total",
    "event_loop_busy_seconds_total",
    "accept_errors_total",
}
GAUGES = {
    "sessions_active", "bans_active", "backend_up", "certificate_expiry_timestamp_seconds",
    "build_info", "max_connections", "config_last_reload_successful",
    "config_last_reload_success_timestamp_seconds",
}
HISTOGRAMS = {
    "session_duration_seconds", "tls_handshake_duration_seconds",
    "backend_connect_duration_seconds",
}
KNOWN = {"popgate_" + name for name in COUNTERS | GAUGES}
KNOWN |= {"popgate_" + name + suffix for name in HISTOGRAMS
          for suffix in ("_bucket", "_sum", "_count")}

needs_promtool = pytest.mark.skipif(
    not os.access(PROMTOOL, os.X_OK), reason="promtool not installed"
)


def promtool(*args, cwd=PROMETHEUS_DIR):
    result = subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result


def dashboard_exprs():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            exprs.append((panel["title"], target["expr"]))
    return dashboard, exprs


@needs_promtool
def test_alert_rules_are_valid():
    promtool("check", "rules", "alerts.yml")


@needs_promtool
def test_alert_rule_unit_tests_pass():
    promtool("test", "rules", "alerts_test.yml")


@needs_promtool
def test_example_prometheus_config_is_valid():
    promtool("check", "config", "prometheus.yml")


def test_alert_rules_use_only_exported_metrics():
    yaml = pytest.importorskip("yaml")
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text(encoding="utf-8"))
    rules = [rule for group in groups["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= {
        "PopgateBackendDown", "PopgateTlsHandshakeFailures", "PopgateBansSpiking",
        "PopgateCertificateExpiringSoon", "PopgateNearMaxConnections",
        "PopgateConfigReloadFailed",
    }
    for rule in rules:
        names = set(re.findall(r"\bpopgate_[a-z_]+", rule["expr"]))
        assert names, f"{rule['alert']} names no popgate metric"
        assert names <= KNOWN, f"{rule['alert']} uses unknown metrics {sorted(names - KNOWN)}"


def test_every_alert_links_a_runbook_page_in_the_repository():
    yaml = pytest.importorskip("yaml")
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text(encoding="utf-8"))
    rules = [rule for group in groups["groups"] for rule in group["rules"]]
    pages = set()
    for rule in rules:
        url = rule.get("annotations", {}).get("runbook_url", "")
        assert url == f"docs/runbooks/{rule['alert']}.md", f"{rule['alert']}: runbook_url {url!r}"
        page = SOURCE_DIR / url
        assert page.is_file(), f"{rule['alert']}: {url} does not exist"
        text = page.read_text(encoding="utf-8")
        assert text.startswith(f"# {rule['alert']}\n"), url
        for section in ("## What it means", "## What to check", "## What to do"):
            assert section in text, f"{url} lacks {section!r}"
        pages.add(page.name)
    on_disk = {p.name for p in (SOURCE_DIR / "docs" / "runbooks").glob("*.md")}
    assert on_disk == pages, f"runbooks without an alert: {sorted(on_disk - pages)}"


def test_alert_tests_cover_an_idle_start_with_a_standby_server():
    yaml = pytest.importorskip("yaml")
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text(encoding="utf-8"))
    alerts = {rule["alert"] for group in yaml.safe_load(
        (PROMETHEUS_DIR / "alerts.yml").read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]}

    def idle(test):
        servers = [s["series"] for s in test["input_series"]
                   if s["series"].startswith("popgate_backend_up{")]
        quiet = all(not r["exp_alerts"] for r in test["alert_rule_test"])
        checked = {r["alertname"] for r in test["alert_rule_test"]}
        return len(servers) >= 2 and quiet and checked == alerts
    assert any(idle(t) for t in tests["tests"]), \
        "no promtool test feeds an idle start with a standby server and expects silence"


def test_dashboard_parses_and_every_panel_is_described():
    dashboard, exprs = dashboard_exprs()
    assert dashboard["panels"], "dashboard has no panels"
    assert exprs, "dashboard has no queries"
    for panel in dashboard["panels"]:
        assert panel.get("description", "").strip(), f"panel {panel['title']!r} lacks a description"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are not unique"


def test_dashboard_references_only_exported_metrics():
    _, exprs = dashboard_exprs()
    used = set()
    for title, expr in exprs:
        names = set(re.findall(r"\bpopgate_[a-z_]+", expr))
        assert names, f"panel {title!r} query names no popgate metric: {expr}"
        unknown = names - KNOWN
        assert not unknown, f"panel {title!r} uses unknown metrics {sorted(unknown)}"
        used |= names
    # The panels the dashboard promises: sessions, handshakes, commands, auth, bytes, backend
    # latency, bans, certificate expiry.
    for required in (
        "popgate_sessions_active", "popgate_tls_handshakes_total", "popgate_commands_total",
        "popgate_auth_total", "popgate_bytes_total",
        "popgate_backend_connect_duration_seconds_bucket", "popgate_bans_active",
        "popgate_certificate_expiry_timestamp_seconds",
    ):
        assert required in used, f"no panel shows {required}"


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path):
    # promtool has no standalone query checker, so each query becomes a recording rule, with
    # Grafana's variables replaced by what Grafana would substitute.
    _, exprs = dashboard_exprs()
    substitutions = {"$__rate_interval": "1m", "$__range": "6h", "$__interval": "1m"}
    rules = []
    for i, (_, expr) in enumerate(exprs):
        for variable, value in substitutions.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"popgate:dashboard_query_{i}", "expr": expr})
    # JSON is valid YAML, so the rule file needs no YAML library.
    rule_file = tmp_path / "dashboard_rules.yml"
    rule_file.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    promtool("check", "rules", str(rule_file), cwd=tmp_path)
