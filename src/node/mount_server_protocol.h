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
// hands over the image manifest it has fetched and checked, so that the
// server does not fetch it again:
//   MEDIA-TYPE '\n' BODY
// The server takes it only when BODY hashes to the digest it was told to
// serve (--expect-digest) and is an image manifest.
#ifndef SYSPGO_NODE_MOUNT_SERVER_PROTOCOL_H_
#define SYSPGO_NODE_MOUNT_SERVER_PROTOCOL_H_

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

// The largest handoff: a media type line and a manifest of the
// distribution spec's largest size (4 MiB).
constexpr size_t kMaxManifestHandoff = (4u << 20) + 256;
// Empty when the manifest cannot be handed over (too large, or a media
// type no line can carry): the server fetches it then.
std::string ManifestHandoff(const oci::FetchedManifest& manifest);
// The manifest in `bytes`, checked against `expect`.
Result<oci::ResolvedManifest> ReadManifestHandoff(std::string_view bytes,
                                                  const oci::Digest& expect);

}  // namespace syspgo::node

#endif  // SYSPGO_NODE_MOUNT_SERVER_PROTOCOL_H_
