// SPDX-License-Identifier: Apache-2.0
// File: snapshotter/service.h
//
// The snapshotter behind containerd's gRPC API
// (containerd.services.snapshots.v1.Snapshots, compiled from containerd's
// own snapshots.proto): a proxy plugin for containerd.
#ifndef SYSPGO_SNAPSHOTTER_SERVICE_H_
#define SYSPGO_SNAPSHOTTER_SERVICE_H_

#include <chrono>
#include <string>

#include "common/cancel.h"
#include "common/log.h"
#include "common/status.h"
#include "snapshotter/snapshotter.h"

namespace syspgo::snapshotter {

struct ServeOptions {
  std::string address;       // unix socket path
  std::string metrics_file;  // Prometheus text, rewritten every interval ("" = none)
  std::chrono::milliseconds metrics_interval{5000};
  const Logger* log = nullptr;
  // Called once the socket accepts requests.
  std::function<void()> on_ready;
  // Called about once a second while serving (the front end reloads a
  // changed trust policy there).
  std::function<void()> on_tick;
};

// Serves until `cancel`; then stops accepting, finishes the requests in
// flight and returns. Running containers are not touched (their shared
// mounts have servers of their own).
Status Serve(Snapshotter* snapshotter, const ServeOptions& options, const CancelToken& cancel);

}  // namespace syspgo::snapshotter

#endif  // SYSPGO_SNAPSHOTTER_SERVICE_H_
