// SPDX-License-Identifier: Apache-2.0
#include "oci/reference.h"

#include <algorithm>
#include <cctype>

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

}  // namespace syspgo::oci
