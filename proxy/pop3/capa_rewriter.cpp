#include "proxy/pop3/capa_rewriter.hpp"

#include "base/ascii.hpp"

#include <algorithm>

namespace popgate::pop3 {
namespace {

// The capability name: the first word of the line (RFC 2449 §5: capa-tag).
std::string_view tag_of(std::string_view line) { return line.substr(0, line.find(' ')); }

bool allowed(std::string_view mechanism, std::span<const std::string_view> list) {
  for (const std::string_view m : list) {
    if (ascii::equals_ignore_case(m, mechanism)) {
      return true;
    }
  }
  return false;
}

// "SASL PLAIN LOGIN CRAM-MD5" with only the allowed mechanisms; empty if none is left.
std::string filter_sasl(std::string_view line, std::span<const std::string_view> list) {
  std::string out;
  ascii::Words words(line.substr(std::min(line.size(), tag_of(line).size())));
  while (!words.done()) {
    const std::string_view word = words.next();
    if (allowed(word, list)) {
      out.append(" ").append(word);
    }
  }
  return out.empty() ? out : "SASL" + out;
}

} // namespace

std::string rewrite_capa(std::string_view body, const CapaOptions& options) {
  std::string out = "+OK Capability list follows\r\n";
  bool has_stls = false;
  while (!body.empty()) {
    const std::size_t lf = body.find('\n');
    std::string_view line = body.substr(0, lf);
    body.remove_prefix(lf == std::string_view::npos ? body.size() : lf + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    const std::string_view tag = tag_of(line);
    if (tag.empty()) {
      continue;
    }
    if (ascii::equals_ignore_case(tag, "STLS")) {
      // RFC 2595 §4: only offered where STLS can be used, i.e. plaintext sessions of popgate.
      if (options.tls_active || !options.offer_stls || has_stls) {
        continue;
      }
      has_stls = true;
    } else if (ascii::equals_ignore_case(tag, "USER")) {
      if (options.hide_user_and_sasl) {
        continue;
      }
    } else if (ascii::equals_ignore_case(tag, "SASL")) {
      if (options.hide_user_and_sasl) {
        continue;
      }
      if (!options.sasl_allowed.empty()) {
        const std::string filtered = filter_sasl(line, options.sasl_allowed);
        if (!filtered.empty()) {
          out.append(filtered).append("\r\n");
        }
        continue;
      }
    } else if (ascii::equals_ignore_case(tag, "PIPELINING")) {
      if (!options.keep_pipelining) {
        continue;
      }
    }
    out.append(line).append("\r\n");
  }
  if (!options.tls_active && options.offer_stls && !has_stls) {
    out.append("STLS\r\n");
  }
  out.append(".\r\n");
  return out;
}

} // namespace popgate::pop3
