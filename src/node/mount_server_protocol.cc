// SPDX-License-Identifier: Apache-2.0
#include "node/mount_server_protocol.h"

#include <nlohmann/json.hpp>

#include "common/file_util.h"

namespace syspgo::node {
namespace {

// The StatusCode with number `n`; kInternal for ok and for any number no
// StatusCode has.
StatusCode CodeOf(std::string_view n) {
  uint64_t v = 0;
  if (!ParseDecimal(n, &v) || v <= static_cast<uint64_t>(StatusCode::kOk) ||
      v > static_cast<uint64_t>(StatusCode::kResourceExhausted)) {
    return StatusCode::kInternal;
  }
  return static_cast<StatusCode>(v);
}

}  // namespace

std::string MountedLine(std::string_view image, std::string_view mnt, std::string_view mode) {
  std::string out = "mounted ";
  out.append(image).append(" at ").append(mnt).append(" (mode ").append(mode).append(")\n");
  return out;
}

std::string SettledLine() { return "settled\n"; }

std::string ErrorLine(const Status& status) {
  const StatusCode code = status.ok() ? StatusCode::kInternal : status.code();
  std::string message = status.ok() ? "an error line for no error" : status.message();
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return "error " + std::to_string(static_cast<int>(code)) + " " + message + "\n";
}

ServerLine ParseServerLine(std::string_view line) {
  ServerLine out;
  if (line.starts_with("mounted ")) {
    out.kind = ServerLine::kMounted;
  } else if (line == "settled") {
    out.kind = ServerLine::kSettled;
  } else if (line.starts_with("error ")) {
    out.kind = ServerLine::kError;
    std::string_view rest = line.substr(6);
    const size_t space = rest.find(' ');
    const std::string_view number = rest.substr(0, space);
    const std::string_view message =
        space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    const StatusCode code = CodeOf(number);
    if (code == StatusCode::kInternal && number != std::to_string(static_cast<int>(code))) {
      out.error = Internal("the mount server said: " + std::string(line));
    } else {
      out.error = Status(code, std::string(message));
    }
  }
  return out;
}

namespace {

constexpr size_t kMaxMediaType = 255;

// No control characters (a token goes into a header line).
bool PrintableLine(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool UsableToken(const std::string& key, const std::string& token) {
  return key.find(' ') != std::string::npos && key.size() <= 1024 && PrintableLine(key) &&
         !token.empty() && token.size() <= kMaxTokenBytes && PrintableLine(token);
}

}  // namespace

std::string ManifestHandoff(const oci::FetchedManifest& manifest,
                            const std::map<std::string, std::string>& tokens) {
  if (manifest.media_type.size() > kMaxMediaType || !PrintableLine(manifest.media_type)) return "";
  nlohmann::json j = {{"version", 1},
                      {"media_type", manifest.media_type},
                      {"manifest", manifest.body},
                      {"tokens", nlohmann::json::object()}};
  for (const auto& [key, token] : tokens) {
    if (j["tokens"].size() >= kMaxHandoffTokens) break;
    if (UsableToken(key, token)) j["tokens"][key] = token;
  }
  std::string out;
  try {
    out = j.dump();  // throws on bytes that are not UTF-8
  } catch (const nlohmann::json::exception&) {
    return "";
  }
  return out.size() > kMaxManifestHandoff ? "" : out;
}

Result<StartHandoff> ReadManifestHandoff(std::string_view bytes, const oci::Digest& expect) {
  if (bytes.size() > kMaxManifestHandoff) {
    return InvalidArgument("handed-over manifest: larger than " +
                           std::to_string(kMaxManifestHandoff) + " bytes");
  }
  auto j = nlohmann::json::parse(bytes, nullptr, false);
  if (!j.is_object() || !j.contains("version") || !j["version"].is_number_integer() ||
      j["version"].get<int64_t>() != 1) {
    return InvalidArgument("handed-over manifest: not a version 1 handoff");
  }
  const auto& media_type = j["media_type"];
  const auto& body = j["manifest"];
  const auto& tokens = j["tokens"];
  if (!media_type.is_string() || !body.is_string() || !tokens.is_object() ||
      tokens.size() > kMaxHandoffTokens) {
    return InvalidArgument("handed-over manifest: fields of the wrong type");
  }
  StartHandoff out;
  oci::FetchedManifest fetched;
  fetched.media_type = media_type.get<std::string>();
  if (fetched.media_type.size() > kMaxMediaType || !PrintableLine(fetched.media_type)) {
    return InvalidArgument("handed-over manifest: a bad media type");
  }
  fetched.body = body.get<std::string>();
  fetched.digest = oci::Digest::Of(fetched.body);
  if (fetched.digest != expect) {
    return Corruption("handed-over manifest hashes to " + fetched.digest.ToString() + ", not " +
                      expect.ToString());
  }
  ASSIGN_OR_RETURN(out.manifest, oci::ImageManifestFrom(std::move(fetched)));
  for (const auto& [key, token] : tokens.items()) {
    if (!token.is_string() || !UsableToken(key, token.get<std::string>())) {
      return InvalidArgument("handed-over manifest: a bad token");
    }
    out.tokens.emplace(key, token.get<std::string>());
  }
  return out;
}

}  // namespace syspgo::node
