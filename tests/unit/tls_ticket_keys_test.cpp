// Ticket keys on their own: the key file format, sealing and opening, rotation and expiry, with
// the clock as an argument.

#include "tls/ticket_keys.hpp"

#include <array>
#include <vector>

#include <gtest/gtest.h>

namespace popgate::tls {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kT0 = 1'800'000'000; // some unix time; only differences matter
constexpr std::chrono::seconds kLifetime = 3600s;
// Two fixed keys (base64 of 32 bytes each), so tests can build files that share a key.
constexpr std::string_view kKeyA = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
constexpr std::string_view kKeyB = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";

std::shared_ptr<TicketKeys> keys_from(std::string_view text) {
  auto keys = TicketKeys::from_file_text(text);
  if (!keys) {
    ADD_FAILURE() << keys.error();
    return nullptr;
  }
  return keys.value();
}

std::string lines(std::initializer_list<std::string_view> keys) {
  std::string text;
  for (std::string_view k : keys) {
    text.append(k).push_back('\n');
  }
  return text;
}

// A ticket sealed over `state` at `now`, copied out so it can be opened (in place) later.
std::vector<unsigned char> seal(TicketKeys& keys, std::string_view state, std::int64_t now) {
  std::vector<unsigned char> buffer(state.size() + TicketKeys::kOverhead + 7);
  std::copy(state.begin(), state.end(), buffer.begin() + TicketKeys::kStateOffset);
  auto length = keys.seal(buffer, state.size(), now, kLifetime);
  if (!length) {
    ADD_FAILURE() << describe(length.error());
    return {};
  }
  buffer.resize(length.value());
  return buffer;
}

// What open() gives for a copy of `ticket`: the state as text, or the error's description.
std::string open(TicketKeys& keys, std::vector<unsigned char> ticket, std::int64_t now) {
  auto state = keys.open(ticket, now, kLifetime);
  if (!state) {
    return std::string(describe(state.error()));
  }
  return {reinterpret_cast<const char*>(state->data()), state->size()};
}

const std::string kUnknown(describe(TicketError::UnknownKey));
const std::string kExpired(describe(TicketError::Expired));

struct FileCase {
  std::string_view name;
  std::string text;
  std::size_t keys;            // 0: an error is expected
  std::string_view error_part; // part of that error
};

class TicketKeyFile : public ::testing::TestWithParam<FileCase> {};

TEST_P(TicketKeyFile, LoadsOrNamesTheLine) {
  const FileCase& c = GetParam();
  auto keys = TicketKeys::from_file_text(c.text);
  if (c.keys == 0) {
    ASSERT_FALSE(keys);
    EXPECT_NE(keys.error().find(c.error_part), std::string::npos) << keys.error();
    // The message never quotes the key material.
    EXPECT_EQ(keys.error().find("QUFB"), std::string::npos) << keys.error();
    return;
  }
  ASSERT_TRUE(keys) << keys.error();
  EXPECT_EQ(keys.value()->size(), c.keys);
  EXPECT_TRUE(keys.value()->from_file());
}

INSTANTIATE_TEST_SUITE_P(
    Format, TicketKeyFile,
    ::testing::Values(
        FileCase{"OneKey", lines({kKeyA}), 1, ""},
        FileCase{"CommentsBlankLinesAndCrlfAreIgnored",
                 "# rotated 2026-12-01\r\n\r\n  " + std::string(kKeyA) + "  \r\n" +
                     std::string(kKeyB),
                 2, ""},
        FileCase{"EmptyFileHasNoKeys", "# nothing yet\n\n", 0, "no keys"},
        FileCase{"NotBase64NamesItsLine", lines({kKeyA, "not base64 at all!"}), 0, "line 2"},
        FileCase{"ShortKeyIsRefused", lines({"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ=="}), 0,
                 "32 random bytes"},
        FileCase{"LongKeyIsRefused", lines({"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"}), 0,
                 "line 1"},
        FileCase{"TooManyKeys",
                 [] {
                   std::string text;
                   for (std::size_t i = 0; i <= TicketKeys::kMaxKeys; ++i) {
                     text.append(kKeyA).push_back('\n');
                   }
                   return text;
                 }(),
                 0, "drop the oldest"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(TicketKeys, NewKeyLineIsAValidFileOfOneKey) {
  auto line = TicketKeys::new_key_line();
  ASSERT_TRUE(line) << line.error();
  EXPECT_EQ(line->size(), 44U); // base64 of 32 bytes
  auto other = TicketKeys::new_key_line();
  ASSERT_TRUE(other);
  EXPECT_NE(*line, *other);
  auto keys = keys_from(*line);
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->size(), 1U);
}

TEST(TicketKeys, ATicketOpensWhereverTheSameFileIsLoaded) {
  auto a = keys_from(lines({kKeyA}));
  auto b = keys_from(lines({kKeyA})); // another replica
  ASSERT_TRUE(a && b);
  const auto ticket = seal(*a, "session state", kT0);
  ASSERT_EQ(ticket.size(), 13 + TicketKeys::kOverhead);
  EXPECT_EQ(open(*b, ticket, kT0 + 10), "session state");
  // The state is encrypted, not just carried.
  const std::string_view raw(reinterpret_cast<const char*>(ticket.data()), ticket.size());
  EXPECT_EQ(raw.find("session state"), std::string_view::npos);
}

TEST(TicketKeys, AddingANewKeyKeepsOldTicketsAndSealsWithTheNewest) {
  auto before = keys_from(lines({kKeyA}));
  auto after = keys_from(lines({kKeyA, kKeyB}));
  auto only_b = keys_from(lines({kKeyB}));
  ASSERT_TRUE(before && after && only_b);
  const auto old_ticket = seal(*before, "old", kT0);
  EXPECT_EQ(open(*after, old_ticket, kT0 + 1), "old");
  const auto new_ticket = seal(*after, "new", kT0 + 2);
  EXPECT_EQ(open(*only_b, new_ticket, kT0 + 3), "new");
  // Once the oldest key is dropped, what it sealed no longer opens.
  EXPECT_EQ(open(*only_b, old_ticket, kT0 + 4), kUnknown);
}

TEST(TicketKeys, AnotherFleetsTicketDoesNotOpen) {
  auto a = keys_from(lines({kKeyA}));
  auto b = keys_from(lines({kKeyB}));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(open(*b, seal(*a, "x", kT0), kT0), kUnknown);
}

TEST(TicketKeys, EveryFlippedByteIsRefused) {
  auto keys = keys_from(lines({kKeyA}));
  ASSERT_TRUE(keys);
  const auto ticket = seal(*keys, "state", kT0);
  for (std::size_t i = 0; i < ticket.size(); ++i) {
    auto bad = ticket;
    bad[i] ^= 0x01U;
    // A flipped key name names no key; anything else fails the tag.
    const std::string want =
        i < TicketKeys::kNameBytes ? kUnknown : std::string(describe(TicketError::BadTag));
    EXPECT_EQ(open(*keys, bad, kT0), want) << "byte " << i;
  }
  EXPECT_EQ(open(*keys, std::vector<unsigned char>(TicketKeys::kOverhead - 1), kT0),
            describe(TicketError::Malformed));
}

TEST(TicketKeys, ExpiresAfterTheLifetimeAndRefusesTheFarFuture) {
  auto keys = keys_from(lines({kKeyA}));
  ASSERT_TRUE(keys);
  const auto ticket = seal(*keys, "s", kT0);
  EXPECT_EQ(open(*keys, ticket, kT0 + kLifetime.count()), "s");
  EXPECT_EQ(open(*keys, ticket, kT0 + kLifetime.count() + 1), kExpired);
  // Another replica's clock a little behind still opens it; far behind does not.
  EXPECT_EQ(open(*keys, ticket, kT0 - TicketKeys::kClockSkew.count()), "s");
  EXPECT_EQ(open(*keys, ticket, kT0 - TicketKeys::kClockSkew.count() - 1), kExpired);
}

TEST(TicketKeys, FileKeysNeverRotateOnTheirOwn) {
  auto keys = keys_from(lines({kKeyA}));
  auto same = keys_from(lines({kKeyA}));
  ASSERT_TRUE(keys && same);
  seal(*keys, "s", kT0);
  const auto later = seal(*keys, "later", kT0 + 10 * kLifetime.count());
  EXPECT_EQ(keys->size(), 1U);
  EXPECT_EQ(open(*same, later, kT0 + 10 * kLifetime.count()), "later");
}

TEST(TicketKeys, GeneratedKeysRotateEachLifetimeAndKeepThePreviousOne) {
  auto generated = TicketKeys::generate(kT0);
  ASSERT_TRUE(generated) << generated.error();
  TicketKeys& keys = *generated.value();
  EXPECT_FALSE(keys.from_file());
  const auto first = seal(keys, "first", kT0 + kLifetime.count() - 1);
  EXPECT_EQ(keys.size(), 1U);
  // A lifetime after the key was made, the next seal makes a new key...
  const auto second = seal(keys, "second", kT0 + kLifetime.count());
  EXPECT_EQ(keys.size(), 2U);
  EXPECT_NE(std::vector(first.begin(), first.begin() + TicketKeys::kNameBytes),
            std::vector(second.begin(), second.begin() + TicketKeys::kNameBytes));
  // ...and what the old one sealed still opens until it expires.
  EXPECT_EQ(open(keys, first, kT0 + kLifetime.count() + 5), "first");
  // After another rotation the first key is gone; the second still opens.
  seal(keys, "third", kT0 + 2 * kLifetime.count());
  EXPECT_EQ(keys.size(), 2U);
  EXPECT_EQ(open(keys, first, kT0 + 2 * kLifetime.count()), kUnknown);
  EXPECT_EQ(open(keys, second, kT0 + 2 * kLifetime.count()), "second");
}

TEST(TicketKeys, SealRefusesABufferWithoutRoomForTheTag) {
  auto keys = keys_from(lines({kKeyA}));
  ASSERT_TRUE(keys);
  std::vector<unsigned char> buffer(TicketKeys::kOverhead + 4);
  EXPECT_FALSE(keys->seal(buffer, 5, kT0, kLifetime));
  EXPECT_TRUE(keys->seal(buffer, 4, kT0, kLifetime));
}

} // namespace
} // namespace popgate::tls
