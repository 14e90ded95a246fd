// SPDX-License-Identifier: Apache-2.0
#include "oci/reference.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>

#include "common/file_util.h"
#include "common/sha256.h"

namespace syspgo::oci {
namespace {

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// One path component of a repository name: [a-z0-9]+ joined by ".", "_",
// "__" or any number of "-".
bool IsValidRepositoryComponent(std::string_view c) {
  if (c.empty()) return false;
  auto alnum = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); };
  if (!alnum(c.front()) || !alnum(c.back())) return false;
  for (size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (alnum(ch) || ch == '-') continue;
    if (ch == '.' || ch == '_') {
      if (!alnum(c[i - 1])) {
        // "__" is allowed, nothing else doubled.
        if (!(ch == '_' && c[i - 1] == '_' && i >= 2 && alnum(c[i - 2]))) {
          return false;
        }
      }
      continue;
    }
    return false;
  }
  return true;
}

bool IsValidTag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; };
  if (!word(t.front())) return false;
  return std::all_of(t.begin(), t.end(),
                     [&](char ch) { return word(ch) || ch == '.' || ch == '-'; });
}

}  // namespace

Result<Digest> Digest::Parse(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return InvalidArgument("digest '" + std::string(text) + "' has no algorithm prefix");
  }
  std::string_view algorithm = text.substr(0, colon);
  std::string_view hex = text.substr(colon + 1);
  if (algorithm != "sha256") {
    return Unimplemented("digest '" + std::string(text) + "': only sha256 is supported");
  }
  if (hex.size() != 64 || !IsLowerHex(hex)) {
    return InvalidArgument("digest '" + std::string(text) + "' is not 64 lowercase hex digits");
  }
  return Digest{std::string(algorithm), std::string(hex)};
}

Digest Digest::Of(std::string_view content) { return Sha256Hex(Sha256::HexOf(content)); }

Result<ImageReference> ImageReference::Parse(std::string_view text) {
  std::string input(text);
  if (input.empty()) return InvalidArgument("empty image reference");
  ImageReference ref;
  size_t at = input.find('@');
  if (at != std::string::npos) {
    ASSIGN_OR_RETURN(Digest d, Digest::Parse(input.substr(at + 1)));
    ref.digest = d.ToString();
    input.resize(at);
  }
  // The registry is the first component when it looks like a host.
  std::string rest = input;
  size_t slash = input.find('/');
  if (slash != std::string::npos) {
    std::string first = input.substr(0, slash);
    if (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
        first == "localhost" || std::any_of(first.begin(), first.end(), [](char c) {
          return std::isupper(static_cast<unsigned char>(c));
        })) {
      ref.registry = first;
      rest = input.substr(slash + 1);
    }
  }
  if (ref.registry.empty()) ref.registry = "docker.io";
  // A tag follows the last ':' after the last '/'.
  size_t last_slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string::npos && (last_slash == std::string::npos || colon > last_slash)) {
    ref.tag = rest.substr(colon + 1);
    rest.resize(colon);
    if (!IsValidTag(ref.tag)) {
      return InvalidArgument("image reference '" + std::string(text) + "': invalid tag '" +
                             ref.tag + "'");
    }
  }
  if (ref.registry == "docker.io" && rest.find('/') == std::string::npos) {
    rest = "library/" + rest;
  }
  size_t start = 0;
  while (true) {
    size_t end = rest.find('/', start);
    std::string_view comp = std::string_view(rest).substr(
        start, end == std::string::npos ? std::string::npos : end - start);
    if (!IsValidRepositoryComponent(comp)) {
      return InvalidArgument("image reference '" + std::string(text) +
                             "': invalid repository name '" + rest + "'");
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  ref.repository = rest;
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

std::string ImageReference::RegistryHost() const {
  if (registry == "docker.io" || registry == "index.docker.io") {
    return "registry-1.docker.io";
  }
  return registry;
}

std::string ImageReference::ToString() const {
  std::string out = registry + "/" + repository;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

bool IsLoopbackRegistry(std::string_view host) {
  std::string_view name = host;
  if (!name.empty() && name.front() == '[') {
    size_t close = name.find(']');
    name = name.substr(1, close == std::string_view::npos ? name.size() : close - 1);
    return name == "::1";
  }
  size_t colon = name.find(':');
  if (colon != std::string_view::npos) name = name.substr(0, colon);
  bool dotted_quad =
      !name.empty() && name.find_first_not_of("0123456789.") == std::string_view::npos;
  return name == "localhost" || (dotted_quad && name.substr(0, 4) == "127.");
}

Result<std::string> NormalizeRegistryHost(std::string_view host) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("registry host '" + std::string(host) +
                           "' cannot be normalized: " + std::string(why));
  };
  if (host.empty() || host.size() > 300) return bad("empty or too long");
  std::string_view name = host, port;
  bool ipv6 = false;
  if (host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return bad("no ']'");
    name = host.substr(1, close - 1);
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("text after ']'");
      port = rest.substr(1);
    }
    ipv6 = true;
  } else if (const size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
    if (port.empty()) return bad("an empty port");
  }
  std::string out_port;
  if (!port.empty() || (host.back() == ':')) {
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string_view::npos) {
      return bad("the port is not a number");
    }
    const int p = std::stoi(std::string(port));
    if (p < 1 || p > 65535) return bad("the port is out of range");
    if (p != 443 && p != 80) out_port = ":" + std::to_string(p);
  }
  std::string canonical;
  if (ipv6) {
    in6_addr a6{};
    if (::inet_pton(AF_INET6, std::string(name).c_str(), &a6) != 1) return bad("not IPv6");
    const bool mapped = IN6_IS_ADDR_V4MAPPED(&a6);
    if (IN6_IS_ADDR_LOOPBACK(&a6) || (mapped && a6.s6_addr[12] == 127))
      return "localhost" + out_port;
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET6, &a6, text, sizeof(text));
    return "[" + std::string(text) + "]" + out_port;
  }
  if (name.empty()) return bad("no host name");
  std::string lower;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) return bad("not ASCII (write it in punycode)");
    lower += static_cast<char>(std::tolower(u));
  }
  if (lower.back() == '.') lower.pop_back();
  // Anything inet_aton takes is an IPv4 address, however written (as the
  // resolver takes it too).
  if (in_addr a4{}; ::inet_aton(lower.c_str(), &a4) == 1) {
    const uint32_t v = ntohl(a4.s_addr);
    if ((v >> 24) == 127) return "localhost" + out_port;
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &a4, text, sizeof(text));
    return std::string(text) + out_port;
  }
  // A DNS name: labels of letters, digits and '-', not at either end.
  for (std::string_view label : Split(lower, '.', true)) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-' ||
        label.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") !=
            std::string_view::npos) {
      return bad("not a host name");
    }
  }
  if (lower == "localhost" || lower.ends_with(".localhost")) return "localhost" + out_port;
  if (lower == "index.docker.io" || lower == "registry-1.docker.io") lower = "docker.io";
  return lower + out_port;
}

}  // namespace syspgo::oci
