#include "proxy/config/config_reader.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>

namespace popgate::proxy::config_detail {

namespace {

constexpr std::string_view kEndpointHint =
    " is not an address; write a numeric host and a port 0-65535, IPv6 in brackets: "
    "\"0.0.0.0:995\", \"[::]:995\"";

// Levenshtein distance, for "did you mean" on unknown keys. Keys are short; O(n*m) is nothing.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      std::size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitute});
      diagonal = above;
    }
  }
  return row[b.size()];
}

} // namespace

SourcePos pos_of(const toml::source_region& region) {
  return {region.begin.line, region.begin.column};
}
SourcePos pos_of(const toml::node& node) { return pos_of(node.source()); }
SourcePos pos_of(const toml::key& key) { return pos_of(key.source()); }

std::string_view describe(toml::node_type type) {
  switch (type) {
  case toml::node_type::table:
    return "a table";
  case toml::node_type::array:
    return "an array";
  case toml::node_type::string:
    return "a string";
  case toml::node_type::integer:
    return "an integer";
  case toml::node_type::floating_point:
    return "a floating-point number";
  case toml::node_type::boolean:
    return "a boolean";
  case toml::node_type::date:
    return "a date";
  case toml::node_type::time:
    return "a time";
  case toml::node_type::date_time:
    return "a date-time";
  case toml::node_type::none:
    break;
  }
  return "nothing";
}

std::string sanitize(std::string_view text) {
  // Like dovecot's str_sanitize(): keep messages short and free of control bytes.
  constexpr std::size_t kMax = 80;
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      constexpr std::string_view kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMax) {
    out += "...";
  }
  return out;
}

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : sanitize(text)) {
    if (c == '"') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

void Diagnostics::add(SourcePos at, std::string message) {
  errors_.push_back(ConfigError{file_, at.line, at.column, std::move(message)});
}

std::vector<ConfigError> Diagnostics::take_sorted() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  return std::move(errors_);
}

std::string TableReader::header() const {
  if (prefix_.empty()) {
    return "the top level";
  }
  return is_array_element_ ? "[[" + prefix_ + "]]" : "[" + prefix_ + "]";
}

std::string TableReader::name(std::string_view key) const {
  return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
}

const toml::node* TableReader::take(std::string_view key) {
  known_.emplace(key);
  return table_.get(key);
}

const toml::node* TableReader::typed(std::string_view key, toml::node_type type,
                                     std::string_view expected) {
  const toml::node* node = take(key);
  if (node == nullptr) {
    return nullptr;
  }
  if (node->type() != type) {
    diag_.add(*node, name(key) + ": expected " + std::string(expected) + ", got " +
                         std::string(describe(node->type())));
    return nullptr;
  }
  return node;
}

const toml::node* TableReader::flag(std::string_view key, bool& out) {
  const toml::node* node = typed(key, toml::node_type::boolean, "true or false");
  if (node != nullptr) {
    out = node->as_boolean()->get();
  }
  return node;
}

const toml::node* TableReader::count(std::string_view key, unsigned& out, unsigned min,
                                     unsigned max, std::string_view why) {
  const toml::node* node = typed(key, toml::node_type::integer, "an integer");
  if (node == nullptr) {
    return nullptr;
  }
  std::int64_t value = node->as_integer()->get();
  if (value < static_cast<std::int64_t>(min) || value > static_cast<std::int64_t>(max)) {
    std::string message = name(key) + ": " + std::to_string(value) + " is out of range; use " +
                          std::to_string(min) + " to " + std::to_string(max);
    if (!why.empty()) {
      message += " (" + std::string(why) + ")";
    }
    diag_.add(*node, std::move(message));
    return nullptr;
  }
  out = static_cast<unsigned>(value);
  return node;
}

const toml::node* TableReader::text(std::string_view key, std::string& out) {
  const toml::node* node = typed(key, toml::node_type::string, "a string");
  if (node != nullptr) {
    out = node->as_string()->get();
  }
  return node;
}

const toml::node* TableReader::duration(std::string_view key, Millis& out, bool allow_zero) {
  const toml::node* node = take(key);
  if (node == nullptr) {
    return nullptr;
  }
  if (!node->is_string()) {
    // A bare number is the likely mistake ("idle_timeout = 600"): say which unit to add.
    diag_.add(*node, name(key) + R"(: expected a duration string such as "30s" or "10m", got )" +
                         std::string(describe(node->type())));
    return nullptr;
  }
  const std::string& value = node->as_string()->get();
  auto parsed = parse_duration(value);
  if (!parsed) {
    diag_.add(*node, name(key) + ": " + quote(value) +
                         " is not a duration; write a whole number and one unit: \"500ms\", "
                         "\"30s\", \"10m\", \"1h\", \"2d\"");
    return nullptr;
  }
  if (!allow_zero && parsed->count() == 0) {
    diag_.add(*node, name(key) + ": must be greater than 0");
    return nullptr;
  }
  out = *parsed;
  return node;
}

template <typename T, typename Parse>
const toml::node* TableReader::string_array(std::string_view key, std::vector<T>& out,
                                            std::string_view expected, Parse parse,
                                            std::string_view not_valid) {
  const toml::node* node = typed(key, toml::node_type::array, expected);
  if (node == nullptr) {
    return nullptr;
  }
  // Every element is checked, so that one load reports all the bad ones.
  std::vector<T> values;
  bool ok = true;
  for (const toml::node& element : *node->as_array()) {
    const auto* s = element.as_string();
    std::optional<T> parsed = s != nullptr ? parse(s->get()) : std::nullopt;
    if (s == nullptr) {
      diag_.add(element, name(key) + ": expected " + std::string(expected) + ", found " +
                             std::string(describe(element.type())));
    } else if (!parsed) {
      diag_.add(element, name(key) + ": " + quote(s->get()) + std::string(not_valid));
    } else {
      values.push_back(std::move(*parsed));
      continue;
    }
    ok = false;
  }
  if (!ok) {
    return nullptr;
  }
  out = std::move(values);
  return node;
}

const toml::node* TableReader::texts(std::string_view key, std::vector<std::string>& out) {
  return string_array(key, out, "an array of strings",
                      [](const std::string& s) { return std::optional<std::string>(s); }, {});
}

const toml::node* TableReader::endpoint(std::string_view key, Endpoint& out) {
  std::string value;
  const toml::node* node = text(key, value);
  if (node == nullptr) {
    return nullptr;
  }
  auto parsed = Endpoint::parse(value);
  if (!parsed) {
    diag_.add(*node, name(key) + ": " + quote(value) + std::string(kEndpointHint));
    return nullptr;
  }
  out = std::move(*parsed);
  return node;
}

const toml::node* TableReader::endpoints(std::string_view key, std::vector<Endpoint>& out) {
  return string_array(key, out, "an array of \"host:port\" strings", Endpoint::parse,
                      kEndpointHint);
}

const toml::node* TableReader::cidrs(std::string_view key, std::vector<Cidr>& out) {
  return string_array(key, out, "an array of CIDR strings", Cidr::parse,
                      " is not a CIDR block; write \"192.0.2.0/24\", \"2001:db8::/32\" "
                      "or a single address");
}

const toml::table* TableReader::sub_table(std::string_view key) {
  const toml::node* node = take(key);
  if (node == nullptr) {
    return nullptr;
  }
  if (!node->is_table()) {
    diag_.add(*node, name(key) + ": expected a table [" + name(key) + "], got " +
                         std::string(describe(node->type())));
    return nullptr;
  }
  return node->as_table();
}

const toml::array* TableReader::table_array(std::string_view key) {
  const toml::node* node = take(key);
  if (node == nullptr) {
    return nullptr;
  }
  if (!node->is_array()) {
    diag_.add(*node, name(key) + ": expected an array of tables [[" + name(key) + "]], got " +
                         std::string(describe(node->type())));
    return nullptr;
  }
  for (const toml::node& element : *node->as_array()) {
    if (!element.is_table()) {
      diag_.add(element, name(key) + ": expected an array of tables [[" + name(key) + "]], found " +
                             std::string(describe(element.type())));
    }
  }
  return node->as_array();
}

bool TableReader::require(std::string_view key) {
  known_.emplace(key);
  if (table_.contains(key)) {
    return true;
  }
  diag_.add(pos(), "missing required key '" + std::string(key) + "' in " + header());
  return false;
}

void TableReader::finish() {
  for (const auto& [key, value] : table_) {
    if (known_.count(key.str()) != 0) {
      continue;
    }
    std::string message = "unknown key '" + sanitize(key.str()) + "'" +
                          (prefix_.empty() ? " at " : " in ") + header();
    std::string_view best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    for (const auto& candidate : known_) {
      std::size_t d = edit_distance(key.str(), candidate);
      if (d < best_distance) {
        best_distance = d;
        best = candidate;
      }
    }
    // Two edits catch the usual typos ("bnd", "workres") without suggesting nonsense.
    if (!best.empty() && best_distance <= 2 && best_distance < key.str().size()) {
      message += "; did you mean '" + std::string(best) + "'?";
    }
    diag_.add(pos_of(key), std::move(message));
  }
}

} // namespace popgate::proxy::config_detail
