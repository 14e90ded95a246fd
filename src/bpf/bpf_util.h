// SPDX-License-Identifier: Apache-2.0
// File: bpf/bpf_util.h
//
// The user-space half of syspgo's shared eBPF core (the role libbpf-tools'
// trace_helpers plays for its ~100 tools): libbpf's messages through our
// logger, skeleton ownership, programs whose tracepoint this kernel lacks
// left out, ring buffers and maps, and the task filter of
// bpf/task_filter.bpf.h. Every BPF program of the project (the startup I/O
// tracer, the CPU profiler) loads through it.
//
// Threading: a RingBuffer is polled by one thread at a time; the rest are
// free functions.
#ifndef SYSPGO_BPF_BPF_UTIL_H_
#define SYSPGO_BPF_BPF_UTIL_H_

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "common/status.h"

namespace syspgo::bpf {

// libbpf's warnings and information to stderr when `log` is at debug level
// (-v); otherwise libbpf says nothing (our own errors say what failed).
// Its debug level (every relocation) never. Process-wide, as libbpf's
// printer is.
void RouteLibbpfLogs(const Logger* log);

// A libbpf skeleton, destroyed (programs detached, maps closed) with its
// owner: SkeletonPtr<iotrace_bpf, iotrace_bpf__destroy>.
template <typename T, void (*Destroy)(T*)>
struct SkeletonDeleter {
  void operator()(T* p) const {
    if (p) Destroy(p);
  }
};
template <typename T, void (*Destroy)(T*)>
using SkeletonPtr = std::unique_ptr<T, SkeletonDeleter<T, Destroy>>;

// A program attached to a tp_btf tracepoint that not every kernel has.
struct OptionalProgram {
  bpf_program* program;
  std::string tracepoint;  // e.g. "mm_filemap_get_pages"
};
// Before load: programs whose tracepoint this kernel's BTF lacks are not
// loaded (autoload off). Returns their tracepoint names; kUnimplemented when
// the kernel has no BTF.
Result<std::vector<std::string>> DisableMissingTracepoints(
    const std::vector<OptionalProgram>& programs);

// A BPF ring buffer map's consumer. The callback gets each record (its
// return value, when negative, stops the poll: libbpf's convention).
class RingBuffer {
 public:
  using Callback = std::function<int(const void* data, size_t size)>;
  static Result<RingBuffer> Create(int map_fd, Callback callback, std::string name);
  RingBuffer() = default;
  RingBuffer(RingBuffer&&) noexcept = default;
  RingBuffer& operator=(RingBuffer&&) noexcept = default;
  // Consumes what is there, waiting up to `timeout` for something.
  Status Poll(std::chrono::milliseconds timeout);

 private:
  struct Deleter {
    void operator()(ring_buffer* r) const { ring_buffer__free(r); }
  };
  std::unique_ptr<Callback> callback_;  // stable address for libbpf
  std::unique_ptr<ring_buffer, Deleter> ring_;
  std::string name_;
};

// bpf_map__update_elem with an errno message naming the map and `what`.
Status UpdateElem(const bpf_map* map, const void* key, size_t key_size, const void* value,
                  size_t value_size, uint64_t flags, std::string_view what);

// Every (key, value) of a map, read from user space. Entries that vanish
// while iterating are skipped.
template <typename K, typename V>
void ForEachEntry(int map_fd, const std::function<void(const K&, const V&)>& fn) {
  K key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
    V value{};
    if (bpf_map_lookup_elem(map_fd, &next, &value) == 0) fn(next, value);
    key = next;
    prev = &key;
  }
}

// The task filter's state in a skeleton's .bss and its tracked_pids map
// (bpf/task_filter.bpf.h): what a program looks at.
struct TaskFilterView {
  __u64* targ_mntns;  // the skeleton's types (linux/types.h)
  __u32* targ_pids;
  __u64* targ_cgroup;
  const bpf_map* tracked_pids;
};
// A process and, from then on, the processes it forks.
Status FilterProcessTree(const TaskFilterView& filter, pid_t pid);
// Every task of a mount namespace (its /proc/PID/ns/mnt inode).
void FilterMountNamespace(const TaskFilterView& filter, uint64_t mntns_inode);
// Every task of a cgroup, given by its path in the cgroup v2 hierarchy
// (/sys/fs/cgroup/... or /sys/fs/cgroup/unified/...): its inode number is
// the id the kernel gives BPF.
Status FilterCgroup(const TaskFilterView& filter, const std::string& cgroup_v2_path);

// The mount namespace of a process (the inode of /proc/PID/ns/mnt).
Result<uint64_t> MountNamespaceOf(pid_t pid);
// A cgroup v2 directory's id (its inode number).
Result<uint64_t> CgroupId(const std::string& cgroup_v2_path);

}  // namespace syspgo::bpf

#endif  // SYSPGO_BPF_BPF_UTIL_H_
