// The bytes of a log line: logfmt and JSON escaping of peer text (UTF-8 kept, invalid UTF-8
// replaced, control characters and quotes escaped, long values cut at a character), the
// journald priority prefixes, and when stderr counts as the journal.

#include "proxy/server/log_format.hpp"

#include "base/json_string.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace popgate::proxy::log {
namespace {

struct EscapeCase {
  std::string_view name;
  std::string_view input;
  std::string_view logfmt;
  std::string_view json;
};

class EscapeTest : public testing::TestWithParam<EscapeCase> {};

TEST_P(EscapeTest, LogfmtValue) {
  std::string out;
  append_logfmt_value(out, GetParam().input);
  EXPECT_EQ(out, GetParam().logfmt);
}

TEST_P(EscapeTest, JsonString) {
  std::string out;
  json::append_string(out, GetParam().input, kMaxValue);
  EXPECT_EQ(out, GetParam().json);
}

const auto kEscapes = std::to_array<EscapeCase>({
    {"plain_ascii_is_bare", "alice", "alice", R"("alice")"},
    {"empty_is_quoted", "", R"("")", R"("")"},
    {"a_space_quotes", "a b", R"("a b")", R"("a b")"},
    {"an_equals_sign_quotes_so_no_field_can_be_forged", "x=1", R"("x=1")", R"("x=1")"},
    {"quotes_are_escaped", R"(say "hi")", R"("say \"hi\"")", R"("say \"hi\"")"},
    {"a_backslash_is_escaped", R"(a\b)", R"("a\\b")", R"("a\\b")"},
    {"newline_and_cr_cannot_split_a_line", "a\r\nuser=root", R"("a\r\nuser=root")",
     R"("a\r\nuser=root")"},
    {"tab", "a\tb", R"("a\tb")", R"("a\tb")"},
    {"nul_and_escape_characters", std::string_view("a\0\x1b", 3), R"("a\u0000\u001b")",
     R"("a\u0000\u001b")"},
    {"del_is_a_control_in_text_but_legal_json", "a\x7f", R"("a\u007f")", "\"a\x7f\""},
    {"utf8_passes_through", "j\xC3\xBCrgen", "j\xC3\xBCrgen", "\"j\xC3\xBCrgen\""},
    {"four_byte_utf8_passes_through", "\xF0\x9F\x93\xAC", "\xF0\x9F\x93\xAC",
     "\"\xF0\x9F\x93\xAC\""},
    {"c1_control_is_escaped_in_text", "a\xC2\x85", R"("a\u0085")", "\"a\xC2\x85\""},
    {"a_stray_byte_becomes_u_fffd", "a\xFFz", "\"a\xEF\xBF\xBDz\"", "\"a\xEF\xBF\xBDz\""},
    {"a_latin1_name_becomes_u_fffd", "j\xFCrgen", "\"j\xEF\xBF\xBDrgen\"", "\"j\xEF\xBF\xBDrgen\""},
    {"a_truncated_sequence_becomes_u_fffd", "a\xE2\x82", "\"a\xEF\xBF\xBD\xEF\xBF\xBD\"",
     "\"a\xEF\xBF\xBD\xEF\xBF\xBD\""},
    {"an_overlong_slash_is_not_a_slash", "\xC0\xAF", "\"\xEF\xBF\xBD\xEF\xBF\xBD\"",
     "\"\xEF\xBF\xBD\xEF\xBF\xBD\""},
    {"a_surrogate_is_invalid", "\xED\xA0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"",
     "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},
    {"above_u_10ffff_is_invalid", "\xF4\x90\x80\x80",
     "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"",
     "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},
});

INSTANTIATE_TEST_SUITE_P(Cases, EscapeTest, testing::ValuesIn(kEscapes),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(LogFormat, LongValuesAreCutAtACharacterBoundary) {
  std::string value(kMaxValue - 1, 'a');
  value += "\xC3\xBC"; // 'ü' would straddle the limit
  std::string out;
  json::append_string(out, value, kMaxValue);
  EXPECT_EQ(out, "\"" + std::string(kMaxValue - 1, 'a') + "...\"");
  out.clear();
  append_logfmt_value(out, std::string(kMaxValue, 'b'));
  EXPECT_EQ(out, std::string(kMaxValue, 'b')) << "exactly the limit is not cut";
}

// Scans a quoted string the way a JSON or logfmt reader does: a backslash takes the next byte,
// a quote ends it. True when `s` is exactly one such string with no raw control byte inside.
bool one_quoted_string(std::string_view s) {
  if (s.size() < 2 || s.front() != '"') {
    return false;
  }
  for (std::size_t i = 1; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20) {
      return false;
    }
    if (c == '\\') {
      ++i;
    } else if (c == '"') {
      return i == s.size() - 1;
    }
  }
  return false;
}

TEST(LogFormat, NoPairOfBytesBreaksOutOfAValue) {
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      std::string input = {'x', static_cast<char>(a), static_cast<char>(b)};
      std::string json;
      json::append_string(json, input, kMaxValue);
      ASSERT_TRUE(one_quoted_string(json)) << a << " " << b << ": " << json;
      std::string text;
      append_logfmt_value(text, input);
      if (text.front() == '"') {
        ASSERT_TRUE(one_quoted_string(text)) << a << " " << b << ": " << text;
      } else {
        ASSERT_EQ(text.find_first_of(" =\"\\\x7f"), std::string::npos) << a << " " << b;
        ASSERT_TRUE(std::none_of(text.begin(), text.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
            << a << " " << b;
      }
    }
  }
}

std::vector<Field> sample_fields() {
  return {Field{"session", "q7hx2kcm-1"}, Field{"user", "j\xC3\xBCrgen x"},
          Field{"bytes_in", "42", false}};
}

TEST(LogFormat, TextLineIsLogfmt) {
  auto fields = sample_fields();
  EXPECT_EQ(format_line({LogFormat::Text, false}, "2026-01-02T03:04:05.678Z", LogLevel::Info,
                        "session", "session ended", fields),
            "ts=2026-01-02T03:04:05.678Z level=info event=session msg=\"session ended\" "
            "session=q7hx2kcm-1 user=\"j\xC3\xBCrgen x\" bytes_in=42\n");
}

TEST(LogFormat, JsonLine) {
  auto fields = sample_fields();
  EXPECT_EQ(format_line({LogFormat::Json, false}, "2026-01-02T03:04:05.678Z", LogLevel::Warn,
                        "backend", "backend failure", fields),
            R"({"ts":"2026-01-02T03:04:05.678Z","level":"warn","event":"backend",)"
            R"("msg":"backend failure","session":"q7hx2kcm-1","user":"j)"
            "\xC3\xBC"
            R"(rgen x","bytes_in":42})"
            "\n");
}

struct PriorityCase {
  std::string_view name;
  LogLevel level;
  std::string_view prefix;
};

class JournalPriorityTest : public testing::TestWithParam<PriorityCase> {};

TEST_P(JournalPriorityTest, PrefixReplacesTheTimestamp) {
  auto want = std::string(GetParam().prefix);
  EXPECT_EQ(
      format_line({LogFormat::Text, true}, "never-written", GetParam().level, "reload", "done", {}),
      want + "level=" + std::string(level_name(GetParam().level)) + " event=reload msg=done\n");
  EXPECT_EQ(
      format_line({LogFormat::Json, true}, "never-written", GetParam().level, "reload", "done", {}),
      want + R"({"level":")" + std::string(level_name(GetParam().level)) +
          R"(","event":"reload","msg":"done"})" + "\n");
}

const auto kPriorities = std::to_array<PriorityCase>({
    {"debug_is_7", LogLevel::Debug, "<7>"},
    {"info_is_6", LogLevel::Info, "<6>"},
    {"warn_is_4", LogLevel::Warn, "<4>"},
    {"error_is_3", LogLevel::Error, "<3>"},
});

INSTANTIATE_TEST_SUITE_P(Cases, JournalPriorityTest, testing::ValuesIn(kPriorities),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(LogFormat, JournalStreamMustNameStderr) {
  EXPECT_TRUE(is_journal_stream("8:12345", 8, 12345));
  EXPECT_FALSE(is_journal_stream("8:12345", 8, 999)) << "inherited by a child logging elsewhere";
  EXPECT_FALSE(is_journal_stream("", 8, 12345));
  EXPECT_FALSE(is_journal_stream("8", 8, 12345));
  EXPECT_FALSE(is_journal_stream("8:12345x", 8, 12345));
  EXPECT_FALSE(is_journal_stream(":12345", 0, 12345));
}

} // namespace
} // namespace popgate::proxy::log
