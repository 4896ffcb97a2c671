// Unit tests for popgate::metrics::Metrics: every family of SPEC section 4 exists with its help
// text and label names, handles count into the right series, and label sets stay bounded.

#include <algorithm>
#include <array>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "metrics/metrics.hpp"

namespace popgate::metrics {
namespace {

Labels test_labels() {
  Labels labels;
  labels.listeners = {"pop3s", "pop3"};
  labels.version = "0.1.0";
  labels.mbedtls = "2.28.3";
  labels.libuv = "1.44.2";
  return labels;
}

const prometheus::MetricFamily* find_family(const std::vector<prometheus::MetricFamily>& all,
                                            std::string_view name) {
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& f) { return f.name == name; });
  return it == all.end() ? nullptr : &*it;
}

std::set<std::string> label_names(const prometheus::MetricFamily& family) {
  std::set<std::string> names;
  for (const auto& metric : family.metric) {
    for (const auto& label : metric.label) {
      names.insert(label.name);
    }
  }
  return names;
}

// The sample of `family` whose labels are exactly `labels`, or nullptr.
const prometheus::ClientMetric* find_sample(const std::vector<prometheus::MetricFamily>& all,
                                            std::string_view family,
                                            std::vector<prometheus::ClientMetric::Label> labels) {
  const auto* f = find_family(all, family);
  if (f == nullptr) {
    return nullptr;
  }
  std::sort(labels.begin(), labels.end());
  for (const auto& metric : f->metric) {
    auto have = metric.label;
    std::sort(have.begin(), have.end());
    if (have == labels) {
      return &metric;
    }
  }
  return nullptr;
}

struct FamilyCase {
  std::string_view name;
  prometheus::MetricType type;
  std::set<std::string> labels;
};

class MetricsFamilyTest : public ::testing::TestWithParam<FamilyCase> {};

TEST_P(MetricsFamilyTest, ExistsAfterConstructionWithHelpAndLabelNames) {
  Metrics metrics(test_labels());
  metrics.set_certificates({{"pop.example.com", std::chrono::sys_seconds{}}});
  // What the gateway does for a loaded config: one backend, one rule.
  auto& backend = metrics.backend("legacy", {"127.0.0.1:110"});
  auto& rule = metrics.rule("archive-read-only");
  metrics.set_server_up(backend, 0, true); // backend_up appears with the first result
  metrics.tls_session("TLSv1.3", "TLS1-3-AES-128-GCM-SHA256"); // and this with a handshake
  auto all = metrics.registry()->Collect();
  const auto* family = find_family(all, GetParam().name);
  ASSERT_NE(family, nullptr) << GetParam().name;
  EXPECT_EQ(family->type, GetParam().type);
  EXPECT_FALSE(family->help.empty());
  EXPECT_FALSE(family->metric.empty()) << "every child a loaded config has is created up front";
  metrics.release(backend);
  metrics.release(rule);
  EXPECT_EQ(label_names(*family), GetParam().labels);
}

using T = prometheus::MetricType;
const auto kFamilies = std::to_array<FamilyCase>({
    {"popgate_connections_total", T::Counter, {"listener"}},
    {"popgate_sessions_active", T::Gauge, {"listener"}},
    {"popgate_session_duration_seconds", T::Histogram, {"listener"}},
    {"popgate_tls_handshakes_total", T::Counter, {"listener", "result", "reason"}},
    {"popgate_tls_sessions_total", T::Counter, {"version", "cipher"}},
    {"popgate_tls_handshake_duration_seconds", T::Histogram, {}},
    {"popgate_tls_sessions_resumed_total", T::Counter, {}},
    {"popgate_starttls_total", T::Counter, {"result"}},
    {"popgate_plaintext_auth_refused_total", T::Counter, {"listener"}},
    {"popgate_starttls_discarded_bytes_total", T::Counter, {}},
    {"popgate_commands_total", T::Counter, {"command"}},
    {"popgate_auth_total", T::Counter, {"result"}},
    {"popgate_policy_decisions_total", T::Counter, {"rule", "action"}},
    {"popgate_bans_active", T::Gauge, {}},
    {"popgate_bans_total", T::Counter, {}},
    {"popgate_ban_store_errors_total", T::Counter, {}},
    {"popgate_rejected_connections_total", T::Counter, {"reason"}},
    {"popgate_bytes_total", T::Counter, {"direction"}},
    {"popgate_backend_connect_duration_seconds", T::Histogram, {"backend"}},
    {"popgate_backend_errors_total", T::Counter, {"backend", "reason"}},
    {"popgate_backend_up", T::Gauge, {"backend", "server"}},
    {"popgate_config_reloads_total", T::Counter, {"result"}},
    {"popgate_certificate_expiry_timestamp_seconds", T::Gauge, {"name"}},
    {"popgate_build_info", T::Gauge, {"version", "mbedtls", "libuv"}},
    {"popgate_max_connections", T::Gauge, {}},
    {"popgate_accept_errors_total", T::Counter, {"reason"}},
    {"popgate_config_last_reload_successful", T::Gauge, {}},
    {"popgate_config_last_reload_success_timestamp_seconds", T::Gauge, {}},
});

INSTANTIATE_TEST_SUITE_P(AllFamilies, MetricsFamilyTest, ::testing::ValuesIn(kFamilies),
                         [](const auto& test) {
                           return std::string(test.param.name.substr(sizeof("popgate_") - 1));
                         });

TEST(MetricsTest, CountsThroughHandlesShowExactValues) {
  Metrics metrics(test_labels());
  auto& pop3s = metrics.listener(0);
  pop3s.connections.Increment();
  pop3s.connections.Increment();
  pop3s.sessions_active.Increment();
  pop3s.handshake_failed(HandshakeFailure::ProtocolVersion).Increment();
  pop3s.session_duration.Observe(2.0);
  metrics.listener(1).plaintext_auth_refused.Increment(3);
  auto& legacy = metrics.backend("legacy", {"127.0.0.1:110", "127.0.0.2:110"});
  legacy.error(BackendError::GreetingTimeout).Increment();
  metrics.set_server_up(legacy, 1, true);
  metrics.backend("archive", {"10.0.0.9:110"}).connect_duration.Observe(0.002);
  auto& rule = metrics.rule("archive-read-only");
  rule.decision(PolicyAction::Deny).Increment();
  rule.decision(PolicyAction::Close, true).Increment();
  metrics.command("retr").Increment();
  metrics.command("RETR").Increment();
  metrics.bytes(Direction::BackendIn).Increment(1234);
  metrics.auth(false).Increment();
  metrics.starttls(StarttlsResult::Refused).Increment();
  metrics.rejected(RejectReason::PerIpLimit).Increment();
  metrics.config_reload(true).Increment();
  metrics.tls_handshake_duration().Observe(0.003);
  metrics.tls_resumed().Increment();
  metrics.starttls_discarded_bytes().Increment(17);
  metrics.bans_active().Set(2);
  metrics.bans_total().Increment(5);
  metrics.max_connections().Set(20000);

  std::string text = metrics.serialize();
  const auto expected = std::to_array<std::string_view>({
      "popgate_connections_total{listener=\"pop3s\"} 2\n",
      "popgate_connections_total{listener=\"pop3\"} 0\n",
      "popgate_sessions_active{listener=\"pop3s\"} 1\n",
      "popgate_tls_handshakes_total{listener=\"pop3s\",reason=\"protocol_version\",result="
      "\"failure\"} 1\n",
      "popgate_tls_handshakes_total{listener=\"pop3s\",reason=\"eof\",result=\"failure\"} 0\n",
      "popgate_session_duration_seconds_count{listener=\"pop3s\"} 1\n",
      "popgate_session_duration_seconds_sum{listener=\"pop3s\"} 2\n",
      "popgate_plaintext_auth_refused_total{listener=\"pop3\"} 3\n",
      "popgate_backend_errors_total{backend=\"legacy\",reason=\"greeting_timeout\"} 1\n",
      "popgate_backend_up{backend=\"legacy\",server=\"127.0.0.2:110\"} 1\n",
      "popgate_backend_connect_duration_seconds_bucket{backend=\"archive\",le=\"0.0025\"} 1\n",
      "popgate_policy_decisions_total{action=\"deny\",rule=\"archive-read-only\"} 1\n",
      "popgate_policy_decisions_total{action=\"dry_run_close\",rule=\"archive-read-only\"} 1\n",
      "popgate_commands_total{command=\"RETR\"} 2\n",
      "popgate_bytes_total{direction=\"backend_in\"} 1234\n",
      "popgate_auth_total{result=\"failure\"} 1\n",
      "popgate_starttls_total{result=\"refused\"} 1\n",
      "popgate_rejected_connections_total{reason=\"per_ip_limit\"} 1\n",
      "popgate_config_reloads_total{result=\"success\"} 1\n",
      "popgate_tls_handshake_duration_seconds_bucket{le=\"0.005\"} 1\n",
      "popgate_tls_handshake_duration_seconds_bucket{le=\"0.0025\"} 0\n",
      "popgate_tls_sessions_resumed_total 1\n",
      "popgate_starttls_discarded_bytes_total 17\n",
      "popgate_bans_active 2\n",
      "popgate_bans_total 5\n",
      "popgate_max_connections 20000\n",
      "popgate_build_info{libuv=\"1.44.2\",mbedtls=\"2.28.3\",version=\"0.1.0\"} 1\n",
  });
  for (auto line : expected) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "in:\n" << text;
  }
  // No result for the first server yet: no series, rather than a 0 that reads as "down".
  EXPECT_EQ(text.find("server=\"127.0.0.1:110\""), std::string::npos) << text;
}

TEST(MetricsTest, UnknownVerbsKeepCommandLabelsBounded) {
  Metrics metrics(test_labels());
  for (int i = 0; i < 10000; ++i) {
    metrics.command("X" + std::to_string(i)).Increment();
    metrics.command("user" + std::to_string(i)).Increment(); // looks like a user name
  }
  metrics.command("").Increment();
  metrics.command("USERX").Increment();
  metrics.command("UIDL").Increment();

  auto all = metrics.registry()->Collect();
  const auto* commands = find_family(all, "popgate_commands_total");
  ASSERT_NE(commands, nullptr);
  EXPECT_EQ(commands->metric.size(), kCommandVerbs.size() + 1);
  const auto* other = find_sample(all, "popgate_commands_total", {{"command", "OTHER"}});
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->counter.value, 20002);
  const auto* uidl = find_sample(all, "popgate_commands_total", {{"command", "UIDL"}});
  ASSERT_NE(uidl, nullptr);
  EXPECT_EQ(uidl->counter.value, 1);
}

struct VerbCase {
  std::string_view name, verb, expected;
};

class CommandVerbTest : public ::testing::TestWithParam<VerbCase> {};

TEST_P(CommandVerbTest, MapsToLabel) {
  auto index = command_index(GetParam().verb);
  std::string_view label = index < kCommandVerbs.size() ? kCommandVerbs[index] : kOtherCommand;
  EXPECT_EQ(label, GetParam().expected);
}

const auto kVerbs = std::to_array<VerbCase>({
    {"UpperCaseKnownVerb", "STAT", "STAT"},
    {"LowerCaseIsTheSameVerb", "top", "TOP"},
    {"MixedCaseIsTheSameVerb", "CaPa", "CAPA"},
    {"PrefixOfAVerbIsOther", "US", "OTHER"},
    {"VerbWithTrailingGarbageIsOther", "QUITX", "OTHER"},
    {"EmptyIsOther", "", "OTHER"},
    {"NonAsciiIsOther", "\xc3\x9cSER", "OTHER"},
    {"Rfc2449ExtensionNotCountedSeparately", "XCLIENT", "OTHER"},
});

INSTANTIATE_TEST_SUITE_P(Verbs, CommandVerbTest, ::testing::ValuesIn(kVerbs),
                         [](const auto& test) { return std::string(test.param.name); });

TEST(MetricsTest, CertificatesReplacedOnReloadDropOldLabels) {
  Metrics metrics(test_labels());
  metrics.set_certificates(
      {{"old.example.com", std::chrono::sys_seconds{std::chrono::seconds{100}}},
       {"kept.example.com", std::chrono::sys_seconds{std::chrono::seconds{200}}}});
  metrics.set_certificates(
      {{"kept.example.com", std::chrono::sys_seconds{std::chrono::seconds{300}}},
       {"new.example.com", std::chrono::sys_seconds{std::chrono::seconds{1767225600}}}});

  auto all = metrics.registry()->Collect();
  const char* family = "popgate_certificate_expiry_timestamp_seconds";
  EXPECT_EQ(find_sample(all, family, {{"name", "old.example.com"}}), nullptr);
  const auto* kept = find_sample(all, family, {{"name", "kept.example.com"}});
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->gauge.value, 300);
  const auto* added = find_sample(all, family, {{"name", "new.example.com"}});
  ASSERT_NE(added, nullptr);
  EXPECT_EQ(added->gauge.value, 1767225600);
  EXPECT_EQ(find_family(all, family)->metric.size(), 2u);

  metrics.set_certificates({});
  EXPECT_EQ(metrics.serialize().find("kept.example.com"), std::string::npos);
}

TEST(MetricsTest, DuplicateCertificateNamesShareOneSeries) {
  Metrics metrics(test_labels());
  metrics.set_certificates({{"a", std::chrono::sys_seconds{std::chrono::seconds{1}}},
                            {"a", std::chrono::sys_seconds{std::chrono::seconds{2}}}});
  metrics.set_certificates({{"b", std::chrono::sys_seconds{std::chrono::seconds{3}}}});
  auto all = metrics.registry()->Collect();
  EXPECT_EQ(find_sample(all, "popgate_certificate_expiry_timestamp_seconds", {{"name", "a"}}),
            nullptr);
}

TEST(MetricsTest, ReloadAddsRulesAndBackendsSharingExistingSeries) {
  Metrics metrics(test_labels());
  auto& started = metrics.rule("archive-read-only");
  EXPECT_EQ(&metrics.rule("archive-read-only"), &started);
  metrics.rule("new-rule").decision(PolicyAction::Route).Increment();
  metrics.rule("new-rule").decision(PolicyAction::Route).Increment();

  auto& first = metrics.backend("legacy", {"127.0.0.1:110", "127.0.0.2:110"});
  auto& same = metrics.backend("legacy", {"127.0.0.1:110", "127.0.0.2:110"});
  EXPECT_EQ(&same, &first);
  auto& moved = metrics.backend("legacy", {"127.0.0.3:110"});
  EXPECT_NE(&moved, &first);
  moved.error(BackendError::ConnectFailed).Increment();
  first.error(BackendError::ConnectFailed).Increment();
  metrics.set_server_up(moved, 0, true);

  std::string text = metrics.serialize();
  EXPECT_NE(text.find("popgate_policy_decisions_total{action=\"route\",rule=\"new-rule\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("popgate_backend_errors_total{backend=\"legacy\",reason=\"connect_failed\"} 2\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("popgate_backend_up{backend=\"legacy\",server=\"127.0.0.3:110\"} 1\n"),
            std::string::npos)
      << text;
}

TEST(MetricsTest, CountingFromSeveralThreadsLosesNothing) {
  Metrics metrics(test_labels());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics] {
      for (int i = 0; i < kPerThread; ++i) {
        metrics.bytes(Direction::ClientOut).Increment(2);
        metrics.command("NOOP").Increment();
        metrics.listener(0).sessions_active.Increment();
        metrics.listener(0).sessions_active.Decrement();
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  auto all = metrics.registry()->Collect();
  EXPECT_EQ(find_sample(all, "popgate_bytes_total", {{"direction", "client_out"}})->counter.value,
            2.0 * kThreads * kPerThread);
  EXPECT_EQ(find_sample(all, "popgate_commands_total", {{"command", "NOOP"}})->counter.value,
            kThreads * kPerThread);
  EXPECT_EQ(find_sample(all, "popgate_sessions_active", {{"listener", "pop3s"}})->gauge.value, 0);
}

struct EnumCase {
  std::string_view name, actual, expected;
};

class LabelValueTest : public ::testing::TestWithParam<EnumCase> {};

TEST_P(LabelValueTest, IsTheDocumentedString) { EXPECT_EQ(GetParam().actual, GetParam().expected); }

const auto kEnums = std::to_array<EnumCase>({
    {"ClientIn", to_string(Direction::ClientIn), "client_in"},
    {"BackendOut", to_string(Direction::BackendOut), "backend_out"},
    {"MaxConnections", to_string(RejectReason::MaxConnections), "max_connections"},
    {"ShuttingDown", to_string(RejectReason::ShuttingDown), "shutting_down"},
    {"ProxyProtocol", to_string(RejectReason::ProxyProtocol), "proxy_protocol"},
    {"DestinationNotAllowed", to_string(RejectReason::DestinationNotAllowed),
     "destination_not_allowed"},
    {"ClosedMidResponse", to_string(BackendError::ClosedMidResponse), "closed_mid_response"},
    {"ConnectTimeout", to_string(BackendError::ConnectTimeout), "connect_timeout"},
    {"StarttlsOk", to_string(StarttlsResult::Ok), "success"},
    {"HandshakeProtocolVersion", to_string(HandshakeFailure::ProtocolVersion), "protocol_version"},
    {"HandshakeNoSharedCipher", to_string(HandshakeFailure::NoSharedCipher), "no_shared_cipher"},
    {"HandshakeTimeout", to_string(HandshakeFailure::Timeout), "timeout"},
    {"HandshakeEof", to_string(HandshakeFailure::Eof), "eof"},
    {"Route", to_string(PolicyAction::Route), "route"},
    {"DryRunDeny", to_dry_run_string(PolicyAction::Deny), "dry_run_deny"},
    {"AcceptFdLimit", to_string(AcceptError::FdLimit), "fd_limit"},
    {"AcceptSystemFdLimit", to_string(AcceptError::SystemFdLimit), "system_fd_limit"},
});

TEST(MetricsTest, ARefusedReloadKeepsTheTimeOfTheLastGoodOne) {
  Metrics metrics(test_labels());
  using std::chrono::system_clock;
  metrics.record_reload(true, system_clock::time_point(std::chrono::seconds(1700000000)));
  metrics.record_reload(false, system_clock::time_point(std::chrono::seconds(1700000600)));
  std::string text = metrics.serialize();
  EXPECT_NE(text.find("popgate_config_last_reload_successful 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("popgate_config_last_reload_success_timestamp_seconds 1700000000\n"),
            std::string::npos)
      << text;
  metrics.record_reload(true, system_clock::time_point(std::chrono::seconds(1700000900)));
  text = metrics.serialize();
  EXPECT_NE(text.find("popgate_config_last_reload_successful 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("popgate_config_last_reload_success_timestamp_seconds 1700000900\n"),
            std::string::npos)
      << text;
}

INSTANTIATE_TEST_SUITE_P(Enums, LabelValueTest, ::testing::ValuesIn(kEnums),
                         [](const auto& test) { return std::string(test.param.name); });

TEST(MetricsTest, SeriesOfServersAndRulesDropOnceTheirLastHandleIsReleased) {
  Metrics metrics(test_labels());
  auto& old_backend = metrics.backend("legacy", {"127.0.0.1:110", "127.0.0.2:110"});
  auto& old_rule = metrics.rule("gone-rule");
  metrics.set_server_up(old_backend, 0, true);
  metrics.set_server_up(old_backend, 1, false);
  // A reload: 127.0.0.2 is replaced by 127.0.0.3, the rule removed. Old sessions still count
  // through the old handles, so nothing drops yet; the kept server keeps its value.
  auto& new_backend = metrics.backend("legacy", {"127.0.0.1:110", "127.0.0.3:110"});
  metrics.set_server_up(new_backend, 1, true);
  std::string text = metrics.serialize();
  EXPECT_NE(text.find("server=\"127.0.0.2:110\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("rule=\"gone-rule\""), std::string::npos);
  // The last session on the old config ends.
  metrics.release(old_backend);
  metrics.release(old_rule);
  text = metrics.serialize();
  EXPECT_EQ(text.find("server=\"127.0.0.2:110\""), std::string::npos) << text;
  EXPECT_EQ(text.find("rule=\"gone-rule\""), std::string::npos) << text;
  EXPECT_NE(text.find("server=\"127.0.0.1:110\"} 1"), std::string::npos) << "still in use";
  EXPECT_NE(text.find("server=\"127.0.0.3:110\"} 1"), std::string::npos);
  metrics.set_server_up(new_backend, 0, false); // the shared series is still alive
  EXPECT_NE(metrics.serialize().find("server=\"127.0.0.1:110\"} 0"), std::string::npos);
  metrics.release(new_backend);
  EXPECT_EQ(metrics.serialize().find("popgate_backend_up{"), std::string::npos);
}

TEST(MetricsTest, AResultThroughAnOldHandleIsSharedWithTheNewOne) {
  Metrics metrics(test_labels());
  auto& old_backend = metrics.backend("legacy", {"127.0.0.1:110"});
  auto& new_backend = metrics.backend("legacy", {"127.0.0.1:110", "127.0.0.3:110"});
  // An old session reports first, after the reload: the new handle must not lose the series
  // when the old one goes.
  metrics.set_server_up(old_backend, 0, true);
  metrics.release(old_backend);
  EXPECT_NE(metrics.serialize().find("server=\"127.0.0.1:110\"} 1"), std::string::npos);
  EXPECT_EQ(metrics.serialize().find("server=\"127.0.0.3:110\""), std::string::npos);
  metrics.release(new_backend);
}

TEST(MetricsTest, EveryListenerHasEveryHandshakeFailureReasonFromTheStart) {
  Metrics metrics(test_labels());
  auto all = metrics.registry()->Collect();
  for (std::string listener : {"pop3s", "pop3"}) {
    for (std::size_t i = 0; i < kHandshakeFailureCount; ++i) {
      std::string reason(to_string(static_cast<HandshakeFailure>(i)));
      const auto* sample =
          find_sample(all, "popgate_tls_handshakes_total",
                      {{"listener", listener}, {"result", "failure"}, {"reason", reason}});
      ASSERT_NE(sample, nullptr) << listener << " " << reason;
      EXPECT_EQ(sample->counter.value, 0);
    }
  }
}

TEST(MetricsTest, TlsSessionsCountByVersionAndCipherWithABoundedLabelSet) {
  Metrics metrics(test_labels());
  metrics.tls_session("TLSv1.2", "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256").Increment();
  metrics.tls_session("TLSv1.2", "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256").Increment();
  metrics.tls_session("TLSv1.3", "TLS1-3-AES-256-GCM-SHA384").Increment();
  auto all = metrics.registry()->Collect();
  const char* family = "popgate_tls_sessions_total";
  EXPECT_EQ(
      find_sample(all, family,
                  {{"version", "TLSv1.2"}, {"cipher", "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"}})
          ->counter.value,
      2);
  EXPECT_EQ(
      find_sample(all, family, {{"version", "TLSv1.3"}, {"cipher", "TLS1-3-AES-256-GCM-SHA384"}})
          ->counter.value,
      1);
  for (std::size_t i = 0; i < 1000; ++i) {
    metrics.tls_session("TLSv1.2", "suite-" + std::to_string(i)).Increment();
  }
  all = metrics.registry()->Collect();
  EXPECT_LE(find_family(all, family)->metric.size(), Metrics::kMaxTlsSessionSeries + 1);
  EXPECT_GT(find_sample(all, family, {{"version", "other"}, {"cipher", "other"}})->counter.value,
            900);
}

} // namespace
} // namespace popgate::metrics
