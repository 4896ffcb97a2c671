#include "policy/ban_list.hpp"

#include <algorithm>

namespace popgate::policy {

bool BanList::banned(const Address& client, Millis now) const {
  auto it = entries_.find(client.bytes);
  if (it != entries_.end() && now < it->second.banned_until) {
    return true;
  }
  return std::any_of(manual_.begin(), manual_.end(), [&](const ManualBan& b) {
    return in_force(b, now) && b.block.contains(client);
  });
}

bool BanList::exempt(const Address& client) const {
  return std::any_of(settings_.exempt.begin(), settings_.exempt.end(),
                     [&](const Cidr& c) { return c.contains(client); });
}

bool BanList::record_failure(const Address& client, Millis now) {
  if (exempt(client)) {
    return false;
  }
  auto& e = entries_[client.bytes];
  if (now < e.banned_until) {
    return false; // already banned; the ban is not extended by failures during it
  }
  while (!e.failures.empty() && now - e.failures.front() >= settings_.window) {
    e.failures.pop_front();
  }
  e.failures.push_back(now);
  if (e.failures.size() < settings_.failures) {
    return false;
  }
  e.failures.clear();
  e.banned_until = now + settings_.duration;
  return true;
}

void BanList::ban(const Cidr& block, std::optional<Millis> until) {
  for (auto& b : manual_) {
    if (b.block == block) {
      b.until = until;
      return;
    }
  }
  manual_.push_back({block, until});
}

std::size_t BanList::unban(const Cidr& block, Millis now) {
  std::size_t lifted = 0;
  auto manual_end = std::remove_if(manual_.begin(), manual_.end(), [&](const ManualBan& b) {
    bool match = b.block == block;
    lifted += match && in_force(b, now) ? 1 : 0;
    return match;
  });
  manual_.erase(manual_end, manual_.end());
  for (auto it = entries_.begin(); it != entries_.end();) {
    Address a;
    a.bytes = it->first;
    if (block.contains(a)) {
      lifted += now < it->second.banned_until ? 1 : 0;
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return lifted;
}

std::size_t BanList::active(Millis now) {
  std::size_t n = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto& e = it->second;
    while (!e.failures.empty() && now - e.failures.front() >= settings_.window) {
      e.failures.pop_front();
    }
    bool is_banned = now < e.banned_until;
    n += is_banned ? 1 : 0;
    if (!is_banned && e.failures.empty()) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  auto expired = std::remove_if(manual_.begin(), manual_.end(),
                                [&](const ManualBan& b) { return !in_force(b, now); });
  manual_.erase(expired, manual_.end());
  return n + manual_.size();
}

std::vector<BanEntry> BanList::list(Millis now) const {
  std::vector<BanEntry> out;
  for (const auto& b : manual_) {
    if (in_force(b, now)) {
      out.push_back({b.block, true, b.until});
    }
  }
  for (const auto& [bytes, e] : entries_) {
    if (now < e.banned_until) {
      Address a;
      a.bytes = bytes;
      out.push_back({Cidr{a, 128}, false, e.banned_until});
    }
  }
  return out;
}

void BanList::ban(const Address& client, Millis now, Millis duration) {
  auto& e = entries_[client.bytes];
  e.failures.clear();
  e.banned_until = now + duration;
}

} // namespace popgate::policy
