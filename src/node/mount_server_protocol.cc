// SPDX-License-Identifier: Apache-2.0
#include "node/mount_server_protocol.h"

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

bool PrintableLine(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

std::string ManifestHandoff(const oci::FetchedManifest& manifest) {
  if (manifest.media_type.size() > kMaxMediaType || !PrintableLine(manifest.media_type) ||
      manifest.media_type.size() + 1 + manifest.body.size() > kMaxManifestHandoff) {
    return "";
  }
  std::string out = manifest.media_type;
  out += '\n';
  out += manifest.body;
  return out;
}

Result<oci::ResolvedManifest> ReadManifestHandoff(std::string_view bytes,
                                                  const oci::Digest& expect) {
  if (bytes.size() > kMaxManifestHandoff) {
    return InvalidArgument("handed-over manifest: larger than " +
                           std::to_string(kMaxManifestHandoff) + " bytes");
  }
  const size_t nl = bytes.find('\n');
  if (nl == std::string_view::npos || nl > kMaxMediaType || !PrintableLine(bytes.substr(0, nl))) {
    return InvalidArgument("handed-over manifest: no media type line");
  }
  oci::FetchedManifest fetched;
  fetched.media_type = std::string(bytes.substr(0, nl));
  fetched.body = std::string(bytes.substr(nl + 1));
  fetched.digest = oci::Digest::Of(fetched.body);
  if (fetched.digest != expect) {
    return Corruption("handed-over manifest hashes to " + fetched.digest.ToString() + ", not " +
                      expect.ToString());
  }
  return oci::ImageManifestFrom(std::move(fetched));
}

}  // namespace syspgo::node
