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
#ifndef SYSPGO_NODE_MOUNT_SERVER_PROTOCOL_H_
#define SYSPGO_NODE_MOUNT_SERVER_PROTOCOL_H_

#include <string>
#include <string_view>

#include "common/status.h"

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

}  // namespace syspgo::node

#endif  // SYSPGO_NODE_MOUNT_SERVER_PROTOCOL_H_
