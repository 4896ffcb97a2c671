#include "policy/ban_list.hpp"

namespace popgate::policy {

bool BanList::banned(const Address& client, Millis now) const {
  auto it = entries_.find(client.bytes);
  return it != entries_.end() && now < it->second.banned_until;
}

bool BanList::record_failure(const Address& client, Millis now) {
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
  return n;
}

void BanList::ban(const Address& client, Millis now, Millis duration) {
  auto& e = entries_[client.bytes];
  e.failures.clear();
  e.banned_until = now + duration;
}

void BanList::unban(const Address& client) { entries_.erase(client.bytes); }

std::vector<BanList::ActiveBan> BanList::bans(Millis now) const {
  std::vector<ActiveBan> out;
  for (const auto& [bytes, e] : entries_) {
    if (now < e.banned_until) {
      out.push_back({Address{bytes}, e.banned_until - now});
    }
  }
  return out;
}

} // namespace popgate::policy
