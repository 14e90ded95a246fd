// SPDX-License-Identifier: Apache-2.0
// File: node/mount_server_protocol.h
//
// What a shared mount server (`syspgo mount --shared --exit-unreferenced`,
// node/shared_mount.h) tells the process that started it, one line each
// on its stdout, and how the starter reads them; both halves here:
//   mounted IMAGE at MNT (mode MODE)   the mount is ready
//   settled                            every chunk is in the page cache
//   error CODE MESSAGE                 it failed; CODE is a StatusCode's
//                                      number, MESSAGE one line
// A code the starter does not know (a newer server, a garbled line) reads
// as an internal error, never as a code outside StatusCode.
//
// The other way, on the server's stdin (`--manifest-stdin`), the starter
// hands over what it has fetched and checked, so that the server does not
// ask the registry again: the image manifest and the registry tokens it
// holds for the image's repository. One JSON object:
//   {"version": 1, "media_type": "...", "manifest": "<the manifest's bytes>",
//    "tokens": {"<origin> <scope>": "<token>", ...}}
// The server takes the manifest only when its bytes hash to the digest it
// was told to serve (--expect-digest) and form an image manifest; a token
// is only ever sent to the origin it was issued for, and one the registry
// no longer takes is answered with a new one, as any expired token.
#ifndef SYSPGO_NODE_MOUNT_SERVER_PROTOCOL_H_
#define SYSPGO_NODE_MOUNT_SERVER_PROTOCOL_H_

#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "oci/puller.h"

namespace syspgo::node {

std::string MountedLine(std::string_view image, std::string_view mnt, std::string_view mode);
std::string SettledLine();
// `status` must not be ok. Newlines in its message become spaces.
std::string ErrorLine(const Status& status);

struct ServerLine {
  enum Kind { kMounted, kSettled, kError, kOther } kind = kOther;
  Status error;  // kError: the server's status
};
// One line as the server wrote it (without its '\n').
ServerLine ParseServerLine(std::string_view line);

// The largest handoff: a manifest of the distribution spec's largest size
// (4 MiB), escaped, and a few tokens.
constexpr size_t kMaxManifestHandoff = (9u << 20);
constexpr size_t kMaxHandoffTokens = 16;
constexpr size_t kMaxTokenBytes = 16u << 10;

struct StartHandoff {
  oci::ResolvedManifest manifest;
  std::map<std::string, std::string> tokens;  // oci::TokenCache keys -> tokens
};
// Empty when it cannot be handed over (a manifest that is not UTF-8 text,
// or too large): the server fetches it then. Tokens that do not fit the
// bounds are left out (the server asks for its own).
std::string ManifestHandoff(const oci::FetchedManifest& manifest,
                            const std::map<std::string, std::string>& tokens = {});
// The handoff in `bytes`; its manifest checked against `expect`.
Result<StartHandoff> ReadManifestHandoff(std::string_view bytes, const oci::Digest& expect);

}  // namespace syspgo::node

#endif  // SYSPGO_NODE_MOUNT_SERVER_PROTOCOL_H_
