// Pairing backend responses with forwarded commands (RFC 2449 §6.6), multi-line bodies and
// their terminator (RFC 1939 §3), response codes (RFC 2449 §8, RFC 3206).

#include "proxy/pop3/response_tracker.hpp"

#include <array>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace popgate::pop3 {
namespace {

template <typename T> std::string case_name(const testing::TestParamInfo<T>& param_info) {
  return std::string(param_info.param.name);
}

std::string escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Appends one event to a transcript. Consecutive Body events are merged, so the transcript does
// not depend on how the input was split.
void record(std::string& out, bool& in_body, const ServerEvent& e) {
  if (const auto* body = std::get_if<Body>(&e)) {
    EXPECT_FALSE(body->bytes.empty());
    if (!in_body) {
      out += " body(";
      in_body = true;
    }
    out += escape(body->bytes);
    return;
  }
  if (in_body) {
    out += ")";
    in_body = false;
  }
  if (const auto* g = std::get_if<Greeting>(&e)) {
    out += g->ok ? " greeting" : " greeting-err";
  } else if (const auto* s = std::get_if<Status>(&e)) {
    out += std::string(" ") + (s->ok ? "+" : "-") + std::string(verb_name(s->for_verb));
    if (s->code != ResponseCode::None) {
      out += "[" + std::string(response_code_name(s->code)) + "]";
    }
    if (s->multiline) {
      out += "*";
    }
  } else if (const auto* end = std::get_if<BodyEnd>(&e)) {
    out += " end(" + escape(end->raw) + ")";
  } else if (std::holds_alternative<Continuation>(e)) {
    out += " cont";
  } else if (const auto* err = std::get_if<ServerError>(&e)) {
    out += " !" + std::string(error_name(err->error));
  }
}

struct Forward {
  Verb verb;
  bool has_args;
};

struct TrackCase {
  std::string_view name;
  std::vector<Forward> forwarded;
  std::string_view input;
  std::string_view expected;
};

// Feeds `input` in pieces of the given sizes (0 = the rest), each in its own exact-size heap
// block that is freed as soon as the tracker returns NeedData (or an error).
std::string run(const TrackCase& c, const std::vector<std::size_t>& pieces,
                std::size_t limit = 64) {
  ResponseTracker t(limit);
  for (const Forward f : c.forwarded) {
    t.expect(f.verb, f.has_args);
  }
  std::string out;
  bool in_body = false;
  std::string_view rest = c.input;
  std::size_t i = 0;
  while (!rest.empty()) {
    std::size_t n = i < pieces.size() ? pieces[i] : pieces.back();
    n = (n == 0 || n > rest.size()) ? rest.size() : n;
    ++i;
    // NOLINTNEXTLINE(modernize-avoid-c-arrays): exact-size heap, ASan sees over-reads
    std::unique_ptr<char[]> heap(new char[n]);
    std::memcpy(heap.get(), rest.data(), n);
    rest.remove_prefix(n);
    t.feed({heap.get(), n});
    while (true) {
      const ServerEvent e = t.next();
      if (std::holds_alternative<NeedData>(e)) {
        break;
      }
      record(out, in_body, e);
      if (std::holds_alternative<ServerError>(e)) {
        if (in_body) {
          out += ")";
        }
        return out.empty() ? out : out.substr(1);
      }
    }
  }
  if (in_body) {
    out += ")";
  }
  return out.empty() ? out : out.substr(1);
}

class TrackResponses : public testing::TestWithParam<TrackCase> {};

TEST_P(TrackResponses, FedWhole) { EXPECT_EQ(run(GetParam(), {0}), GetParam().expected); }

TEST_P(TrackResponses, FedOneByteAtATime) { EXPECT_EQ(run(GetParam(), {1}), GetParam().expected); }

TEST_P(TrackResponses, FedInTwoPiecesSplitAnywhere) {
  for (std::size_t split = 1; split < GetParam().input.size(); ++split) {
    EXPECT_EQ(run(GetParam(), {split, 0}), GetParam().expected) << "split at " << split;
  }
}

TEST_P(TrackResponses, FollowedByTheNextPipelinedResponse) {
  TrackCase c = GetParam();
  if (c.expected.find('!') != std::string_view::npos) {
    return; // an error is fatal: nothing follows it
  }
  c.forwarded.push_back({Verb::Noop, false});
  const std::string input = std::string(c.input) + "+OK\r\n";
  c.input = input;
  const std::string expected = std::string(GetParam().expected) + " +NOOP";
  EXPECT_EQ(run(c, {0}), expected);
  EXPECT_EQ(run(c, {1}), expected);
}

const auto kTrackCases = std::to_array<TrackCase>({
    {"GreetingComesFirst", {}, "+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n", "greeting"},
    {"ErrGreetingRefusesTheSession", {}, "-ERR [SYS/TEMP] too busy\r\n", "greeting-err"},
    {"GarbageGreeting", {}, "HTTP/1.1 400 Bad Request\r\n", "!server_garbage"},
    {"SingleLineOk", {{Verb::Stat, false}}, "+OK\r\n+OK 2 320\r\n", "greeting +STAT"},
    {"OkIsCaseInsensitive", {{Verb::Noop, false}}, "+ok\r\n+ok\r\n", "greeting +NOOP"},
    {"ErrIsAlwaysOneLine",
     {{Verb::Retr, true}},
     "+OK\r\n-ERR no such message\r\n",
     "greeting -RETR"},
    {"RetrBodyEndsAtDot",
     {{Verb::Retr, true}},
     "+OK\r\n+OK 120 octets\r\nSubject: hi\r\n\r\nbody\r\n.\r\n",
     R"(greeting +RETR* body(Subject: hi\r\n\r\nbody\r\n) end(.\r\n))"},
    {"DotStuffedLinesAreData",
     {{Verb::Retr, true}},
     "+OK\r\n+OK\r\n..\r\n..x\r\n.x\r\n.\r\n",
     R"(greeting +RETR* body(..\r\n..x\r\n.x\r\n) end(.\r\n))"},
    {"EmptyBody",
     {{Verb::List, false}},
     "+OK\r\n+OK 0 messages\r\n.\r\n",
     "greeting +LIST* end(.\\r\\n)"},
    {"DotInsideALineIsData",
     {{Verb::Top, true}},
     "+OK\r\n+OK\r\na.\r\nb\r\n.\r\n",
     R"(greeting +TOP* body(a.\r\nb\r\n) end(.\r\n))"},
    {"BareLfBackendTerminator",
     {{Verb::Uidl, false}},
     "+OK\n+OK\n1 abc\n.\n",
     "greeting +UIDL* body(1 abc\\n) end(.\\n)"},
    {"ListWithArgumentIsOneLine", {{Verb::List, true}}, "+OK\r\n+OK 1 120\r\n", "greeting +LIST"},
    {"UidlWithArgumentIsOneLine", {{Verb::Uidl, true}}, "+OK\r\n+OK 1 abc\r\n", "greeting +UIDL"},
    {"PipelinedListUidlRetrRetr",
     {{Verb::List, false}, {Verb::Uidl, false}, {Verb::Retr, true}, {Verb::Retr, true}},
     "+OK\r\n+OK\r\n1 5\r\n.\r\n+OK\r\n1 u1\r\n.\r\n+OK\r\nabc\r\n.\r\n-ERR gone\r\n",
     "greeting +LIST* body(1 5\\r\\n) end(.\\r\\n) +UIDL* body(1 u1\\r\\n) end(.\\r\\n) "
     "+RETR* body(abc\\r\\n) end(.\\r\\n) -RETR"},
    {"CapaIsMultiLine",
     {{Verb::Capa, false}},
     "+OK\r\n+OK\r\nUSER\r\nSTLS\r\n.\r\n",
     R"(greeting +CAPA* body(USER\r\nSTLS\r\n) end(.\r\n))"},
    {"AuthAloneListsMechanisms",
     {{Verb::Auth, false}},
     "+OK\r\n+OK\r\nPLAIN\r\n.\r\n",
     R"(greeting +AUTH* body(PLAIN\r\n) end(.\r\n))"},
    {"AuthExchangeWithContinuations",
     {{Verb::Auth, true}},
     "+OK\r\n+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n+OK logged in\r\n",
     "greeting cont cont +AUTH"},
    {"AuthEmptyContinuation",
     {{Verb::Auth, true}},
     "+OK\r\n+ \r\n-ERR [AUTH] no\r\n",
     "greeting cont -AUTH[AUTH]"},
    {"ContinuationOutsideAuthIsGarbage",
     {{Verb::Stat, false}},
     "+OK\r\n+ abc\r\n",
     "greeting !server_garbage"},
    {"ResponseCodes",
     {{Verb::Pass, true},
      {Verb::Pass, true},
      {Verb::Pass, true},
      {Verb::Pass, true},
      {Verb::Pass, true},
      {Verb::Pass, true}},
     "+OK\r\n-ERR [SYS/TEMP] a\r\n-ERR [SYS/PERM] b\r\n-ERR [IN-USE] c\r\n"
     "-ERR [LOGIN-DELAY] d\r\n-ERR [AUTH] e\r\n-ERR [XYZ] f\r\n",
     "greeting -PASS[SYS/TEMP] -PASS[SYS/PERM] -PASS[IN-USE] -PASS[LOGIN-DELAY] -PASS[AUTH] "
     "-PASS[other]"},
    {"UnsolicitedResponse", {}, "+OK\r\n-ERR autologout\r\n", "greeting !unsolicited_response"},
    {"GarbageStatus", {{Verb::Stat, false}}, "+OK\r\nOK 1 2\r\n", "greeting !server_garbage"},
    {"OkWithoutSeparatorIsGarbage",
     {{Verb::Stat, false}},
     "+OK\r\n+OKAY\r\n",
     "greeting !server_garbage"},
    {"OverlongStatusLine",
     {{Verb::Stat, false}},
     "+OK\r\n+OK 0123456789012345678901234567890123456789012345678901234567890123456789\r\n",
     "greeting !server_line_too_long"},
    {"LongBodyLinesAreNotBounded",
     {{Verb::Retr, true}},
     "+OK\r\n+"
     "OK\r\n01234567890123456789012345678901234567890123456789012345678901234567890123456789"
     "\r\n.\r\n",
     "greeting +RETR* body(0123456789012345678901234567890123456789012345678901234567890123456"
     "7890123456789\\r\\n) end(.\\r\\n)"},
});

INSTANTIATE_TEST_SUITE_P(Pop3, TrackResponses, testing::ValuesIn(kTrackCases),
                         case_name<TrackCase>);

TEST(Pop3ResponseTracker, BodyIsOneChunkPerFeedNotPerLine) {
  ResponseTracker t(64);
  t.expect(Verb::Retr, true);
  t.feed("+OK\r\n+OK\r\nline 1\r\nline 2\r\nline 3\r\n");
  ASSERT_TRUE(std::holds_alternative<Greeting>(t.next()));
  ASSERT_TRUE(std::holds_alternative<Status>(t.next()));
  const ServerEvent e = t.next();
  ASSERT_TRUE(std::holds_alternative<Body>(e));
  EXPECT_EQ(std::get<Body>(e).bytes, "line 1\r\nline 2\r\nline 3\r\n");
  EXPECT_TRUE(std::holds_alternative<NeedData>(t.next()));
  EXPECT_TRUE(t.in_body());
}

TEST(Pop3ResponseTracker, TerminatorSplitAcrossFeedsIsFound) {
  ResponseTracker t(64);
  t.expect(Verb::Retr, true);
  t.feed("+OK\r\n+OK\r\nx\r\n.");
  ASSERT_TRUE(std::holds_alternative<Greeting>(t.next()));
  ASSERT_TRUE(std::holds_alternative<Status>(t.next()));
  EXPECT_EQ(std::get<Body>(t.next()).bytes, "x\r\n");
  EXPECT_TRUE(std::holds_alternative<NeedData>(t.next()));
  t.feed("\r");
  EXPECT_TRUE(std::holds_alternative<NeedData>(t.next()));
  t.feed("\n");
  EXPECT_EQ(std::get<BodyEnd>(t.next()).raw, ".\r\n");
  EXPECT_FALSE(t.in_body());
}

TEST(Pop3ResponseTracker, BodyViewsPointIntoTheFedBuffer) {
  ResponseTracker t(64);
  t.expect(Verb::Retr, true);
  t.feed("+OK\r\n+OK\r\n");
  ASSERT_TRUE(std::holds_alternative<Greeting>(t.next()));
  ASSERT_TRUE(std::holds_alternative<Status>(t.next()));
  ASSERT_TRUE(std::holds_alternative<NeedData>(t.next()));
  const std::string chunk = "data data data\r\n";
  t.feed(chunk);
  EXPECT_EQ(std::get<Body>(t.next()).bytes.data(), chunk.data()); // zero copy
}

TEST(Pop3ResponseTracker, ErrorIsSticky) {
  ResponseTracker t(64);
  t.feed("garbage\r\n+OK\r\n");
  EXPECT_EQ(std::get<ServerError>(t.next()).error, Error::ServerGarbage);
  EXPECT_EQ(std::get<ServerError>(t.next()).error, Error::ServerGarbage);
}

} // namespace
} // namespace popgate::pop3
