// SPDX-License-Identifier: Apache-2.0
// File: trace/tracer.h
//
// The C++ side of iotrace.bpf.c: loads and attaches the programs (those the
// kernel lacks are left out, never fatal), selects what to trace (a process
// tree, a mount namespace), delivers the rare events (exec, exit, listen)
// and, at the end, reads the in-kernel page bitmaps into a Trace with each
// file named by its path (and layer, for files in a syspgo layer store).
//
// Threading: one thread drives an IoTracer.
#ifndef SYSPGO_TRACE_TRACER_H_
#define SYSPGO_TRACE_TRACER_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "trace/trace_format.h"

namespace syspgo::trace {

struct TraceEvent {
  enum Type { kExec = 1, kExit = 2, kListen = 3 };
  Type type;
  pid_t pid = 0;
  uint64_t ts_ns = 0;   // CLOCK_MONOTONIC (bpf_ktime_get_ns)
  int exit_status = 0;  // kExit: wait status
  uint16_t port = 0;    // kListen
  std::string comm;
  std::string filename;  // kExec
};

class IoTracer {
 public:
  // Loads and attaches; recording starts at Arm(). kPermissionDenied with
  // one sentence when the kernel refuses BPF (no CAP_BPF/CAP_PERFMON).
  static Result<std::unique_ptr<IoTracer>> Create(const Logger* log);
  ~IoTracer();
  IoTracer(const IoTracer&) = delete;
  IoTracer& operator=(const IoTracer&) = delete;

  // Trace this process and every process it forks from now on.
  Status TrackProcess(pid_t pid);
  // Trace every task in this mount namespace (inode number of /proc/PID/ns/mnt).
  void TrackMountNamespace(uint64_t mntns_inode);
  void Arm();
  void Disarm();
  uint64_t armed_at_ns() const { return armed_at_ns_; }

  // Waits up to timeout for events and hands each to handler.
  Status Poll(std::chrono::milliseconds timeout,
              const std::function<void(const TraceEvent&)>& handler);

  // Reads what was recorded. Files whose path cannot be resolved are kept
  // with an empty path and counted in loss.unresolved_files.
  Result<Trace> Collect();

  // Programs left out because this kernel lacks their tracepoint.
  const std::vector<std::string>& missing_programs() const { return missing_; }

 private:
  struct Impl;
  explicit IoTracer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  uint64_t armed_at_ns_ = 0;
  std::vector<std::string> missing_;
};

// The kernel's dev_t (major << 20 | minor) of a stat() st_dev.
uint64_t KernelDev(dev_t dev);
// The mount namespace inode of a process.
Result<uint64_t> MountNamespaceOf(pid_t pid);
// Splits a host path inside a syspgo layer store into (layer digest, path
// in the image): ".../layers/sha256/<hex>/fs/usr/bin/x" -> ("sha256:<hex>",
// "/usr/bin/x"). Other paths come back unchanged with an empty layer.
std::pair<std::string, std::string> SplitLayerPath(const std::string& host_path);

}  // namespace syspgo::trace

#endif  // SYSPGO_TRACE_TRACER_H_
