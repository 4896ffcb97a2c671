#include "proxy/server/admin_commands.hpp"

#include "proxy/server/log.hpp"
#include "proxy/server/session.hpp"
#include "proxy/server/version.hpp"

#include <array>
#include <ctime>
#include <map>

namespace popgate::proxy {
namespace {

using admin::Reply;
using admin::Request;
using admin::SessionRow;
using admin::Verb;

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

Reply ok(std::string message) {
  Reply r;
  r.message = std::move(message);
  return r;
}

// As the config writes durations: the largest unit that divides it ("12h", "90s").
std::string duration_text(Millis d) {
  static constexpr std::array<std::pair<std::int64_t, const char*>, 4> kUnits = {
      {{86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}}};
  for (const auto& [ms, unit] : kUnits) {
    if (d.count() % ms == 0) {
      return std::to_string(d.count() / ms) + unit;
    }
  }
  return std::to_string(d.count()) + "ms";
}

// Whether an administrator's kick names this session.
bool kick_matches(const Request& r, const Session& s) {
  switch (r.verb) {
  case Verb::KickSession:
    return s.id() == r.session;
  case Verb::KickUser:
    return s.record().user == r.name;
  case Verb::KickClient: {
    // The client text is "host:port" (IPv6 in brackets), as Endpoint writes it.
    auto client = Endpoint::parse(s.record().client);
    auto address = client ? Address::parse(client->host) : std::nullopt;
    return address && r.block->contains(*address);
  }
  default:
    return false;
  }
}

// "session q7hx2kcm-42", "of user alice", "of client 192.0.2.0/24": what a kick named.
std::string kick_target(const Request& r) {
  switch (r.verb) {
  case Verb::KickSession:
    return r.session;
  case Verb::KickUser:
    return "of user " + r.name;
  default:
    return "of client " + r.block->to_string();
  }
}

} // namespace

void GatewayStatus::reloaded(bool ok, std::string result) {
  last_reload = utc_now();
  last_reload_result = std::move(result);
  generation += ok ? 1 : 0;
}

AdminCommands::AdminCommands(Parts parts)
    : parts_(parts),
      server_(parts.loop, [this](std::string_view line, const AdminServer::Reply& reply) {
        handle(line, reply);
      }) {}

Result<void, std::string> AdminCommands::listen(const AdminConfig& config) {
  inbox_.open(parts_.loop);
  return server_.listen(config);
}

void AdminCommands::close() {
  server_.close();
  inbox_.close();
}

// The same clock the worker loops give the ban list (uv_now is uv_hrtime in milliseconds).
Millis AdminCommands::now() const { return Millis(uv_hrtime() / 1'000'000); }

void AdminCommands::handle(std::string_view line, const AdminServer::Reply& reply) {
  auto parsed = admin::parse_request(line);
  if (!parsed) {
    parts_.metrics->admin_command("invalid").Increment();
    // The format asked for may be the part that failed to parse: a leading "json" says.
    bool json = line.substr(0, 5) == "json " || line == "json";
    reply(admin::render(admin::error_reply(parsed.error()), json));
    return;
  }
  const Request& request = parsed.value();
  parts_.metrics->admin_command(admin::verb_name(request.verb)).Increment();
  run(request, [request, reply](const Reply& r) {
    if (admin::changes_state(request.verb)) {
      (r.ok ? log::info : log::warn)(
          "admin", r.ok ? "admin command done" : "admin command failed",
          {log::field("command", admin::verb_name(request.verb)), log::field("result", r.message)});
    }
    reply(admin::render(r, request.json));
  });
}

void AdminCommands::run(const Request& request, const Done& done) {
  switch (request.verb) {
  case Verb::Help: {
    Reply r = ok("commands");
    std::string_view usage = admin::usage();
    for (std::size_t start = 0; start < usage.size();) {
      auto end = usage.find('\n', start);
      r.lines.emplace_back(usage.substr(start, end - start));
      start = end + 1;
    }
    done(std::move(r));
    return;
  }
  case Verb::ShowInfo:
    done(show_info());
    return;
  case Verb::ShowBans:
    done(show_bans());
    return;
  case Verb::Ban:
    done(ban(request));
    return;
  case Verb::Unban:
    done(unban(request));
    return;
  case Verb::DisableServer:
  case Verb::EnableServer:
    done(switch_server(request));
    return;
  case Verb::ShowSessions:
    gather(
        [](SessionContext& context) {
          std::vector<SessionRow> rows;
          for (SessionLink* s = context.head; s != nullptr; s = s->next) {
            rows.push_back(static_cast<Session*>(s)->snapshot());
          }
          return rows;
        },
        [done](std::vector<SessionRow> rows) {
          std::sort(rows.begin(), rows.end(),
                    [](const SessionRow& a, const SessionRow& b) { return a.id < b.id; });
          done(admin::sessions_reply(rows));
        });
    return;
  case Verb::ShowServers:
    show_servers(done);
    return;
  case Verb::KickSession:
  case Verb::KickUser:
  case Verb::KickClient:
    kick(request, done);
    return;
  }
}

Reply AdminCommands::show_info() const {
  const GatewayStatus& s = *parts_.status;
  admin::InfoRow info;
  info.version = kVersion;
  info.uptime_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - s.started)
          .count();
  info.config_file = s.config_path;
  info.generation = s.generation;
  info.last_reload = s.last_reload;
  info.last_reload_result = s.last_reload_result;
  info.workers = static_cast<std::int64_t>(parts_.workers->size());
  return admin::info_reply(info);
}

Reply AdminCommands::show_bans() const {
  Millis t = now();
  std::vector<admin::BanRow> rows;
  for (const auto& b : parts_.bans->list(t)) {
    admin::BanRow row;
    row.block = b.block.to_string();
    row.manual = b.manual;
    if (b.until) {
      row.expires_in_s = std::chrono::duration_cast<std::chrono::seconds>(*b.until - t).count();
    }
    rows.push_back(std::move(row));
  }
  return admin::bans_reply(rows);
}

// The ban applies to new connections at once (admission asks SharedBans). Sessions already open
// from the address go on: `kick client` ends them.
Reply AdminCommands::ban(const Request& request) const {
  store().ban(*request.block, request.duration); // sets popgate_bans_active itself
  parts_.metrics->bans_total().Increment();
  std::string text =
      request.block->to_string() + " banned " +
      (request.duration ? "for " + duration_text(*request.duration) : std::string("until unban"));
  if (parts_.bans->exempt(request.block->base)) {
    text += " (it is in [policy.ban] exempt, which spares it automatic bans only)";
  }
  return ok(text);
}

// Every manual ban and unban goes through the ban store: it acts on this process's list at once
// and, with [policy.ban] redis, shares it, so all replicas refuse (or admit again) the address or
// block. The store exists from the main loop's start, before any admin command can arrive.
RedisBanStore& AdminCommands::store() const { return **parts_.ban_store; }

Reply AdminCommands::unban(const Request& request) const {
  std::size_t lifted = store().unban(*request.block); // sets popgate_bans_active itself
  if (lifted == 0) {
    return admin::error_reply("no ban of " + request.block->to_string() +
                              " (a manual ban is lifted by the block it was placed on)");
  }
  return ok(request.block->to_string() + ": " + std::to_string(lifted) +
            (lifted == 1 ? " ban" : " bans") + " lifted");
}

Reply AdminCommands::switch_server(const Request& request) const {
  const Config& config = *(*parts_.runtime)->config;
  const BackendConfig* backend = config.find_backend(request.name);
  if (backend == nullptr) {
    return admin::error_reply("no backend '" + request.name + "'; `show servers` lists them");
  }
  auto wanted = Endpoint::parse(request.server);
  std::string server;
  for (const auto& s : backend->servers) {
    if (wanted && s.to_string() == wanted->to_string()) {
      server = s.to_string();
    }
  }
  if (server.empty()) {
    return admin::error_reply("backend " + backend->name + " has no server '" + request.server +
                              "'; write it as in its servers list");
  }
  bool disable = request.verb == Verb::DisableServer;
  parts_.servers->set_disabled(backend->name, server, disable);
  return ok(
      backend->name + " " + server +
      (disable ? " disabled: new sessions use the other servers, open ones finish" : " enabled"));
}

// Health as the checks and the sessions' connects found it (server_health.hpp), in config
// order; open sessions counted from every worker's list.
void AdminCommands::show_servers(const Done& done) {
  auto* servers = parts_.servers;
  auto health = parts_.health->snapshot();
  gather(
      [](SessionContext& context) {
        std::vector<SessionRow> rows;
        for (SessionLink* s = context.head; s != nullptr; s = s->next) {
          auto* session = static_cast<Session*>(s);
          if (!session->ended()) {
            rows.push_back(session->snapshot());
          }
        }
        return rows;
      },
      [servers, health = std::move(health), done](const std::vector<SessionRow>& sessions) {
        std::map<std::pair<std::string, std::string>, std::int64_t> open;
        for (const auto& s : sessions) {
          ++open[{s.backend, s.server}];
        }
        auto now = std::chrono::system_clock::now();
        std::vector<admin::ServerRow> rows;
        for (const auto& h : health) {
          admin::ServerRow row;
          row.backend = h.backend;
          row.server = h.server;
          if (h.state != ServerState::Unknown) {
            row.up = h.state == ServerState::Up;
            // The last check if checks run, else the last change a session's connect saw.
            auto seen = h.last_check ? h.last_check->at : h.changed_at;
            row.checked_s_ago =
                std::chrono::duration_cast<std::chrono::seconds>(now - seen).count();
          }
          row.disabled = servers->is_disabled(h.backend, h.server);
          row.sessions = open[{h.backend, h.server}];
          rows.push_back(std::move(row));
        }
        done(admin::servers_reply(rows));
      });
}

void AdminCommands::kick(const Request& request, const Done& done) {
  gather(
      [request](SessionContext& context) {
        std::vector<SessionRow> kicked;
        for (SessionLink* s = context.head; s != nullptr;) {
          SessionLink* next = s->next; // a kick may unlink the session
          auto* session = static_cast<Session*>(s);
          if (!session->ended() && kick_matches(request, *session)) {
            kicked.push_back(session->snapshot());
            session->kick();
          }
          s = next;
        }
        return kicked;
      },
      [request, done](const std::vector<SessionRow>& kicked) {
        if (kicked.empty()) {
          done(admin::error_reply("no open session " + kick_target(request)));
          return;
        }
        Reply r = admin::sessions_reply(kicked);
        r.message = "kicked " + r.message + " " + kick_target(request);
        done(std::move(r));
      });
}

void AdminCommands::gather(const std::function<std::vector<SessionRow>(SessionContext&)>& visit,
                           std::function<void(std::vector<SessionRow>)> done) {
  struct State {
    std::vector<SessionRow> rows;
    std::size_t pending = 0;
    std::function<void(std::vector<SessionRow>)> done;
  };
  auto state = std::make_shared<State>();
  state->done = std::move(done);
  state->pending = parts_.workers->size() + 1; // +1 until every worker has been asked
  auto arrived = [state](std::vector<SessionRow> rows) {
    std::move(rows.begin(), rows.end(), std::back_inserter(state->rows));
    if (--state->pending == 0) {
      state->done(std::move(state->rows));
    }
  };
  for (const auto& worker : *parts_.workers) {
    bool posted = worker->visit_sessions([this, visit, arrived](SessionContext& context) {
      // On the worker's thread: only `context` is touched here; the rows go back by value.
      inbox_.post([arrived, rows = visit(context)]() mutable { arrived(std::move(rows)); });
    });
    if (!posted) {
      arrived({}); // that loop is ending and has no sessions left to show
    }
  }
  arrived({});
}

} // namespace popgate::proxy
