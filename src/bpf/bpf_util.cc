// SPDX-License-Identifier: Apache-2.0
#include "bpf/bpf_util.h"

#include <bpf/btf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>

namespace syspgo::bpf {
namespace {

int PrintWarnings(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[1024];
  const int n = std::vsnprintf(buf, sizeof(buf), format, args);
  (void)!::write(STDERR_FILENO, "libbpf: ", 8);
  (void)!::write(STDERR_FILENO, buf, std::min<size_t>(n > 0 ? n : 0, sizeof(buf) - 1));
  return n;
}

}  // namespace

void RouteLibbpfLogs(const Logger* log) {
  libbpf_set_print(log && log->enabled(LogLevel::kDebug) ? PrintWarnings : nullptr);
}

Result<std::vector<std::string>> DisableMissingTracepoints(
    const std::vector<OptionalProgram>& programs) {
  struct btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) {
    return Unimplemented(
        "this kernel has no BTF (/sys/kernel/btf/vmlinux); syspgo's BPF programs need it");
  }
  std::vector<std::string> missing;
  for (const OptionalProgram& p : programs) {
    const std::string type = "btf_trace_" + p.tracepoint;
    if (btf__find_by_name_kind(vmlinux, type.c_str(), BTF_KIND_TYPEDEF) < 0) {
      bpf_program__set_autoload(p.program, false);
      missing.push_back(p.tracepoint);
    }
  }
  btf__free(vmlinux);
  return missing;
}

Result<RingBuffer> RingBuffer::Create(int map_fd, Callback callback, std::string name) {
  RingBuffer r;
  r.name_ = std::move(name);
  r.callback_ = std::make_unique<Callback>(std::move(callback));
  r.ring_.reset(ring_buffer__new(
      map_fd,
      [](void* ctx, void* data, size_t size) -> int {
        return (*static_cast<Callback*>(ctx))(data, size);
      },
      r.callback_.get(), nullptr));
  if (!r.ring_) return ErrnoStatus(errno, "create ring buffer", r.name_);
  return r;
}

Status RingBuffer::Poll(std::chrono::milliseconds timeout) {
  const int n = ring_buffer__poll(ring_.get(), static_cast<int>(timeout.count()));
  if (n < 0 && n != -EINTR) return ErrnoStatus(-n, "poll ring buffer", name_);
  return Status::Ok();
}

Status UpdateElem(const bpf_map* map, const void* key, size_t key_size, const void* value,
                  size_t value_size, uint64_t flags, std::string_view what) {
  const int err = bpf_map__update_elem(map, key, key_size, value, value_size, flags);
  if (err) return ErrnoStatus(-err, std::string("update map ") + bpf_map__name(map), what);
  return Status::Ok();
}

Status FilterProcessTree(const TaskFilterView& filter, pid_t pid) {
  const __u32 key = static_cast<__u32>(pid);
  const __u8 one = 1;
  RETURN_IF_ERROR(UpdateElem(filter.tracked_pids, &key, sizeof(key), &one, sizeof(one), BPF_ANY,
                             "pid " + std::to_string(pid)));
  *filter.targ_pids = 1;
  return Status::Ok();
}

void FilterMountNamespace(const TaskFilterView& filter, uint64_t mntns_inode) {
  *filter.targ_mntns = mntns_inode;
}

Status FilterCgroup(const TaskFilterView& filter, const std::string& cgroup_v2_path) {
  ASSIGN_OR_RETURN(uint64_t id, CgroupId(cgroup_v2_path));
  *filter.targ_cgroup = id;
  return Status::Ok();
}

Result<uint64_t> MountNamespaceOf(pid_t pid) {
  struct stat st;
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/mnt";
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  return static_cast<uint64_t>(st.st_ino);
}

Result<uint64_t> CgroupId(const std::string& cgroup_v2_path) {
  struct stat st;
  if (::stat(cgroup_v2_path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", cgroup_v2_path);
  if (!S_ISDIR(st.st_mode)) return InvalidArgument(cgroup_v2_path + " is not a cgroup directory");
  return static_cast<uint64_t>(st.st_ino);
}

}  // namespace syspgo::bpf
