// SPDX-License-Identifier: Apache-2.0
// File: profile/recorder.h
//
// Whole-system CPU sampling with eBPF (profile.bpf.c on the shared core,
// src/bpf): cpu-clock perf events on every online CPU at a frequency,
// frame-pointer stacks aggregated in the kernel, and each user frame
// resolved to (file, build-id, file offset) through the process's mappings,
// read while it lives, so that a profile names binaries the same way on
// every host, in every container, whatever the address-space layout.
//
// Threading: one thread drives a Recorder.
#ifndef SYSPGO_PROFILE_RECORDER_H_
#define SYSPGO_PROFILE_RECORDER_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "profile/elf_file.h"

namespace syspgo::profile {

// One line of /proc/PID/maps that maps a file executable.
struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t offset = 0;   // file offset of start
  std::string path;      // as the process sees it (inside its mount namespace)
  std::string build_id;  // hex; "" when the file has none or could not be read
};
// Executable file mappings of a /proc/PID/maps text.
std::vector<Mapping> ParseMaps(std::string_view text);

struct Frame {
  // A user frame: the file, its build-id and the file offset of the
  // instruction (return addresses minus one, so that they fall inside the
  // call). A kernel frame: path "[kernel]" and the address.
  std::string path;
  std::string build_id;
  uint64_t offset = 0;
  bool kernel = false;
  bool unmapped = false;  // no mapping covered the address (JIT, vdso, ...)
};

struct Sample {
  pid_t pid = 0;
  std::string comm;
  std::vector<Frame> frames;  // leaf first
  // The word at the stack pointer, resolved: the leaf's caller when the
  // leaf set up no frame; the writers decide (profile/profile_writer.h).
  std::optional<Frame> sp_frame;
  uint64_t count = 0;
};

struct RecordStats {
  uint64_t samples = 0;
  uint64_t lost_user_stacks = 0;
  uint64_t lost_kernel_stacks = 0;
  uint64_t lost_keys = 0;
  uint64_t idle = 0;
  uint64_t lost_pids = 0;               // children of a tracked tree not tracked (map full)
  uint64_t truncated_stacks = 0;        // as deep as the stack map holds
  uint64_t unresolved_frames = 0;       // user frames outside every file mapping
  uint64_t processes_without_maps = 0;  // exited before their maps were read
};

struct Recording {
  std::vector<Sample> samples;
  // The binaries the samples name, by build-id, read while their
  // processes lived (symbols for the writers).
  std::map<std::string, std::shared_ptr<const ElfFile>> binaries;
  RecordStats stats;
  int frequency = 0;
  double seconds = 0;
};

struct RecordOptions {
  int frequency = 99;  // Hz per CPU
  const Logger* log = nullptr;
};

class Recorder {
 public:
  static Result<std::unique_ptr<Recorder>> Create(const RecordOptions& options);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // What is sampled: a process and its descendants, a cgroup v2, or every
  // task. At least one before Start.
  Status TrackProcess(pid_t pid);
  Status TrackCgroup(const std::string& cgroup_v2_path);
  void TrackAll();
  void Start();
  // Reads the mappings of processes seen since the last call (call every
  // 100-500 ms while recording: a process's mappings are read while it
  // lives).
  void Refresh();
  // Stops sampling and resolves what was recorded.
  Result<Recording> Stop();

 private:
  struct Impl;
  explicit Recorder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_RECORDER_H_
