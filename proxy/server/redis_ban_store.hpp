#pragma once

// [policy.ban] redis: this process's client of the Redis server through which replicas share
// failed logins and bans (proxy/ban_store/protocol.hpp has the key layout, link.hpp the states).
//
// Where it runs: on the main loop, never on a worker. Sessions only consult the local copy
// (policy::SharedBans, the same mutex-guarded list every worker already shares) and queue their
// failures there; the queue wakes this store with a uv_async_t. Bans that arrive from Redis are
// written into that list, so every worker of the process refuses the address at its next
// connection. No session ever waits for Redis, and none is dropped because of it.
//
// Two connections: one for commands (failures, bans, loading the bans in force) and one that
// subscribes to the announcement channel. RESP2, which Debian 12's hiredis 0.14 speaks, allows
// a subscribed connection nothing but (un)subscribing.
//
// Failure: a connect error, an error reply, a lost connection, or a command without a reply
// for kReplyTimeout (a stopped or overloaded Redis; a PING every kPingInterval finds one that
// is idle) closes both connections, counts popgate_ban_store_errors_total and, the first time
// in an outage, logs one warning. The store is retried with backoff (ban_store::Link) and,
// once back, loads the bans in force, shares the bans this process made meanwhile, and logs
// the recovery. Failures seen while it is down are counted locally only.

#include "metrics/metrics.hpp"
#include "policy/shared_bans.hpp"
#include "proxy/ban_store/link.hpp"
#include "proxy/ban_store/protocol.hpp"
#include "proxy/config/config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <uv.h>
#include <vector>

struct redisAsyncContext;

namespace popgate::proxy {

class RedisBanStore {
public:
  static constexpr Millis kReplyTimeout{2000};
  static constexpr Millis kPingInterval{5000};
  // Commands waiting for a reply; past this the store is too slow to keep up and failures are
  // dropped (and counted) instead of queued in hiredis without bound.
  static constexpr std::size_t kMaxInFlight = 10'000;
  // Manual bans and unbans kept while the store is away, to share when it is back.
  static constexpr std::size_t kMaxManualWhileAway = 1'000;

  RedisBanStore(uv_loop_t* loop, policy::SharedBans& bans, metrics::Metrics& metrics);
  ~RedisBanStore();
  RedisBanStore(const RedisBanStore&) = delete;
  RedisBanStore& operator=(const RedisBanStore&) = delete;

  // At start and on reload: starts sharing, moves to another server or prefix, or (redis = "")
  // stops; with the same server and prefix only the ban settings change.
  void configure(const BanConfig& ban);
  // Closes the connections and every handle, so the main loop can end. Call once.
  void close();

  // Manual bans and unbans (`popgate ctl`): in force locally at once, with or without a store
  // configured, and shared when one is reachable. `duration` nullopt: until unban. unban() returns
  // how many bans it lifted here.
  void ban(const Cidr& block, std::optional<Millis> duration);
  std::size_t unban(const Cidr& block);

private:
  struct Pending;
  // Share: a ban or an unban sent to the store, whose reply says nothing more.
  enum class Reply : std::uint8_t { Ping, Failure, Share, Scan, ReadBan };

  [[nodiscard]] Millis now() const;
  void connect();
  void open_connections(const std::string& host);
  redisAsyncContext* open_one(const std::string& host);
  void subscribed();
  void scan(const std::string& cursor);
  void loaded();
  void flush();
  void send(const ban_store::Command& argv, Reply kind, const Cidr& block = {});
  void replied();
  void watch_deadline();
  void announced(std::string_view message);
  void apply(const ban_store::SharedBan& ban);
  void share_manual(ban_store::Command command);
  void fail(std::string_view what, std::string_view detail);
  void drop_connections();
  bool forget(const redisAsyncContext* ac);
  void stop_sharing();

  static void on_wake(uv_async_t* async);
  static void on_retry(uv_timer_t* timer);
  static void on_deadline(uv_timer_t* timer);
  static void on_ping(uv_timer_t* timer);
  static void on_resolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res);
  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_message(redisAsyncContext* ac, void* reply, void* privdata);
  void handle(const Pending& pending, const void* reply);

  uv_loop_t* loop_;
  policy::SharedBans& bans_;
  metrics::Metrics& metrics_;
  ban_store::Link link_;
  std::optional<RedisAddress> address_;
  std::string target_; // address_ as written, for log lines
  ban_store::Keys keys_{""};
  std::string prefix_;
  ban_store::BanSettings settings_;

  redisAsyncContext* commands_ = nullptr;
  redisAsyncContext* subscriber_ = nullptr;
  std::uint64_t generation_ = 0; // replies from connections closed since are ignored
  std::size_t in_flight_ = 0;
  bool scan_done_ = false;
  std::size_t loads_pending_ = 0;
  std::size_t loaded_ = 0;
  bool ever_ready_ = false;
  std::vector<ban_store::Command> manual_while_away_;

  uv_async_t wake_{};
  uv_timer_t retry_timer_{};
  uv_timer_t deadline_timer_{};
  uv_timer_t ping_timer_{};
  uv_getaddrinfo_t resolve_{};
  bool resolving_ = false;
  bool closed_ = false;
};

} // namespace popgate::proxy
