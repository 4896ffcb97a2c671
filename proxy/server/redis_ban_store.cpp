#include "proxy/server/redis_ban_store.hpp"

#include "proxy/server/log.hpp"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <array>
#include <memory>
#include <netdb.h>
#include <vector>

namespace popgate::proxy {

using ban_store::Command;

// What a reply on the command connection answers; one per command, freed by its callback
// (hiredis calls every callback exactly once: with the reply, or with NULL when the connection
// goes away).
struct RedisBanStore::Pending {
  RedisBanStore* store;
  std::uint64_t generation;
  Reply kind;
  Cidr block; // Failure (one address), ReadBan
};

namespace {

template <typename T> uv_handle_t* as_handle(T* h) { return reinterpret_cast<uv_handle_t*>(h); }

std::uint64_t ms(Millis m) { return static_cast<std::uint64_t>(m.count()); }

std::string_view text_of(const redisReply* r) {
  return r != nullptr && r->str != nullptr ? std::string_view(r->str, r->len) : std::string_view();
}

} // namespace

RedisBanStore::RedisBanStore(uv_loop_t* loop, policy::SharedBans& bans, metrics::Metrics& metrics)
    : loop_(loop), bans_(bans), metrics_(metrics) {
  uv_async_init(loop_, &wake_, on_wake);
  uv_timer_init(loop_, &retry_timer_);
  uv_timer_init(loop_, &deadline_timer_);
  uv_timer_init(loop_, &ping_timer_);
  wake_.data = retry_timer_.data = deadline_timer_.data = ping_timer_.data = resolve_.data = this;
}

RedisBanStore::~RedisBanStore() = default;

Millis RedisBanStore::now() const {
  uv_update_time(loop_);
  return Millis(uv_now(loop_)); // the clock sessions use too: libuv's monotonic loop time
}

void RedisBanStore::configure(const BanConfig& ban) {
  settings_ = {ban.failures, ban.window, ban.duration};
  std::string target = ban.redis ? ban.redis->to_string() : "";
  if (target == target_ && ban.redis_prefix == prefix_) {
    return;
  }
  stop_sharing();
  target_ = target;
  prefix_ = ban.redis_prefix;
  keys_ = ban_store::Keys(prefix_);
  address_ = ban.redis;
  if (!address_) {
    return;
  }
  log::info("ban_store", "sharing failed logins and bans through Redis",
            {log::field("store", target_), log::field("prefix", prefix_)});
  bans_.share([this] { uv_async_send(&wake_); });
  if (link_.start().connect) {
    connect();
  }
}

void RedisBanStore::stop_sharing() {
  if (address_) {
    log::info("ban_store", "no longer sharing bans", {log::field("store", target_)});
  }
  bans_.share({});
  manual_while_away_.clear();
  link_.stop();
  drop_connections();
  uv_timer_stop(&retry_timer_);
  address_.reset();
}

void RedisBanStore::close() {
  stop_sharing();
  closed_ = true;
  if (resolving_) {
    uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_));
  }
  for (auto* h : {as_handle(&wake_), as_handle(&retry_timer_), as_handle(&deadline_timer_),
                  as_handle(&ping_timer_)}) {
    uv_close(h, nullptr);
  }
}

// ---- connecting -----------------------------------------------------------------------------

void RedisBanStore::connect() {
  // The whole attempt (resolve, connect, subscribe, load) must finish within the deadline.
  watch_deadline();
  if (!address_->unix_path.empty()) {
    open_connections("");
    return;
  }
  if (resolving_) {
    return; // the resolve under way opens the connections
  }
  // Names are resolved on libuv's thread pool: a slow DNS server must not hold up the main loop,
  // which also answers /healthz and signals.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc =
          uv_getaddrinfo(loop_, &resolve_, on_resolved, address_->host.c_str(), nullptr, &hints);
      rc != 0) {
    fail("cannot resolve the Redis host", uv_strerror(rc));
    return;
  }
  resolving_ = true;
}

void RedisBanStore::on_resolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res) {
  auto* self = static_cast<RedisBanStore*>(req->data);
  self->resolving_ = false;
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owned(res, uv_freeaddrinfo);
  if (self->closed_ || self->link_.state() != ban_store::Link::State::Connecting) {
    return; // stopped, or failed by the deadline meanwhile: the next attempt resolves again
  }
  if (status != 0 || res == nullptr) {
    self->fail("cannot resolve the Redis host", uv_strerror(status));
    return;
  }
  std::array<char, INET6_ADDRSTRLEN> text{};
  const void* addr = res->ai_family == AF_INET6
                         ? static_cast<const void*>(
                               &reinterpret_cast<const sockaddr_in6*>(res->ai_addr)->sin6_addr)
                         : &reinterpret_cast<const sockaddr_in*>(res->ai_addr)->sin_addr;
  inet_ntop(res->ai_family, addr, text.data(), text.size());
  self->open_connections(text.data());
}

void RedisBanStore::open_connections(const std::string& host) {
  commands_ = open_one(host);
  if (commands_ == nullptr) {
    return;
  }
  subscriber_ = open_one(host);
  if (subscriber_ == nullptr) {
    return;
  }
  // hiredis queues commands until the connection is up. The subscription's confirmation means
  // the subscriber is connected; from then on no announcement is missed, so the bans in force
  // are loaded next.
  Command argv = ban_store::subscribe(keys_);
  std::array<const char*, 2> args{argv[0].c_str(), argv[1].c_str()};
  std::array<std::size_t, 2> lengths{argv[0].size(), argv[1].size()};
  redisAsyncCommandArgv(subscriber_, on_message, this, 2, args.data(), lengths.data());
  send(ban_store::ping(), Reply::Ping);
}

redisAsyncContext* RedisBanStore::open_one(const std::string& host) {
  redisAsyncContext* ac = address_->unix_path.empty()
                              ? redisAsyncConnect(host.c_str(), address_->port)
                              : redisAsyncConnectUnix(address_->unix_path.c_str());
  if (ac == nullptr || ac->err != 0) {
    std::string why = ac != nullptr ? ac->errstr : "out of memory";
    if (ac != nullptr) {
      redisAsyncFree(ac);
    }
    fail("cannot connect", why);
    return nullptr;
  }
  ac->data = this;
  if (redisLibuvAttach(ac, loop_) != REDIS_OK) {
    redisAsyncFree(ac);
    fail("cannot connect", "cannot watch the socket");
    return nullptr;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  return ac;
}

void RedisBanStore::on_connect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisBanStore*>(ac->data);
  if (status != REDIS_OK && self->forget(ac)) {
    self->fail("cannot connect", ac->errstr);
  }
}

void RedisBanStore::on_disconnect(const redisAsyncContext* ac, int /*status*/) {
  auto* self = static_cast<RedisBanStore*>(ac->data);
  if (self->forget(ac)) {
    self->fail("connection lost", ac->errstr);
  }
}

// hiredis frees a context after its failed-connect or disconnect callback: it must not be freed
// again. False when it was not in use any more (dropped already).
bool RedisBanStore::forget(const redisAsyncContext* ac) {
  for (redisAsyncContext** mine : {&commands_, &subscriber_}) {
    if (*mine == ac) {
      *mine = nullptr;
      return true;
    }
  }
  return false;
}

void RedisBanStore::drop_connections() {
  ++generation_;
  in_flight_ = 0;
  scan_done_ = false;
  loads_pending_ = 0;
  loaded_ = 0;
  uv_timer_stop(&deadline_timer_);
  uv_timer_stop(&ping_timer_);
  // Cleared first: freeing runs the disconnect callback, which must not see them as ours.
  for (redisAsyncContext* ac :
       {std::exchange(commands_, nullptr), std::exchange(subscriber_, nullptr)}) {
    if (ac != nullptr) {
      redisAsyncFree(ac);
    }
  }
}

void RedisBanStore::fail(std::string_view what, std::string_view detail) {
  using State = ban_store::Link::State;
  if (link_.state() == State::Off || link_.state() == State::Down) {
    return; // the outage is known already; this is the other connection's view of it
  }
  metrics_.ban_store_errors().Increment();
  drop_connections();
  auto step = link_.failed();
  if (step.log_outage) {
    log::warn("ban_store", "shared ban store unavailable; banning in this process until it is back",
              {log::field("store", target_),
               log::field("error", std::string(what) + ": " + std::string(detail))});
  }
  if (step.retry_in > Millis{0}) {
    uv_timer_start(&retry_timer_, on_retry, ms(step.retry_in), 0);
  }
}

void RedisBanStore::on_retry(uv_timer_t* timer) {
  auto* self = static_cast<RedisBanStore*>(timer->data);
  if (self->link_.retry().connect) {
    self->connect();
  }
}

// ---- loading the bans in force ---------------------------------------------------------------

void RedisBanStore::on_message(redisAsyncContext* ac, void* reply, void* /*privdata*/) {
  auto* self = static_cast<RedisBanStore*>(ac->data);
  const auto* r = static_cast<const redisReply*>(reply);
  if (r == nullptr || ac != self->subscriber_) {
    return; // the connection is going away; its disconnect callback reports why
  }
  if (r->type == REDIS_REPLY_ERROR) {
    self->fail("subscribe refused", text_of(r));
    return;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) {
    return;
  }
  std::string_view kind = text_of(r->element[0]);
  if (kind == "subscribe") {
    self->subscribed();
  } else if (kind == "message") {
    self->announced(text_of(r->element[2]));
  }
}

void RedisBanStore::subscribed() {
  link_.connected();
  scan("0");
}

void RedisBanStore::scan(const std::string& cursor) {
  send(ban_store::scan_bans(keys_, cursor), Reply::Scan);
}

void RedisBanStore::loaded() {
  if (!scan_done_ || loads_pending_ > 0 || link_.state() != ban_store::Link::State::Syncing) {
    return;
  }
  // Automatic bans this process made while the store was away (or before it was configured) are
  // shared now; those the store has already are left as they are. Then the administrator's bans
  // and unbans made meanwhile, in the order given: an unban lifts what the load just brought back.
  Millis t = now();
  for (const auto& b : bans_.list(t)) {
    if (!b.manual && b.until) {
      send(ban_store::share_ban(keys_, {ban_store::BanOrigin::Failures, b.block, *b.until - t}),
           Reply::Share);
    }
  }
  for (const auto& command : manual_while_away_) {
    send(command, Reply::Share);
  }
  manual_while_away_.clear();
  auto step = link_.synced();
  if (step.log_recovery) {
    log::info("ban_store", "shared ban store back; failures and bans are shared again",
              {log::field("store", target_),
               log::number("bans_loaded", static_cast<long long>(loaded_))});
  } else if (!ever_ready_) {
    log::info("ban_store", "connected to the shared ban store",
              {log::field("store", target_),
               log::number("bans_loaded", static_cast<long long>(loaded_))});
  }
  ever_ready_ = true;
  uv_timer_start(&ping_timer_, on_ping, ms(kPingInterval), ms(kPingInterval));
  watch_deadline();
  flush();
}

void RedisBanStore::announced(std::string_view message) {
  auto a = ban_store::parse_message(message);
  if (!a) {
    log::debug("ban_store", "ignoring a malformed announcement",
               {log::field("message", message)}); // the logger escapes and cuts it
    return;
  }
  if (a->kind == ban_store::Announcement::Kind::Ban) {
    apply(a->ban);
    log::debug(
        "ban_store", "ban announced",
        {log::field("client", a->ban.block.to_string()),
         log::field("ban", a->ban.duration ? std::to_string(a->ban.duration->count() / 1000) + "s"
                                           : "until unban")});
  } else {
    std::size_t lifted = 0;
    metrics_.bans_active().Set(static_cast<double>(bans_.unban_block(a->ban.block, now(), lifted)));
    log::info("ban_store", "ban lifted", {log::field("client", a->ban.block.to_string())});
  }
}

// A ban from the store (announced or loaded) or this process's own, into the local copy every
// worker consults.
void RedisBanStore::apply(const ban_store::SharedBan& ban) {
  Millis t = now();
  std::size_t active = 0;
  if (ban.origin == ban_store::BanOrigin::Failures) {
    bans_.ban(ban.block.base, t, ban.duration.value_or(settings_.duration), active);
  } else {
    std::optional<Millis> until;
    if (ban.duration) {
      until = t + *ban.duration;
    }
    active = bans_.ban_block(ban.block, until, t);
  }
  metrics_.bans_active().Set(static_cast<double>(active));
}

// ---- commands --------------------------------------------------------------------------------

void RedisBanStore::on_wake(uv_async_t* async) {
  static_cast<RedisBanStore*>(async->data)->flush();
}

void RedisBanStore::flush() {
  if (link_.state() == ban_store::Link::State::Syncing) {
    return; // the connection is up: kept in the queue until the store's bans are loaded
  }
  std::size_t dropped = 0;
  auto failures = bans_.take_failures(dropped);
  if (dropped > 0) {
    metrics_.ban_store_errors().Increment(static_cast<double>(dropped));
  }
  if (!link_.ready()) {
    // Down, or trying again: these stay local (they counted in this process already). Sent
    // later they would count in a window they were not part of.
    return;
  }
  for (const auto& f : failures) {
    if (f.began_ban) {
      send(ban_store::share_ban(
               keys_, {ban_store::BanOrigin::Failures, Cidr{f.client}, settings_.duration}),
           Reply::Share);
    } else {
      send(ban_store::count_failure(keys_, f.client, settings_), Reply::Failure, Cidr{f.client});
    }
  }
}

void RedisBanStore::ban(const Cidr& block, std::optional<Millis> duration) {
  ban_store::SharedBan ban{ban_store::BanOrigin::Manual, block, duration};
  apply(ban);
  share_manual(ban_store::share_ban(keys_, ban));
}

// Sent now, or once the store is back (loaded()). A queued timed ban keeps its full duration,
// so on the other replicas it ends as much later as the outage lasted.
void RedisBanStore::share_manual(Command command) {
  if (link_.ready()) {
    send(command, Reply::Share);
  } else if (address_ && manual_while_away_.size() < kMaxManualWhileAway) {
    manual_while_away_.push_back(std::move(command));
  }
}

// The store has a key per ban: lifting a block lifts its own key and those of the addresses
// inside it that are banned, as the local copy (which mirrors the store) knows them.
std::size_t RedisBanStore::unban(const Cidr& block) {
  Millis t = now();
  std::vector<Cidr> lift{block};
  for (const auto& b : bans_.list(t)) {
    if (!b.manual && block.contains(b.block.base) && !(b.block == block)) {
      lift.push_back(b.block);
    }
  }
  std::size_t lifted = 0;
  metrics_.bans_active().Set(static_cast<double>(bans_.unban_block(block, t, lifted)));
  for (const auto& b : lift) {
    share_manual(ban_store::lift_ban(keys_, b));
  }
  return lifted;
}

void RedisBanStore::send(const Command& argv, Reply kind, const Cidr& block) {
  if (commands_ == nullptr) {
    return;
  }
  if (in_flight_ >= kMaxInFlight) {
    metrics_.ban_store_errors().Increment();
    return;
  }
  std::vector<const char*> args;
  std::vector<std::size_t> lengths;
  for (const auto& a : argv) {
    args.push_back(a.c_str());
    lengths.push_back(a.size());
  }
  auto* pending = new Pending{this, generation_, kind, block};
  if (redisAsyncCommandArgv(commands_, on_reply, pending, static_cast<int>(args.size()),
                            args.data(), lengths.data()) != REDIS_OK) {
    delete pending;
    fail("cannot send a command", commands_ != nullptr ? commands_->errstr : "");
    return;
  }
  if (in_flight_++ == 0) {
    watch_deadline();
  }
}

void RedisBanStore::on_reply(redisAsyncContext* /*ac*/, void* reply, void* privdata) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(privdata));
  RedisBanStore* self = pending->store;
  if (reply == nullptr || pending->generation != self->generation_) {
    return; // the connection is going away; its disconnect callback reports why
  }
  self->replied();
  self->handle(*pending, reply);
}

void RedisBanStore::replied() {
  --in_flight_;
  watch_deadline();
}

// Runs while a reply is due: a connection attempt that is not ready yet, or commands in flight.
void RedisBanStore::watch_deadline() {
  if (link_.ready() && in_flight_ == 0) {
    uv_timer_stop(&deadline_timer_);
    return;
  }
  uv_timer_start(&deadline_timer_, on_deadline, ms(kReplyTimeout), 0);
}

void RedisBanStore::on_deadline(uv_timer_t* timer) {
  auto* self = static_cast<RedisBanStore*>(timer->data);
  self->fail("no reply", "within " + std::to_string(kReplyTimeout.count()) + " ms");
}

void RedisBanStore::on_ping(uv_timer_t* timer) {
  auto* self = static_cast<RedisBanStore*>(timer->data);
  self->send(ban_store::ping(), Reply::Ping);
}

void RedisBanStore::handle(const Pending& pending, const void* reply) {
  const auto* r = static_cast<const redisReply*>(reply);
  if (r->type == REDIS_REPLY_ERROR) {
    fail("error reply", text_of(r));
    return;
  }
  switch (pending.kind) {
  case Reply::Ping:
  case Reply::Share:
    return;
  case Reply::Failure:
    if (r->type == REDIS_REPLY_INTEGER && r->integer == ban_store::kBanBegan) {
      // This failure completed the count across replicas; the announcement bans it everywhere.
      std::size_t active = 0;
      bans_.ban(pending.block.base, now(), settings_.duration, active);
      metrics_.bans_total().Increment();
      metrics_.bans_active().Set(static_cast<double>(active));
      log::warn("ban",
                "client address banned after repeated authentication failures across replicas",
                {log::field("client", pending.block.to_string()),
                 log::number("ban_s", static_cast<long long>(settings_.duration.count() / 1000)),
                 log::field("store", target_)});
    }
    return;
  case Reply::Scan:
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
      fail("unexpected SCAN reply", "");
      return;
    }
    for (std::size_t i = 0; i < r->element[1]->elements; ++i) {
      std::string_view key = text_of(r->element[1]->element[i]);
      if (auto block = keys_.banned_block(key)) {
        ++loads_pending_;
        send(ban_store::read_ban(key), Reply::ReadBan, *block);
      }
    }
    if (std::string cursor(text_of(r->element[0])); cursor != "0") {
      scan(cursor);
    } else {
      scan_done_ = true;
      loaded();
    }
    return;
  case Reply::ReadBan:
    --loads_pending_;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_INTEGER) {
      if (auto ban = ban_store::stored_ban(pending.block, text_of(r->element[0]),
                                           r->element[1]->integer)) {
        apply(*ban);
        ++loaded_;
      }
    }
    loaded();
    return;
  }
}

} // namespace popgate::proxy
