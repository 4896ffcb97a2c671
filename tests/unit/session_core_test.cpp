// The session core driven as the libuv adapter drives it, with a fake clock: bytes and events
// in, actions out. Each test asserts what a user would see: the bytes the client gets, what
// reaches the backend, and how the session ends.

#include "proxy/session/session_core.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace popgate::session {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kGreeting = "+OK Dovecot ready.\r\n";
constexpr std::string_view kMessage = "Subject: hi\r\n\r\n..dot-stuffed line\r\nbody\r\n.\r\n";

struct Harness {
  proxy::Config config;
  policy::AccessList access;
  policy::RuleSet rules;
  policy::SharedBans bans;
  policy::IpLimiter per_ip;
  std::unique_ptr<SessionCore> core;
  Millis now{1'000'000};
  std::string client; // what the client received (plaintext)
  std::string backend;
  std::vector<Action> control; // every action but bytes and counts/logs
  std::vector<Count> counts;
  std::vector<Log> logs;

  explicit Harness(proxy::ListenerMode mode) {
    proxy::ListenerConfig listener;
    listener.name = "pop3";
    listener.mode = mode;
    listener.backend = "legacy";
    config.listeners.push_back(listener);
    config.backends.push_back(backend_config("legacy", "127.0.0.1:110"));
    config.policy.require_tls_for_auth = true;
  }

  static proxy::BackendConfig backend_config(std::string name, std::string_view server) {
    proxy::BackendConfig b;
    b.name = std::move(name);
    b.servers.push_back(*Endpoint::parse(server));
    return b;
  }

  void start() {
    rules = policy::RuleSet(config.policy.rules);
    core = std::make_unique<SessionCore>(config, access, rules, 0, Shared{bans, per_ip}, "t1");
    core->start(now, {*Address::parse("192.0.2.1"), 5555}, {*Address::parse("192.0.2.9"), 110});
    drain();
  }

  void drain() {
    while (core->has_action()) {
      auto a = core->take_action();
      if (auto* c = std::get_if<ToClient>(&a)) {
        client += c->bytes;
      } else if (auto* b = std::get_if<ToBackend>(&a)) {
        backend += b->bytes;
      } else if (auto* n = std::get_if<Count>(&a)) {
        counts.push_back(*n);
      } else if (auto* l = std::get_if<Log>(&a)) {
        logs.push_back(std::move(*l));
      } else {
        control.push_back(std::move(a));
      }
    }
  }

  // Client bytes on the wire (plaintext listener) or out of the TLS engine.
  void from_client(std::string_view bytes) {
    if (core->tls()) {
      core->client_plaintext(now, bytes);
    } else {
      core->client_data(now, bytes);
    }
    drain();
  }
  void from_backend(std::string_view bytes) {
    core->backend_data(now, bytes);
    drain();
  }
  // Connected, greeted: the session is Relaying.
  void connect_and_greet() {
    EXPECT_TRUE(take<Connect>());
    core->backend_connected(now, 0);
    drain();
    from_backend(kGreeting);
  }
  void tls_up() {
    core->tls_established(now, "TLSv1.3", "TLS_AES_128_GCM_SHA256", false);
    drain();
  }
  // An implicit-TLS session, logged in.
  void logged_in() {
    start();
    EXPECT_TRUE(take<StartTls>());
    tls_up();
    connect_and_greet();
    from_client("USER alice\r\nPASS secret\r\n");
    from_backend("+OK\r\n+OK Logged in.\r\n");
    backend.clear();
    client.clear();
  }
  void advance(Millis by) {
    now += by;
    core->timer(now);
    drain();
  }

  // Removes and returns the first control action of type T, if any.
  template <typename T> std::optional<T> take() {
    for (auto it = control.begin(); it != control.end(); ++it) {
      if (auto* a = std::get_if<T>(&*it)) {
        T out = std::move(*a);
        control.erase(it);
        return out;
      }
    }
    return std::nullopt;
  }
  std::optional<CloseReason> finished() {
    auto f = take<Finish>();
    return f ? std::optional(f->reason) : std::nullopt;
  }
  std::optional<CloseReason> aborted() {
    auto a = take<Abort>();
    return a ? std::optional(a->reason) : std::nullopt;
  }
  [[nodiscard]] std::uint64_t counted(Counter c) const {
    std::uint64_t n = 0;
    for (const auto& x : counts) {
      n += x.counter == c ? x.amount : 0;
    }
    return n;
  }
};

TEST(SessionCore, RetrWalkRelaysTheGreetingAndEveryMessageByteAndEndsOnQuit) {
  Harness h(proxy::ListenerMode::Implicit);
  h.start();
  ASSERT_TRUE(h.take<StartTls>()) << "implicit listener: TLS first";
  EXPECT_FALSE(h.take<Connect>()) << "no backend before the handshake";
  h.tls_up();
  h.connect_and_greet();
  EXPECT_EQ(h.client, kGreeting) << "relayed as is, for APOP's timestamp";
  h.from_client("USER alice\r\nPASS secret\r\n");
  EXPECT_EQ(h.backend, "USER alice\r\nPASS secret\r\n");
  h.from_backend("+OK\r\n+OK Logged in.\r\n");
  EXPECT_EQ(h.counted(Counter::Auth), 1u);
  h.client.clear();
  h.from_client("RETR 1\r\n");
  // The response arrives in pieces that split the status line and the terminator.
  std::string response = "+OK 47 octets\r\n" + std::string(kMessage);
  for (std::size_t at = 0; at < response.size(); at += 7) {
    h.from_backend(std::string_view(response).substr(at, 7));
  }
  EXPECT_EQ(h.client, response);
  h.from_client("QUIT\r\n");
  h.from_backend("+OK Logging out.\r\n");
  h.core->backend_eof(h.now);
  h.drain();
  EXPECT_EQ(h.finished(), CloseReason::Quit);
  EXPECT_EQ(h.core->record().user, "alice");
  EXPECT_EQ(h.core->record().tls_version, "TLSv1.3");
  EXPECT_EQ(h.core->record().commands, 4u);
}

TEST(SessionCore, PipelinedLocalAndForwardedRepliesKeepTheirOrder) {
  Harness h(proxy::ListenerMode::Implicit);
  h.logged_in();
  h.from_client("RETR 1\r\nBOGUS\r\nNOOP\r\n");
  EXPECT_EQ(h.backend, "RETR 1\r\nNOOP\r\n") << "BOGUS never reaches the backend";
  EXPECT_EQ(h.client, "") << "BOGUS's -ERR waits behind RETR";
  h.from_backend("+OK 3 octets\r\nhi\r\n.\r\n+OK\r\n");
  EXPECT_EQ(h.client, "+OK 3 octets\r\nhi\r\n.\r\n-ERR Unknown command\r\n+OK\r\n");
}

TEST(SessionCore, AFullPipelineStopsReadingTheClientUntilResponsesDrain) {
  Harness h(proxy::ListenerMode::Implicit);
  h.logged_in();
  h.from_client("RETR 1\r\n");
  // The backend's response is stalled (the client is not reading it). The client floods nine
  // invalid lines for each valid one, so no ten-in-a-row rule stops it.
  std::string flood;
  for (int i = 0; i < 1000; ++i) {
    flood += (i % 10 == 9) ? "NOOP\r\n" : "NOOP x\r\n";
  }
  std::size_t fed = 0;
  while (h.core->wants_client_read() && fed < flood.size()) {
    h.from_client(std::string_view(flood).substr(fed, 512));
    fed += 512;
  }
  EXPECT_FALSE(h.core->wants_client_read()) << "the pipeline bound must stop reading";
  EXPECT_LT(fed, SessionCore::kMaxClientBuffered + 512);
  EXPECT_EQ(h.client, "");
  EXPECT_FALSE(h.take<Finish>());
  // RETR completes: the queued replies go out in order, and reading resumes.
  h.from_backend("+OK 3 octets\r\nhi\r\n.\r\n");
  EXPECT_TRUE(h.client.rfind("+OK 3 octets\r\nhi\r\n.\r\n-ERR", 0) == 0) << h.client.substr(0, 80);
  // The forwarded NOOPs are answered by the backend; then everything has drained.
  for (int i = 0; i < 200 && !h.core->wants_client_read(); ++i) {
    h.from_backend("+OK\r\n");
  }
  EXPECT_TRUE(h.core->wants_client_read());
}

TEST(SessionCore, HandshakeTimeoutAborts) {
  Harness h(proxy::ListenerMode::Implicit);
  h.config.policy.auth_timeout = 30s;
  h.start();
  ASSERT_TRUE(h.take<StartTls>());
  EXPECT_EQ(h.core->deadline(), h.now + 30s);
  h.advance(29s);
  EXPECT_FALSE(h.aborted()) << "an early timer does nothing";
  h.advance(1s);
  EXPECT_EQ(h.aborted(), CloseReason::HandshakeTimeout);
}

TEST(SessionCore, GreetingTimeoutTellsTheClientToTryLater) {
  Harness h(proxy::ListenerMode::StartTls);
  h.config.backends[0].greeting_timeout = 10s;
  h.start();
  ASSERT_TRUE(h.take<Connect>());
  h.core->backend_connected(h.now, 0);
  h.drain();
  h.advance(10s);
  EXPECT_EQ(h.client, "-ERR [SYS/TEMP] mail server did not answer, try again later\r\n");
  EXPECT_EQ(h.finished(), CloseReason::BackendUnavailable);
  EXPECT_EQ(h.counted(Counter::BackendError), 1u);
}

TEST(SessionCore, AuthTimeoutEndsAnUnauthenticatedSession) {
  Harness h(proxy::ListenerMode::Implicit);
  h.config.policy.auth_timeout = 60s;
  h.start();
  h.take<StartTls>();
  h.tls_up();
  h.connect_and_greet();
  h.client.clear();
  h.advance(30s);
  h.from_client("USER alice\r\n"); // activity does not extend the authorization time
  h.from_backend("+OK\r\n");
  h.client.clear();
  h.advance(30s);
  EXPECT_EQ(h.client, "-ERR [SYS/TEMP] authentication took too long\r\n");
  EXPECT_EQ(h.finished(), CloseReason::AuthTimeout);
}

TEST(SessionCore, IdleTimeoutIsAnAutologoutAndActivityPostponesIt) {
  Harness h(proxy::ListenerMode::Implicit);
  h.config.policy.idle_timeout = 10min;
  h.logged_in();
  h.advance(9min);
  h.from_client("NOOP\r\n");
  h.from_backend("+OK\r\n");
  h.client.clear();
  h.advance(9min);
  EXPECT_FALSE(h.finished());
  h.advance(1min);
  EXPECT_EQ(h.client, "-ERR autologout: idle for too long\r\n");
  EXPECT_EQ(h.finished(), CloseReason::IdleTimeout);
  EXPECT_EQ(h.backend.find("QUIT"), std::string::npos) << "no UPDATE state: no DELE committed";
}

TEST(SessionCore, ProxyHeaderTimeoutAndDrainTimeout) {
  Harness h(proxy::ListenerMode::StartTls);
  h.config.listeners[0].proxy_protocol = true;
  h.config.listeners[0].proxy_trusted.push_back(*Cidr::parse("192.0.2.0/24"));
  h.config.policy.auth_timeout = 5s;
  h.start();
  h.advance(5s);
  EXPECT_EQ(h.aborted(), CloseReason::PolicyClose);
  EXPECT_EQ(h.counted(Counter::Rejected), 1u);

  Harness d(proxy::ListenerMode::Implicit);
  d.logged_in();
  d.from_client("QUIT\r\n");
  d.from_backend("+OK bye\r\n");
  d.core->backend_eof(d.now);
  d.drain();
  ASSERT_EQ(d.finished(), CloseReason::Quit);
  d.advance(SessionCore::kDrainTimeout);
  EXPECT_EQ(d.aborted(), CloseReason::Quit) << "a drain that never ends is cut, reason kept";
}

TEST(SessionCore, ProxyHeaderGivesTheClientAddressAndTheRestIsPop3) {
  Harness h(proxy::ListenerMode::StartTls);
  h.config.listeners[0].proxy_protocol = true;
  h.config.listeners[0].proxy_trusted.push_back(*Cidr::parse("192.0.2.0/24"));
  h.config.backends[0].forward_client = proxy::ForwardClient::ProxyV1;
  h.config.backends[0].source = proxy::BackendSource::Client;
  h.start();
  h.from_client("PROXY TCP4 198.51.100.7 192.0.2.9 40000 110\r\n");
  EXPECT_EQ(h.core->record().client, "198.51.100.7:40000");
  auto connect = h.take<Connect>();
  ASSERT_TRUE(connect);
  ASSERT_TRUE(connect->source); // source = "client": the header's address, not the balancer's
  EXPECT_EQ(connect->source->to_string(), "198.51.100.7");
  EXPECT_FALSE(connect->destination); // destination = "servers"
  h.core->backend_connected(h.now, 0);
  h.drain();
  EXPECT_EQ(h.backend, "PROXY TCP4 198.51.100.7 192.0.2.9 40000 110\r\n");
}

TEST(SessionCore, RouteRuleChoosesTheBackendFromTheUser) {
  Harness h(proxy::ListenerMode::Implicit);
  h.config.backends.push_back(Harness::backend_config("archive", "127.0.0.1:1110"));
  policy::Rule route;
  route.name = "archive-users";
  route.users = {"archive-*"};
  route.action = policy::Action::Route;
  route.backend = "archive";
  h.config.policy.rules.push_back(route);
  h.start();
  h.take<StartTls>();
  h.tls_up();
  EXPECT_EQ(h.client, "+OK POP3 ready\r\n") << "popgate greets: the backend is not known yet";
  EXPECT_FALSE(h.take<Connect>());
  h.from_client("CAPA\r\n");
  EXPECT_NE(h.client.find("UIDL"), std::string::npos) << "CAPA needs no backend";
  EXPECT_FALSE(h.take<Connect>());
  h.from_client("USER archive-bob\r\n");
  auto connect = h.take<Connect>();
  ASSERT_TRUE(connect);
  EXPECT_EQ(connect->backend, 1u);
  EXPECT_EQ(h.backend, "") << "USER waits for the chosen backend's greeting";
  h.core->backend_connected(h.now, 0);
  h.drain();
  h.client.clear();
  h.from_backend(kGreeting);
  EXPECT_EQ(h.backend, "USER archive-bob\r\n");
  EXPECT_EQ(h.client, "") << "the backend's greeting is not relayed: the client was greeted";
  EXPECT_EQ(h.core->record().backend, "archive");
}

TEST(SessionCore, XclientGoesFirstWhereTheBackendOffersIt) {
  Harness h(proxy::ListenerMode::Implicit);
  h.config.backends[0].forward_client = proxy::ForwardClient::Xclient;
  h.start();
  h.take<StartTls>();
  h.tls_up();
  h.connect_and_greet();
  EXPECT_EQ(h.backend, "CAPA\r\n");
  EXPECT_EQ(h.client, "") << "the greeting waits for XCLIENT";
  h.from_backend("+OK\r\nTOP\r\nXCLIENT\r\n.\r\n");
  EXPECT_EQ(h.backend, "CAPA\r\nXCLIENT ADDR=192.0.2.1 PORT=5555 SESSION=t1\r\n");
  h.from_backend("+OK\r\n");
  EXPECT_EQ(h.client, kGreeting);
}

TEST(SessionCore, StlsDropsWhatWasPipelinedBehindItAndAuthWorksAfterwards) {
  Harness h(proxy::ListenerMode::StartTls);
  h.start();
  h.connect_and_greet();
  h.client.clear();
  h.from_client("USER alice\r\n");
  EXPECT_EQ(h.client, "-ERR [AUTH] Plaintext authentication is disabled; issue STLS first\r\n");
  EXPECT_EQ(h.backend, "");
  h.client.clear();
  h.from_client("STLS\r\nUSER injected\r\n");
  EXPECT_EQ(h.client, "+OK Begin TLS negotiation\r\n");
  ASSERT_TRUE(h.take<StartTls>());
  EXPECT_EQ(h.counted(Counter::StarttlsDiscardedBytes), 15u);
  h.tls_up();
  EXPECT_EQ(h.counted(Counter::StarttlsOk), 1u);
  h.from_client("USER alice\r\n");
  EXPECT_EQ(h.backend, "USER alice\r\n") << "the injected line never reached the backend";
  h.from_backend("+OK\r\n");
  h.client.clear();
  h.from_client("STLS\r\n");
  EXPECT_EQ(h.client.rfind("-ERR", 0), 0u) << "no STLS under TLS";
}

TEST(SessionCore, BackendDyingMidMessageNeverLooksComplete) {
  Harness h(proxy::ListenerMode::Implicit);
  h.logged_in();
  h.from_client("RETR 1\r\n");
  h.from_backend("+OK 100 octets\r\nfirst half\r\n");
  h.core->backend_eof(h.now);
  h.drain();
  EXPECT_EQ(h.aborted(), CloseReason::BackendDiedMidResponse) << "no close_notify either";
  EXPECT_EQ(h.client, "+OK 100 octets\r\nfirst half\r\n") << "no terminating dot, no -ERR";
}

TEST(SessionCore, ClientEofWithoutQuitNeverSendsQuit) {
  Harness h(proxy::ListenerMode::Implicit);
  h.logged_in();
  h.from_client("DELE 1\r\n");
  h.from_backend("+OK marked\r\n");
  h.core->client_eof(h.now);
  h.drain();
  EXPECT_EQ(h.aborted(), CloseReason::ClientClosed);
  EXPECT_EQ(h.backend, "DELE 1\r\n") << "no QUIT: the backend commits no DELE";
}

TEST(SessionCore, KickTellsTheClientAndClosesTheBackendWithoutQuit) {
  Harness h(proxy::ListenerMode::Implicit);
  h.logged_in();
  EXPECT_EQ(h.core->state(), "transaction");
  h.from_client("DELE 1\r\n");
  h.from_backend("+OK marked\r\n");
  h.client.clear();
  h.core->kick(h.now);
  h.drain();
  EXPECT_EQ(h.client, "-ERR [SYS/TEMP] session ended by the administrator\r\n");
  EXPECT_EQ(h.finished(), CloseReason::AdminKick) << "Finish closes the backend without QUIT";
  EXPECT_EQ(h.backend, "DELE 1\r\n") << "no QUIT: the backend commits no DELE";
  EXPECT_EQ(h.core->state(), "ending");
}

TEST(SessionCore, KickMidMessageClosesWithoutAWord) {
  Harness h(proxy::ListenerMode::Implicit);
  h.logged_in();
  h.from_client("RETR 1\r\n");
  h.from_backend("+OK 100 octets\r\nfirst half\r\n");
  h.core->kick(h.now);
  h.drain();
  EXPECT_EQ(h.aborted(), CloseReason::AdminKick);
  EXPECT_EQ(h.client, "+OK 100 octets\r\nfirst half\r\n") << "no -ERR inside the message";
}

TEST(SessionCore, KickDuringTheHandshakeAborts) {
  Harness h(proxy::ListenerMode::Implicit);
  h.start();
  EXPECT_EQ(h.core->state(), "handshake");
  h.core->kick(h.now);
  h.drain();
  EXPECT_EQ(h.aborted(), CloseReason::AdminKick);
  EXPECT_EQ(h.client, "");
}

TEST(SessionCore, NoServerAcceptingGetsSysTemp) {
  Harness h(proxy::ListenerMode::StartTls);
  h.start();
  ASSERT_TRUE(h.take<Connect>());
  h.core->backend_unavailable(h.now, 0, false, "connection refused");
  h.drain();
  EXPECT_EQ(h.client, "-ERR [SYS/TEMP] mail server unavailable, try again later\r\n");
  EXPECT_EQ(h.finished(), CloseReason::BackendUnavailable);
}

TEST(SessionCore, DenyRuleAnswersItsReplyAndTheSessionGoesOn) {
  Harness h(proxy::ListenerMode::Implicit);
  policy::Rule deny;
  deny.name = "read-only";
  deny.commands = {"DELE"};
  deny.action = policy::Action::Deny;
  deny.reply = "-ERR [SYS/PERM] deletion is disabled here";
  h.config.policy.rules.push_back(deny);
  h.logged_in();
  h.from_client("DELE 1\r\nNOOP\r\n");
  EXPECT_EQ(h.backend, "NOOP\r\n");
  h.from_backend("+OK\r\n");
  EXPECT_EQ(h.client, "-ERR [SYS/PERM] deletion is disabled here\r\n+OK\r\n");
  EXPECT_EQ(h.counted(Counter::PolicyDecision), 1u);
}

TEST(SessionCore, AccessDeniedIsRefusedBeforeAnyTls) {
  Harness h(proxy::ListenerMode::Implicit);
  h.access = policy::AccessList({}, {*Cidr::parse("192.0.2.0/24")});
  h.start();
  EXPECT_FALSE(h.take<StartTls>());
  EXPECT_EQ(h.aborted(), CloseReason::PolicyClose);
  EXPECT_FALSE(h.core->record().admitted);
}

// The session line's record: how the login went, what was fetched and deleted, how long TLS and
// the backend connection took; and the session id on every line the core logs.
TEST(SessionCore, RecordKeepsWhatTheSessionLineReports) {
  Harness h(proxy::ListenerMode::Implicit);
  h.config.backends[0].servers.push_back(*Endpoint::parse("127.0.0.2:110"));
  h.start();
  ASSERT_TRUE(h.take<StartTls>());
  h.now += 12ms;
  h.core->tls_established(h.now, "TLSv1.3", "TLS_AES_128_GCM_SHA256", false, "pop.example.com");
  h.drain();
  ASSERT_TRUE(h.take<Connect>());
  h.now += 5ms;
  h.core->backend_connected(h.now, 1); // the first server refused
  h.drain();
  h.from_backend(kGreeting);
  h.from_client("AUTH plain AGFsaWNlAHNlY3JldA==\r\n");
  h.from_backend("-ERR [AUTH] Authentication failed.\r\n");
  h.from_client("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
  h.from_backend("+OK Logged in.\r\n");
  h.from_client("RETR 1\r\nDELE 1\r\nRSET\r\nDELE 2\r\nDELE 3\r\n");
  h.from_backend("+OK 3 octets\r\nhi\r\n.\r\n+OK\r\n+OK\r\n+OK\r\n-ERR no such message\r\n");
  auto r = h.core->record();
  EXPECT_EQ(r.id, "t1");
  EXPECT_EQ(r.auth, "PLAIN") << "the mechanism only, never the initial response";
  EXPECT_EQ(r.auth_failures, 1u);
  EXPECT_EQ(r.sni, "pop.example.com");
  EXPECT_EQ(r.handshake, 12ms);
  EXPECT_EQ(r.connect, 5ms);
  EXPECT_EQ(r.servers_tried, 2u);
  EXPECT_EQ(r.local, "192.0.2.9:110");
  EXPECT_EQ(r.balancer, "") << "no PROXY header";
  EXPECT_EQ(r.retr, 1u);
  EXPECT_EQ(r.retr_bytes, 4u) << "the body as relayed (byte-stuffed), without the final \".\"";
  EXPECT_EQ(r.dele, 1u) << "RSET unmarked the first; the third was refused";
}

TEST(SessionCore, EveryLineOfTheSessionStartsWithItsId) {
  Harness h(proxy::ListenerMode::Implicit);
  h.start();
  ASSERT_TRUE(h.take<StartTls>());
  h.core->tls_failed(h.now, "bad client hello message");
  h.drain();
  ASSERT_EQ(h.logs.size(), 1u);
  EXPECT_TRUE(h.logs[0].rate_limited) << "a scanner can cause these at will";
  ASSERT_FALSE(h.logs[0].fields.empty());
  EXPECT_EQ(h.logs[0].fields[0].key, "session");
  EXPECT_EQ(h.logs[0].fields[0].value, "t1");
}

// Transparent mode: the adapter passes the original destination as the local address; the core
// decides where to connect and from which address, and says so in the Connect action.
struct TransparentHarness : Harness {
  explicit TransparentHarness(std::string_view allowed) : Harness(proxy::ListenerMode::StartTls) {
    config.listeners[0].transparent = true;
    auto& b = config.backends[0];
    b.servers.clear();
    b.destination = proxy::BackendDestination::Original;
    b.destinations_allowed.push_back(*Cidr::parse(allowed));
    b.source = proxy::BackendSource::Client;
  }
};

TEST(SessionCore, TransparentSessionConnectsToTheDialledAddressFromTheClients) {
  TransparentHarness h("192.0.2.0/24");
  h.config.backends[0].destination_port = 2110;
  h.start();
  auto connect = h.take<Connect>();
  ASSERT_TRUE(connect);
  ASSERT_TRUE(connect->destination);
  EXPECT_EQ(connect->destination->to_string(), "192.0.2.9:2110");
  ASSERT_TRUE(connect->source);
  EXPECT_EQ(connect->source->to_string(), "192.0.2.1");
  h.core->backend_connected(h.now, 0);
  h.drain();
  h.from_backend(kGreeting);
  EXPECT_EQ(h.client, kGreeting);
  auto record = h.core->record();
  EXPECT_EQ(record.local, "192.0.2.9:110"); // the dialled address
  EXPECT_EQ(record.server, "192.0.2.9:2110");
  EXPECT_EQ(record.source, "client");
}

TEST(SessionCore, DestinationOutsideTheAllowedListIsRefusedAndCounted) {
  TransparentHarness h("198.51.100.0/24");
  h.start();
  EXPECT_FALSE(h.take<Connect>());
  EXPECT_EQ(h.client, "-ERR [SYS/TEMP] no mail service at this address, try again later\r\n");
  EXPECT_EQ(h.finished(), CloseReason::DestinationNotAllowed);
  ASSERT_EQ(h.counts.size(), 1u);
  EXPECT_EQ(h.counts[0].counter, Counter::Rejected);
  EXPECT_EQ(h.counts[0].label, static_cast<std::size_t>(Refusal::DestinationNotAllowed));
}

} // namespace
} // namespace popgate::session
