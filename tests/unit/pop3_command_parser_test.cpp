// Grammar of client command lines (RFC 1939 §3-7, RFC 2449 §5, RFC 2595 §4, RFC 5034 §4), and
// the splitting of the client byte stream into lines.

#include "proxy/pop3/command_parser.hpp"

#include <array>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace popgate::pop3 {
namespace {

using namespace std::string_view_literals;

// Test names are the cases' names, which read as sentences.
template <typename T> std::string case_name(const testing::TestParamInfo<T>& param_info) {
  return std::string(param_info.param.name);
}

// Copies `bytes` to the end of an exact-size heap block so ASan reports any read past it.
class HeapBytes {
public:
  explicit HeapBytes(std::string_view bytes)
      : data_(new char[bytes.size() + 1]), size_(bytes.size()) {
    std::memcpy(data_.get(), bytes.data(), bytes.size());
  }
  [[nodiscard]] std::string_view view() const { return {data_.get(), size_}; }

private:
  // NOLINTNEXTLINE(modernize-avoid-c-arrays): exact-size heap, ASan sees over-reads
  std::unique_ptr<char[]> data_;
  std::size_t size_;
};

// "VERB|args" for a command, "!error_name" for an error.
std::string render(const Result<Command, Error>& r) {
  if (!r.has_value()) {
    return "!" + std::string(error_name(r.error()));
  }
  return std::string(verb_name(r.value().verb)) + "|" + std::string(r.value().args);
}

struct ParseCase {
  std::string_view name;
  std::string_view line;
  std::string_view expected;
};

class ParseCommand : public testing::TestWithParam<ParseCase> {};

TEST_P(ParseCommand, GivesTheExpectedCommandOrError) {
  // Exact-size copy, no terminating byte: the parser must not look past the LF.
  const std::string_view line = GetParam().line;
  // NOLINTNEXTLINE(modernize-avoid-c-arrays): exact-size heap, ASan sees over-reads
  std::unique_ptr<char[]> heap(new char[line.size()]);
  std::memcpy(heap.get(), line.data(), line.size());
  const auto result = parse_command({heap.get(), line.size()});
  EXPECT_EQ(render(result), GetParam().expected);
  if (result.has_value()) {
    EXPECT_EQ(result.value().raw.size(), line.size());
    EXPECT_EQ(result.value().raw.data(), heap.get());
  }
}

// The same line through the LineSplitter, fed whole and one byte at a time, followed by a
// pipelined NOOP: the line's verdict is unchanged and the NOOP after it is intact.
TEST_P(ParseCommand, FollowedByAPipelinedCommand) {
  const std::string input = std::string(GetParam().line) + "NOOP\r\n";
  for (const std::size_t piece : {input.size(), std::size_t{1}}) {
    LineSplitter lines(1024);
    std::vector<std::string> got;
    for (std::size_t at = 0; at < input.size(); at += piece) {
      const HeapBytes bytes(std::string_view(input).substr(at, piece));
      lines.feed(bytes.view());
      while (true) {
        const auto e = lines.next();
        if (!std::holds_alternative<LineSplitter::Line>(e)) {
          break;
        }
        got.push_back(render(parse_command(std::get<LineSplitter::Line>(e).raw)));
      }
    }
    ASSERT_EQ(got.size(), 2u) << "piece " << piece;
    EXPECT_EQ(got[0], GetParam().expected) << "piece " << piece;
    EXPECT_EQ(got[1], "NOOP|") << "piece " << piece;
  }
}

const auto kParseCases = std::to_array<ParseCase>({
    {"UserTakesOneName", "USER alice\r\n", "USER|alice"},
    {"VerbsAreCaseInsensitive", "uSeR alice\r\n", "USER|alice"},
    {"UserWithoutNameIsRefused", "USER\r\n", "!bad_arguments"},
    {"UserWithTwoNamesIsRefused", "USER a b\r\n", "!bad_arguments"},
    {"PassKeepsSpacesInThePassword", "PASS my secret pw\r\n", "PASS|my secret pw"},
    {"PassWithoutPasswordIsRefused", "PASS\r\n", "!bad_arguments"},
    {"ApopTakesNameAndDigest", "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n",
     "APOP|mrose c4c9334bac560ecc979e58001b3e22fb"},
    {"ApopWithShortDigestIsRefused", "APOP mrose c4c9334b\r\n", "!bad_arguments"},
    {"ApopWithNonHexDigestIsRefused", "APOP mrose z4c9334bac560ecc979e58001b3e22fb\r\n",
     "!bad_arguments"},
    {"ApopWithoutDigestIsRefused", "APOP mrose\r\n", "!bad_arguments"},
    {"AuthAloneListsMechanisms", "AUTH\r\n", "AUTH|"},
    {"AuthWithMechanism", "AUTH PLAIN\r\n", "AUTH|PLAIN"},
    {"AuthWithInitialResponse", "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
     "AUTH|PLAIN AGFsaWNlAHNlY3JldA=="},
    {"AuthWithEmptyInitialResponse", "AUTH PLAIN =\r\n", "AUTH|PLAIN ="},
    {"AuthWithBadBase64IsRefused", "AUTH PLAIN a*b\r\n", "!bad_arguments"},
    {"AuthWithBadMechanismNameIsRefused", "AUTH PL@IN\r\n", "!bad_arguments"},
    {"AuthWithThreeArgumentsIsRefused", "AUTH PLAIN AAAA BBBB\r\n", "!bad_arguments"},
    {"StlsHasNoArguments", "STLS\r\n", "STLS|"},
    {"StlsWithArgumentIsRefused", "STLS now\r\n", "!bad_arguments"},
    {"Capa", "CAPA\r\n", "CAPA|"},
    {"Quit", "QUIT\r\n", "QUIT|"},
    {"Stat", "STAT\r\n", "STAT|"},
    {"StatWithArgumentIsRefused", "STAT 1\r\n", "!bad_arguments"},
    {"ListWithoutArgument", "LIST\r\n", "LIST|"},
    {"ListWithMessageNumber", "LIST 2\r\n", "LIST|2"},
    {"ListWithWordIsRefused", "LIST two\r\n", "!bad_arguments"},
    {"RetrNeedsANumber", "RETR 1\r\n", "RETR|1"},
    {"RetrWithoutNumberIsRefused", "RETR\r\n", "!bad_arguments"},
    {"RetrWithNegativeNumberIsRefused", "RETR -1\r\n", "!bad_arguments"},
    {"RetrWithHugeNumberIsRefused", "RETR 123456789012\r\n", "!bad_arguments"},
    {"RetrWithTwoNumbersIsRefused", "RETR 1 2\r\n", "!bad_arguments"},
    {"DeleNeedsANumber", "DELE 3\r\n", "DELE|3"},
    {"Noop", "NOOP\r\n", "NOOP|"},
    {"Rset", "RSET\r\n", "RSET|"},
    {"TopTakesMessageAndLines", "TOP 1 10\r\n", "TOP|1 10"},
    {"TopWithZeroLines", "TOP 1 0\r\n", "TOP|1 0"},
    {"TopWithOneArgumentIsRefused", "TOP 1\r\n", "!bad_arguments"},
    {"UidlWithoutArgument", "UIDL\r\n", "UIDL|"},
    {"UidlWithMessageNumber", "UIDL 1\r\n", "UIDL|1"},
    {"ExtraSpacesBetweenWordsAreTolerated", "TOP  1   10 \r\n", "TOP|1   10"},
    {"UnknownVerb", "XYZZY\r\n", "!unknown_verb"},
    {"ObsoleteLastIsUnknown", "LAST\r\n", "!unknown_verb"},
    {"EmptyLineIsMalformed", "\r\n", "!bad_verb"},
    {"LeadingSpaceIsMalformed", " USER a\r\n", "!bad_verb"},
    {"DigitsInVerbAreMalformed", "US3R a\r\n", "!bad_verb"},
    {"NonAsciiVerbIsMalformed", "\xc3\x9cSER a\r\n", "!bad_verb"},
    {"OverlongKeywordIsMalformed", "ABCDEFGHIJKLMNOPQ\r\n", "!bad_verb"},
    {"TabAfterVerbIsMalformed", "RETR\t1\r\n", "!bad_verb"},
    {"BareLfIsRefused", "USER a\n", "!bare_lf"},
    {"LoneLfIsRefused", "\n", "!bare_lf"},
    {"NulInArgumentIsRefused", "USER a\0b\r\n"sv, "!nul_byte"},
    {"NulInVerbIsRefused", "US\0R a\r\n"sv, "!nul_byte"},
    {"NulWithBareLfIsANulError", "USER\0\n"sv, "!nul_byte"},
    {"StrayCrInArgumentsIsRefused", "USER a\rb\r\n", "!bad_arguments"},
    {"NonAsciiUserNameIsAccepted", "USER j\xc3\xbcrgen\r\n", "USER|j\xc3\xbcrgen"},
});

INSTANTIATE_TEST_SUITE_P(Pop3, ParseCommand, testing::ValuesIn(kParseCases),
                         case_name<ParseCommand::ParamType>);

// ---- LineSplitter ----

std::string split_all(LineSplitter& s) {
  std::string out;
  while (true) {
    const auto e = s.next();
    if (std::holds_alternative<LineSplitter::NoLine>(e)) {
      return out;
    }
    if (std::holds_alternative<LineSplitter::TooLong>(e)) {
      out += "[too long]";
    } else {
      out += "[" + std::string(std::get<LineSplitter::Line>(e).raw) + "]";
    }
  }
}

struct SplitCase {
  std::string_view name;
  std::string_view input;
  std::string_view expected;
};

class SplitLines : public testing::TestWithParam<SplitCase> {};

TEST_P(SplitLines, WholeAndOneByteAtATimeGiveTheSameLines) {
  constexpr std::size_t kLimit = 16;
  {
    LineSplitter s(kLimit);
    const HeapBytes bytes(GetParam().input);
    s.feed(bytes.view());
    EXPECT_EQ(split_all(s), GetParam().expected);
  }
  {
    LineSplitter s(kLimit);
    std::string out;
    for (const char c : GetParam().input) {
      const HeapBytes byte(std::string_view(&c, 1));
      s.feed(byte.view());
      out += split_all(s); // `byte` is freed after NeedData: the splitter must have copied
    }
    EXPECT_EQ(out, GetParam().expected);
  }
}

const auto kSplitCases = std::to_array<SplitCase>({
    {"OneLine", "NOOP\r\n", "[NOOP\r\n]"},
    {"PipelinedLines", "LIST\r\nUIDL\r\nRETR 1\r\n", "[LIST\r\n][UIDL\r\n][RETR 1\r\n]"},
    {"UnfinishedLineWaits", "NOOP\r\nRETR", "[NOOP\r\n]"},
    {"LineOfExactlyTheLimitPasses", "USER abcdefghi\r\n", "[USER abcdefghi\r\n]"},
    {"LineOneOverTheLimitIsSkippedToLf", "USER abcdefghij\r\nNOOP\r\n", "[too long][NOOP\r\n]"},
    {"VeryLongLineIsReportedOnce", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\nQUIT\r\n",
     "[too long][QUIT\r\n]"},
    {"BareLfEndsALine", "NOOP\nQUIT\r\n", "[NOOP\n][QUIT\r\n]"},
});

INSTANTIATE_TEST_SUITE_P(Pop3, SplitLines, testing::ValuesIn(kSplitCases),
                         case_name<SplitLines::ParamType>);

TEST(Pop3LineSplitter, DiscardDropsBufferedBytesAndPendingSkip) {
  LineSplitter s(16);
  s.feed("STLS\r\nUSER injected\r\n");
  ASSERT_TRUE(std::holds_alternative<LineSplitter::Line>(s.next()));
  EXPECT_EQ(s.discard(), 15u);
  EXPECT_EQ(s.buffered(), 0u);
  s.feed("CAPA\r\n");
  EXPECT_EQ(split_all(s), "[CAPA\r\n]");
}

// ---- SASL lines during AUTH ----

struct SaslLineCase {
  std::string_view name;
  std::string_view line;
  std::string_view expected; // text, or "!error"
};

class ParseSaslLine : public testing::TestWithParam<SaslLineCase> {};

TEST_P(ParseSaslLine, AcceptsBase64AndCancel) {
  const HeapBytes bytes(GetParam().line);
  const auto r = parse_sasl_line(bytes.view());
  const std::string got =
      r.has_value() ? std::string(r.value()) : "!" + std::string(error_name(r.error()));
  EXPECT_EQ(got, GetParam().expected);
}

const auto kSaslLineCases = std::to_array<SaslLineCase>({
    {"Base64Response", "YWxpY2U=\r\n", "YWxpY2U="},
    {"EmptyResponse", "\r\n", ""},
    {"StarCancels", "*\r\n", "*"},
    {"NotBase64", "alice\r\n", "!bad_sasl_response"},
    {"BareLf", "YWxpY2U=\n", "!bare_lf"},
    {"Nul", "YW\0x\r\n"sv, "!nul_byte"},
});

INSTANTIATE_TEST_SUITE_P(Pop3, ParseSaslLine, testing::ValuesIn(kSaslLineCases),
                         case_name<ParseSaslLine::ParamType>);

} // namespace
} // namespace popgate::pop3
