#include "policy/rule_set.hpp"

#include "policy/glob.hpp"

#include <algorithm>

namespace popgate::policy {

bool RuleSet::matches(const Rule& rule, const Subject& s) {
  if (!rule.commands.empty() &&
      std::find(rule.commands.begin(), rule.commands.end(), s.command) == rule.commands.end()) {
    return false;
  }
  if (!rule.users.empty() && std::none_of(rule.users.begin(), rule.users.end(),
                                          [&](const auto& g) { return glob_match(g, s.user); })) {
    return false;
  }
  if (!rule.clients.empty() && std::none_of(rule.clients.begin(), rule.clients.end(),
                                            [&](const Cidr& c) { return c.contains(s.client); })) {
    return false;
  }
  if (!rule.listeners.empty() &&
      std::find(rule.listeners.begin(), rule.listeners.end(), s.listener) == rule.listeners.end()) {
    return false;
  }
  return !rule.tls || *rule.tls == s.tls;
}

Decision RuleSet::decide(const Subject& subject) const {
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    if (matches(rules_[i], subject)) {
      return Decision{i, rules_[i].action, rules_[i].dry_run};
    }
  }
  return {};
}

std::string_view to_string(Action action) {
  switch (action) {
  case Action::Allow:
    return "allow";
  case Action::Deny:
    return "deny";
  case Action::Close:
    return "close";
  case Action::Route:
    return "route";
  }
  return "allow";
}

} // namespace popgate::policy
