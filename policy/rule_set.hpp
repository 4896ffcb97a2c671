#pragma once

// [[policy.rule]]: ordered rules over one command of one session. The first rule whose every
// non-empty condition matches decides; no match allows (SPEC section 3). A dry-run rule is
// reported as matching but must not be enforced: the caller logs and counts it, then goes on
// as if it had allowed, so an admin can watch a new rule before switching it on.

#include "base/address.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace popgate::policy {

enum class Action { Allow, Deny, Close, Route };

struct Rule {
  std::string name;
  std::vector<std::string> commands; // upper-case verbs; empty = any
  std::vector<std::string> users;    // globs on the claimed user; empty = any
  std::vector<Cidr> clients;         // empty = any
  std::vector<std::string> listeners;
  std::optional<bool> tls; // unset = either
  Action action = Action::Allow;
  std::string backend; // Route only
  std::string reply;   // Deny/Close: the -ERR line to send (without CRLF); empty = default
  bool dry_run = false;
};

// What a rule looks at. Views must outlive the decide() call only.
struct Subject {
  std::string_view command; // upper-case verb, "OTHER" for unknown ones
  std::string_view user;    // claimed user, "" before USER/APOP/AUTH
  Address client;
  std::string_view listener;
  bool tls = false;
};

struct Decision {
  static constexpr std::size_t kNoRule = static_cast<std::size_t>(-1);
  std::size_t rule = kNoRule; // index of the matching rule
  Action action = Action::Allow;
  bool dry_run = false;

  [[nodiscard]] bool matched() const { return rule != kNoRule; }
  // What the caller should do: a dry-run match is enforced as Allow.
  [[nodiscard]] Action enforced() const { return dry_run ? Action::Allow : action; }
};

class RuleSet {
public:
  RuleSet() = default;
  explicit RuleSet(std::vector<Rule> rules) : rules_(std::move(rules)) {}

  [[nodiscard]] Decision decide(const Subject& subject) const;
  [[nodiscard]] const Rule& rule(std::size_t index) const { return rules_[index]; }
  [[nodiscard]] bool empty() const { return rules_.empty(); }

  // The default reply of a Deny/Close rule without one (RFC 3206 §5: a permanent refusal).
  static constexpr std::string_view kDefaultReply = "-ERR [SYS/PERM] Command refused by policy";

private:
  static bool matches(const Rule& rule, const Subject& subject);
  std::vector<Rule> rules_;
};

std::string_view to_string(Action action);

} // namespace popgate::policy
