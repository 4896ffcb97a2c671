#pragma once

// Building blocks of config_loader: a list of errors with positions, and a reader that takes the
// keys of one TOML table into typed fields. Internal to the loader; nothing else includes toml++.
//
// Every getter of TableReader declares its key as known, whether the key is present or not, so
// that finish() can name each remaining key as unknown and suggest the closest known one. A
// getter that finds a bad value reports it at the value's position and leaves `out` unchanged
// (at its default), so loading goes on and later errors are found too.

#include "base/address.hpp"
#include "base/duration.hpp"
#include "proxy/config/config.hpp"
#include "proxy/config/config_loader.hpp"

#include <toml++/toml.h>

#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace popgate::proxy::config_detail {

SourcePos pos_of(const toml::source_region& region);
SourcePos pos_of(const toml::node& node);
SourcePos pos_of(const toml::key& key);

// "an integer", "a string", ... for "expected X, got Y" messages.
std::string_view describe(toml::node_type type);

// `text` with control characters escaped as \xNN and cut to a readable length, so a message never
// carries raw bytes from the file; quote() adds double quotes (and escapes those inside).
std::string sanitize(std::string_view text);
std::string quote(std::string_view text);

class Diagnostics {
public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void add(SourcePos at, std::string message);
  void add(const toml::node& at, std::string message) { add(pos_of(at), std::move(message)); }

  [[nodiscard]] bool empty() const { return errors_.empty(); }
  [[nodiscard]] const std::string& file() const { return file_; }

  // The errors in file order (line, then column; ties keep the order found).
  std::vector<ConfigError> take_sorted();

private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

class TableReader {
public:
  // `prefix` is the dotted path of the table ("listener", "policy.ban"; "" for the root) and
  // `is_array_element` whether it was written [[prefix]], for messages.
  TableReader(const toml::table& table, std::string prefix, bool is_array_element,
              Diagnostics& diag)
      : table_(table), prefix_(std::move(prefix)), is_array_element_(is_array_element),
        diag_(diag) {}

  [[nodiscard]] SourcePos pos() const { return pos_of(table_); }
  // "[[listener]]", "[policy.ban]", or "the top level".
  [[nodiscard]] std::string header() const;
  // "listener.bind", "workers" (at the root): how messages name a key.
  [[nodiscard]] std::string name(std::string_view key) const;
  Diagnostics& diag() { return diag_; }

  // The node under `key`, or nullptr; marks the key known.
  const toml::node* take(std::string_view key);

  // Each returns the value's node if the key is present and its value valid, else nullptr.
  const toml::node* flag(std::string_view key, bool& out);
  const toml::node* count(std::string_view key, unsigned& out, unsigned min, unsigned max,
                          std::string_view why = {});
  const toml::node* text(std::string_view key, std::string& out);
  const toml::node* duration(std::string_view key, Millis& out, bool allow_zero);
  const toml::node* texts(std::string_view key, std::vector<std::string>& out);
  const toml::node* endpoint(std::string_view key, Endpoint& out);
  const toml::node* endpoints(std::string_view key, std::vector<Endpoint>& out);
  const toml::node* cidrs(std::string_view key, std::vector<Cidr>& out);

  template <typename E>
  const toml::node* choice(std::string_view key, E& out,
                           std::initializer_list<std::pair<std::string_view, E>> options) {
    std::string value;
    const toml::node* node = text(key, value);
    if (node == nullptr) {
      return nullptr;
    }
    for (const auto& [spelling, e] : options) {
      if (spelling == value) {
        out = e;
        return node;
      }
    }
    std::string allowed;
    for (const auto& option : options) {
      allowed += (allowed.empty() ? "" : ", ") + quote(option.first);
    }
    diag_.add(*node, name(key) + ": " + quote(value) + " is not one of " + allowed);
    return nullptr;
  }

  // A sub-table ([policy.ban]) or an array of tables ([[listener]]); nullptr if absent or of
  // another type (reported). Elements of an array that are not tables are reported here; the
  // caller skips them.
  const toml::table* sub_table(std::string_view key);
  const toml::array* table_array(std::string_view key);

  // Reports "missing required key" at the table's position when `key` is absent.
  bool require(std::string_view key);

  // Reports every key not taken by a getter. Call once, after all getters.
  void finish();

private:
  const toml::node* typed(std::string_view key, toml::node_type type, std::string_view expected);
  // An array whose elements are strings that `parse` turns into T (std::optional<T>, nullopt when
  // the string is not valid). `expected` names the array for type errors ("an array of CIDR
  // strings"); `not_valid` follows the quoted element when parse refuses it.
  template <typename T, typename Parse>
  const toml::node* string_array(std::string_view key, std::vector<T>& out,
                                 std::string_view expected, Parse parse,
                                 std::string_view not_valid);

  const toml::table& table_;
  std::string prefix_;
  bool is_array_element_;
  Diagnostics& diag_;
  std::set<std::string, std::less<>> known_;
};

} // namespace popgate::proxy::config_detail
