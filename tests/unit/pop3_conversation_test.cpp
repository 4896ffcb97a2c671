// Whole POP3 sessions through a Conversation: the test plays the proxy, forwarding every
// command, and checks the transcript of events, the state, the claimed user and the
// auth-failure count. Each session is fed whole, one byte at a time, and in uneven pieces;
// every piece lives in an exact-size heap block freed as soon as its side returns NeedData.

#include "proxy/pop3/conversation.hpp"

#include <array>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace popgate::pop3 {
namespace {

using namespace std::string_view_literals;

template <typename T> std::string case_name(const testing::TestParamInfo<T>& param_info) {
  return std::string(param_info.param.name);
}

enum class Side { Client, Server };
struct Step {
  Side side;
  std::string_view bytes;
};
// NOLINTBEGIN(readability-identifier-naming): one-letter side tags keep the step tables readable
constexpr Side C = Side::Client;
constexpr Side S = Side::Server;
// NOLINTEND(readability-identifier-naming)

class Harness {
public:
  explicit Harness(Options options = {}) : conv_(options) {}

  // Feeds in pieces of `piece` bytes (0 = whole).
  void step(const Step& s, std::size_t piece) {
    std::string_view rest = s.bytes;
    while (!rest.empty()) {
      const std::size_t n = (piece == 0 || piece > rest.size()) ? rest.size() : piece;
      // NOLINTNEXTLINE(modernize-avoid-c-arrays): exact-size heap, ASan sees over-reads
      std::unique_ptr<char[]> heap(new char[n]);
      std::memcpy(heap.get(), rest.data(), n);
      rest.remove_prefix(n);
      if (s.side == Side::Client) {
        conv_.feed_client({heap.get(), n});
      } else {
        conv_.feed_server({heap.get(), n});
      }
      pull_server();
      pull_client(); // a backend answer may have unblocked pipelined client lines
    }
  }

  std::string transcript() {
    close_body();
    return out_.empty() ? out_ : out_.substr(1);
  }
  Conversation& conv() { return conv_; }

private:
  void close_body() {
    if (in_body_) {
      out_ += ")";
      in_body_ = false;
    }
  }

  void pull_client() {
    while (true) {
      const ClientEvent e = conv_.next_client();
      if (std::holds_alternative<NeedData>(e)) {
        return;
      }
      close_body();
      if (const auto* cmd = std::get_if<Command>(&e)) {
        out_ += " C:" + std::string(verb_name(cmd->verb));
        if (cmd->verb == Verb::Stls) {
          // What the proxy does for STLS: answer it, drop what was pipelined after it.
          conv_.command_answered_locally(*cmd, true);
          out_ += "(discard " + std::to_string(conv_.discard_client_input()) + ")";
          conv_.set_tls_active();
        } else {
          conv_.command_forwarded(*cmd);
        }
      } else if (const auto* sasl = std::get_if<SaslResponse>(&e)) {
        out_ += sasl->cancel ? " C:cancel" : " C:sasl";
      } else if (const auto* bad = std::get_if<Invalid>(&e)) {
        out_ += " C:!" + std::string(error_name(bad->error));
        if (bad->close_advised) {
          out_ += "(close)";
        }
      }
    }
  }

  void pull_server() {
    while (!server_failed_) {
      const ServerEvent e = conv_.next_server();
      if (std::holds_alternative<NeedData>(e)) {
        return;
      }
      if (const auto* body = std::get_if<Body>(&e)) {
        if (!in_body_) {
          out_ += " S:body(";
          in_body_ = true;
        }
        for (const char ch : body->bytes) {
          out_ += ch == '\r'   ? std::string("\\r")
                  : ch == '\n' ? std::string("\\n")
                               : std::string(1, ch);
        }
        continue;
      }
      close_body();
      if (const auto* g = std::get_if<Greeting>(&e)) {
        out_ += g->ok ? " S:greeting" : " S:greeting-err";
      } else if (const auto* st = std::get_if<Status>(&e)) {
        out_ += std::string(" S:") + (st->ok ? "+" : "-") + std::string(verb_name(st->for_verb));
        if (st->auth == AuthResult::Success) {
          out_ += "=ok";
        } else if (st->auth == AuthResult::Failure) {
          out_ += "=fail";
        } else if (st->auth == AuthResult::Cancelled) {
          out_ += "=cancel";
        }
      } else if (std::holds_alternative<BodyEnd>(e)) {
        out_ += " S:end";
      } else if (std::holds_alternative<Continuation>(e)) {
        out_ += " S:cont";
      } else if (const auto* err = std::get_if<ServerError>(&e)) {
        out_ += " S:!" + std::string(error_name(err->error));
        server_failed_ = true; // fatal: the proxy closes
        return;
      }
    }
  }

  Conversation conv_;
  std::string out_;
  bool in_body_ = false;
  bool server_failed_ = false;
};

// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding): fields in the order the table reads
struct SessionCase {
  std::string_view name;
  std::vector<Step> steps;
  std::string_view expected;
  State state;
  std::string_view user;
  unsigned auth_failures;
};

class Session : public testing::TestWithParam<SessionCase> {
protected:
  void check(std::size_t piece) {
    Harness h(Options{.max_line_length = 64});
    for (const Step& s : GetParam().steps) {
      h.step(s, piece);
    }
    EXPECT_EQ(h.transcript(), GetParam().expected) << "piece size " << piece;
    EXPECT_EQ(h.conv().state(), GetParam().state) << state_name(h.conv().state());
    EXPECT_EQ(h.conv().user(), GetParam().user);
    EXPECT_EQ(h.conv().auth_failures(), GetParam().auth_failures);
  }
};

TEST_P(Session, FedWhole) { check(0); }
TEST_P(Session, FedOneByteAtATime) { check(1); }
TEST_P(Session, FedInPiecesOfThree) { check(3); }
TEST_P(Session, FedInPiecesOfSeven) { check(7); }

constexpr std::string_view kGreeting = "+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n";

const auto kSessions = std::to_array<SessionCase>({
    {"UserPassThenTransaction",
     {{S, kGreeting},
      {C, "USER alice\r\n"},
      {S, "+OK\r\n"},
      {C, "PASS secret\r\n"},
      {S, "+OK maildrop ready\r\n"},
      {C, "STAT\r\n"},
      {S, "+OK 1 10\r\n"}},
     "S:greeting C:USER S:+USER C:PASS S:+PASS=ok C:STAT S:+STAT",
     State::Transaction,
     "alice",
     0},
    {"PipelinedLoginWaitsForTheOutcomeBeforeStat",
     {{S, kGreeting},
      {C, "USER alice\r\nPASS secret\r\nSTAT\r\n"},
      {S, "+OK\r\n+OK\r\n"},
      {S, "+OK 0 0\r\n"}},
     "S:greeting C:USER C:PASS S:+USER S:+PASS=ok C:STAT S:+STAT",
     State::Transaction,
     "alice",
     0},
    {"WrongPasswordCountsAFailureAndNeedsUserAgain",
     {{S, kGreeting},
      {C, "USER alice\r\n"},
      {S, "+OK\r\n"},
      {C, "PASS nope\r\n"},
      {S, "-ERR [AUTH] invalid\r\n"},
      {C, "PASS again\r\n"}},
     "S:greeting C:USER S:+USER C:PASS S:-PASS=fail C:!wrong_state",
     State::Authorization,
     "alice",
     1},
    {"PassWithoutUserIsOutOfState",
     {{S, kGreeting}, {C, "PASS secret\r\n"}},
     "S:greeting C:!wrong_state",
     State::Authorization,
     "",
     0},
    {"RefusedUserMakesPassOutOfState",
     {{S, kGreeting}, {C, "USER bob\r\n"}, {S, "-ERR no\r\n"}, {C, "PASS x\r\n"}},
     "S:greeting C:USER S:-USER C:!wrong_state",
     State::Authorization,
     "bob",
     0},
    {"ApopLogsIn",
     {{S, kGreeting},
      {C, "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"},
      {S, "+OK mrose's maildrop\r\n"}},
     "S:greeting C:APOP S:+APOP=ok",
     State::Transaction,
     "mrose",
     0},
    {"TransactionVerbsBeforeLoginAreOutOfState",
     {{S, kGreeting},
      {C, "STAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nNOOP\r\nRSET\r\nTOP 1 1\r\n"
          "UIDL\r\n"}},
     "S:greeting C:!wrong_state C:!wrong_state C:!wrong_state C:!wrong_state C:!wrong_state "
     "C:!wrong_state C:!wrong_state C:!wrong_state",
     State::Authorization,
     "",
     0},
    {"EveryTransactionVerb",
     {{S, kGreeting},
      {C, "USER a\r\nPASS b\r\n"},
      {S, "+OK\r\n+OK\r\n"},
      {C, "STAT\r\nLIST\r\nLIST 1\r\nUIDL\r\nUIDL 1\r\nRETR 1\r\nTOP 1 0\r\nDELE 1\r\nNOOP\r\n"
          "RSET\r\nCAPA\r\nQUIT\r\n"},
      {S, "+OK 1 5\r\n+OK\r\n1 5\r\n.\r\n+OK 1 5\r\n+OK\r\n1 u\r\n.\r\n+OK 1 u\r\n"
          "+OK\r\nabc\r\n.\r\n+OK\r\nhdr\r\n.\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\nTOP\r\n.\r\n"
          "+OK bye\r\n"}},
     "S:greeting C:USER C:PASS S:+USER S:+PASS=ok C:STAT C:LIST C:LIST C:UIDL C:UIDL C:RETR "
     "C:TOP C:DELE C:NOOP C:RSET C:CAPA C:QUIT S:+STAT S:+LIST S:body(1 5\\r\\n) S:end S:+LIST "
     "S:+UIDL S:body(1 u\\r\\n) S:end S:+UIDL S:+RETR S:body(abc\\r\\n) S:end S:+TOP "
     "S:body(hdr\\r\\n) S:end S:+DELE S:+NOOP S:+RSET S:+CAPA S:body(TOP\\r\\n) S:end S:+QUIT",
     State::Update,
     "a",
     0},
    {"AuthorizationVerbsAfterLoginAreOutOfState",
     {{S, kGreeting},
      {C, "USER a\r\nPASS b\r\n"},
      {S, "+OK\r\n+OK\r\n"},
      {C, "USER c\r\nPASS d\r\nAPOP x c4c9334bac560ecc979e58001b3e22fb\r\nAUTH PLAIN\r\n"
          "STLS\r\n"}},
     "S:greeting C:USER C:PASS S:+USER S:+PASS=ok C:!wrong_state C:!wrong_state C:!wrong_state "
     "C:!wrong_state C:!wrong_state",
     State::Transaction,
     "a",
     0},
    {"QuitInAuthorizationEndsTheSession",
     {{S, kGreeting}, {C, "QUIT\r\nNOOP\r\n"}, {S, "+OK bye\r\n"}},
     "S:greeting C:QUIT C:!wrong_state S:+QUIT",
     State::Update,
     "",
     0},
    {"AuthPlainWithInitialResponse",
     {{S, kGreeting},
      {C, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nSTAT\r\n"},
      {S, "+OK\r\n"},
      {S, "+OK 0 0\r\n"}},
     "S:greeting C:AUTH S:+AUTH=ok C:STAT S:+STAT",
     State::Transaction,
     "alice",
     0},
    {"AuthPlainWithContinuation",
     {{S, kGreeting},
      {C, "AUTH PLAIN\r\n"},
      {S, "+ \r\n"},
      {C, "AGFsaWNlAHNlY3JldA==\r\n"},
      {S, "+OK\r\n"}},
     "S:greeting C:AUTH S:cont C:sasl S:+AUTH=ok",
     State::Transaction,
     "alice",
     0},
    {"AuthLoginTwoContinuations",
     {{S, kGreeting},
      {C, "AUTH LOGIN\r\n"},
      {S, "+ VXNlcm5hbWU6\r\n"},
      {C, "Ym9i\r\n"},
      {S, "+ UGFzc3dvcmQ6\r\n"},
      {C, "c2VjcmV0\r\n"},
      {S, "-ERR [AUTH] failed\r\n"}},
     "S:greeting C:AUTH S:cont C:sasl S:cont C:sasl S:-AUTH=fail",
     State::Authorization,
     "bob",
     1},
    {"AuthLoginWithUserAsInitialResponse",
     {{S, kGreeting},
      {C, "AUTH LOGIN Ym9i\r\n"},
      {S, "+ UGFzc3dvcmQ6\r\n"},
      {C, "c2VjcmV0\r\n"},
      {S, "+OK\r\n"}},
     "S:greeting C:AUTH S:cont C:sasl S:+AUTH=ok",
     State::Transaction,
     "bob",
     0},
    {"AuthCancelledWithStarIsNotAFailure",
     {{S, kGreeting},
      {C, "AUTH LOGIN\r\n"},
      {S, "+ VXNlcm5hbWU6\r\n"},
      {C, "*\r\n"},
      {S, "-ERR cancelled\r\n"},
      {C, "CAPA\r\n"}},
     "S:greeting C:AUTH S:cont C:cancel S:-AUTH=cancel C:CAPA",
     State::Authorization,
     "",
     0},
    {"ClientLinesBeforeAContinuationWait",
     {{S, kGreeting}, {C, "AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n"}, {S, "+ \r\n"}, {S, "+OK\r\n"}},
     "S:greeting C:AUTH S:cont C:sasl S:+AUTH=ok",
     State::Transaction,
     "alice",
     0},
    {"GarbageDuringAuthAdvisesClose",
     {{S, kGreeting}, {C, "AUTH PLAIN\r\n"}, {S, "+ \r\n"}, {C, "not base64!\r\n"}},
     "S:greeting C:AUTH S:cont C:!bad_sasl_response(close)",
     State::AuthExchange,
     "",
     0},
    {"AuthListingIsMultiLineAndNotAnExchange",
     {{S, kGreeting}, {C, "AUTH\r\nCAPA\r\n"}, {S, "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n+OK\r\n.\r\n"}},
     R"(S:greeting C:AUTH C:CAPA S:+AUTH S:body(PLAIN\r\nLOGIN\r\n) S:end S:+CAPA S:end)",
     State::Authorization,
     "",
     0},
    {"StlsTwiceIsRefused",
     {{S, kGreeting}, {C, "STLS\r\n"}, {C, "STLS\r\n"}},
     "S:greeting C:STLS(discard 0) C:!tls_active",
     State::Authorization,
     "",
     0},
    {"NulBareLfAndGarbageAreRefusedAndTheSessionGoesOn",
     {{S, kGreeting},
      {C, "US\0R a\r\nUSER a\nXYZZY\r\n\x01\x02\r\nCAPA\r\n"sv},
      {S, "+OK\r\n.\r\n"}},
     "S:greeting C:!nul_byte C:!bare_lf C:!unknown_verb C:!bad_verb C:CAPA S:+CAPA S:end",
     State::Authorization,
     "",
     0},
    {"OverlongLineIsSkippedToItsEnd",
     {{S, kGreeting},
      {C, "USER aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
          "CAPA\r\n"},
      {S, "+OK\r\n.\r\n"}},
     "S:greeting C:!line_too_long C:CAPA S:+CAPA S:end",
     State::Authorization,
     "",
     0},
    {"TenInvalidLinesInARowAdviseClose",
     {{S, kGreeting}, {C, "X\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\n"}},
     "S:greeting C:!unknown_verb C:!unknown_verb C:!unknown_verb C:!unknown_verb "
     "C:!unknown_verb C:!unknown_verb C:!unknown_verb C:!unknown_verb C:!unknown_verb "
     "C:!unknown_verb(close) C:!unknown_verb(close)",
     State::Authorization,
     "",
     0},
    {"AValidLineResetsTheInvalidCount",
     {{S, kGreeting}, {C, "X\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nX\r\nCAPA\r\nX\r\n"}},
     "S:greeting C:!unknown_verb C:!unknown_verb C:!unknown_verb C:!unknown_verb "
     "C:!unknown_verb C:!unknown_verb C:!unknown_verb C:!unknown_verb C:!unknown_verb C:CAPA "
     "C:!unknown_verb",
     State::Authorization,
     "",
     0},
    {"BackendGarbageIsAnError",
     {{S, kGreeting}, {C, "NOOP\r\n"}, {S, "what?\r\n"}},
     "S:greeting C:!wrong_state S:!unsolicited_response",
     State::Authorization,
     "",
     0},
    {"RetrBodyWithStuffedDotsPassesIntact",
     {{S, kGreeting},
      {C, "USER a\r\nPASS b\r\n"},
      {S, "+OK\r\n+OK\r\n"},
      {C, "RETR 1\r\n"},
      {S, "+OK\r\n..leading dot\r\n.\r\n"}},
     "S:greeting C:USER C:PASS S:+USER S:+PASS=ok C:RETR S:+RETR "
     "S:body(..leading dot\\r\\n) S:end",
     State::Transaction,
     "a",
     0},
});

INSTANTIATE_TEST_SUITE_P(Pop3, Session, testing::ValuesIn(kSessions), case_name<SessionCase>);

TEST(Pop3Conversation, CommandViewsPointIntoTheFedBytes) {
  Conversation conv;
  const std::string bytes = "USER alice\r\nRETR";
  conv.feed_client(bytes);
  const ClientEvent e = conv.next_client();
  const auto& cmd = std::get<Command>(e);
  EXPECT_EQ(cmd.raw.data(), bytes.data());
  EXPECT_EQ(cmd.verb_text, "USER");
  EXPECT_EQ(cmd.args, "alice");
  EXPECT_EQ(cmd.raw, "USER alice\r\n");
}

TEST(Pop3Conversation, PausedClientKeepsUnconsumedLines) {
  // Backpressure: the proxy stops pulling after one command and pulls again later.
  Conversation conv;
  std::string bytes = "CAPA\r\nQUIT\r\n";
  conv.feed_client(bytes);
  ASSERT_EQ(std::get<Command>(conv.next_client()).verb, Verb::Capa);
  conv.command_forwarded(Verb::Capa, "");
  EXPECT_EQ(conv.client_buffered(), 6u);
  ASSERT_EQ(std::get<Command>(conv.next_client()).verb, Verb::Quit);
  EXPECT_TRUE(std::holds_alternative<NeedData>(conv.next_client()));
}

TEST(Pop3Conversation, PausedServerResumesMidBody) {
  Conversation conv;
  conv.command_forwarded(Verb::Retr, "1");
  const std::string bytes = "+OK\r\n+OK\r\nabc\r\n.\r\n";
  conv.feed_server(bytes);
  ASSERT_TRUE(std::holds_alternative<Greeting>(conv.next_server()));
  ASSERT_TRUE(std::holds_alternative<Status>(conv.next_server()));
  EXPECT_TRUE(conv.response_in_progress());
  // ... the client is slow; later:
  EXPECT_EQ(std::get<Body>(conv.next_server()).bytes, "abc\r\n");
  EXPECT_EQ(std::get<BodyEnd>(conv.next_server()).raw, ".\r\n");
  EXPECT_FALSE(conv.response_in_progress());
  EXPECT_TRUE(std::holds_alternative<NeedData>(conv.next_server()));
}

TEST(Pop3Conversation, WaitsForAuthOutcomeAndRetainsPipelinedBytes) {
  Conversation conv;
  conv.feed_server("+OK\r\n");
  ASSERT_TRUE(std::holds_alternative<Greeting>(conv.next_server()));
  {
    auto heap =
        std::make_unique<std::string>("APOP a c4c9334bac560ecc979e58001b3e22fb\r\nSTAT\r\n");
    conv.feed_client(*heap);
    conv.command_forwarded(std::get<Command>(conv.next_client()));
    EXPECT_TRUE(conv.client_waiting());
    EXPECT_TRUE(std::holds_alternative<NeedData>(conv.next_client()));
  } // the caller's buffer is gone: the codec copied "STAT\r\n"
  EXPECT_EQ(conv.client_buffered(), 6u);
  conv.feed_server("+OK\r\n");
  EXPECT_EQ(std::get<Status>(conv.next_server()).auth, AuthResult::Success);
  EXPECT_EQ(std::get<Command>(conv.next_client()).raw, "STAT\r\n");
}

TEST(Pop3Conversation, StlsDiscardsWhatWasPipelinedAfterIt) {
  // RFC 2595 §4, CVE-2011-0411: a command injected after STLS in plaintext must not be run.
  Conversation conv;
  conv.feed_client("CAPA\r\nSTLS\r\nUSER injected\r\nPASS x\r\n");
  conv.command_answered_locally(std::get<Command>(conv.next_client()), true);
  const Command stls = std::get<Command>(conv.next_client());
  ASSERT_EQ(stls.verb, Verb::Stls);
  conv.command_answered_locally(stls, true);
  EXPECT_EQ(conv.discard_client_input(), 23u);
  EXPECT_EQ(conv.user(), "");
  EXPECT_TRUE(std::holds_alternative<NeedData>(conv.next_client()));
}

TEST(Pop3Conversation, StlsBlocksUntilDiscard) {
  Conversation conv;
  conv.feed_client("STLS\r\nCAPA\r\n");
  const Command stls = std::get<Command>(conv.next_client());
  conv.command_answered_locally(stls, true);
  EXPECT_TRUE(std::holds_alternative<NeedData>(conv.next_client()));
  EXPECT_EQ(conv.discard_client_input(), 6u);
  EXPECT_TRUE(std::holds_alternative<NeedData>(conv.next_client()));
}

TEST(Pop3Conversation, FailuresAccumulateAcrossAttempts) {
  Conversation conv;
  conv.feed_server("+OK\r\n");
  ASSERT_TRUE(std::holds_alternative<Greeting>(conv.next_server()));
  for (unsigned i = 1; i <= 3; ++i) {
    conv.feed_client("USER a\r\nPASS b\r\n");
    conv.command_forwarded(std::get<Command>(conv.next_client()));
    conv.command_forwarded(std::get<Command>(conv.next_client()));
    conv.feed_server("+OK\r\n-ERR [AUTH] no\r\n");
    EXPECT_TRUE(std::get<Status>(conv.next_server()).ok);
    EXPECT_EQ(std::get<Status>(conv.next_server()).code, ResponseCode::Auth);
    EXPECT_EQ(conv.auth_failures(), i);
  }
}

} // namespace
} // namespace popgate::pop3
