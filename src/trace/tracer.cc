// SPDX-License-Identifier: Apache-2.0
#include "trace/tracer.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/types.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <map>

#include "common/clock.h"
#include "common/file_util.h"
#include "common/mount.h"
#include "common/unique_fd.h"
#include "bpf/bpf_util.h"
#include "trace/iotrace.h"
#include "iotrace.skel.h"

static_assert(sizeof(iotrace_event) == 312, "iotrace_event ABI changed");
static_assert(sizeof(iotrace_chunk) == 8 * IOTRACE_KINDS * IOTRACE_CHUNK_WORDS);

namespace syspgo::trace {
namespace {

// Mount points by kernel dev_t, for open_by_handle_at.
std::map<uint64_t, std::string> MountsByDev() {
  std::map<uint64_t, std::string> out;
  for (MountInfo& m : ReadMountInfo()) {
    const uint64_t dev = (static_cast<uint64_t>(m.major) << 20) | m.minor;
    // Prefer a mount of the whole file system.
    if (out.count(dev) && m.root != "/") continue;
    out[dev] = std::move(m.mount_point);
  }
  return out;
}

}  // namespace

uint64_t KernelDev(dev_t dev) { return (static_cast<uint64_t>(major(dev)) << 20) | minor(dev); }

Result<uint64_t> MountNamespaceOf(pid_t pid) { return bpf::MountNamespaceOf(pid); }

std::pair<std::string, std::string> SplitLayerPath(const std::string& host_path) {
  static constexpr std::string_view kMarker = "/layers/sha256/";
  size_t at = host_path.find(kMarker);
  if (at != std::string::npos) {
    size_t hex = at + kMarker.size();
    if (host_path.size() > hex + 64 + 3 && host_path.compare(hex + 64, 4, "/fs/") == 0) {
      return {"sha256:" + host_path.substr(hex, 64), host_path.substr(hex + 64 + 3)};
    }
  }
  return {"", host_path};
}

struct IoTracer::Impl {
  bpf::SkeletonPtr<iotrace_bpf, iotrace_bpf__destroy> skel;
  bpf::RingBuffer ring;
  const std::function<void(const TraceEvent&)>* handler = nullptr;
  const Logger* log = nullptr;
  bpf::TaskFilterView Filter() {
    return {&skel->bss->targ_mntns, &skel->bss->targ_pids, &skel->bss->targ_cgroup,
            skel->maps.tracked_pids};
  }
};

IoTracer::IoTracer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IoTracer::~IoTracer() = default;

Result<std::unique_ptr<IoTracer>> IoTracer::Create(const Logger* log) {
  bpf::RouteLibbpfLogs(log);
  auto impl = std::make_unique<Impl>();
  impl->log = log;
  // Open.
  impl->skel.reset(iotrace_bpf__open());
  if (!impl->skel) return ErrnoStatus(errno, "open BPF object iotrace");
  // Programs whose tracepoint this kernel lacks are left out.
  auto missing = bpf::DisableMissingTracepoints({
      {impl->skel->progs.on_get_pages, "mm_filemap_get_pages"},
      {impl->skel->progs.on_fault, "mm_filemap_fault"},
      {impl->skel->progs.on_map_pages, "mm_filemap_map_pages"},
      {impl->skel->progs.on_sock_state, "inet_sock_set_state"},
  });
  if (!missing.ok()) return missing.status();
  // Load.
  int err = iotrace_bpf__load(impl->skel.get());
  if (err) {
    if (err == -EPERM || err == -EACCES) {
      return PermissionDenied(
          "tracing needs CAP_BPF and CAP_PERFMON (run syspgo trace as root); "
          "the kernel refused to load the BPF programs");
    }
    return ErrnoStatus(-err, "load BPF programs (iotrace)");
  }
  // Attach.
  err = iotrace_bpf__attach(impl->skel.get());
  if (err) return ErrnoStatus(-err, "attach BPF programs (iotrace)");
  // Ring buffer.
  Impl* self = impl.get();
  ASSIGN_OR_RETURN(impl->ring, bpf::RingBuffer::Create(
                                   bpf_map__fd(impl->skel->maps.events),
                                   [self](const void* data, size_t size) -> int {
                                     if (size < sizeof(iotrace_event) || self->handler == nullptr) {
                                       return 0;
                                     }
                                     const auto* e = static_cast<const iotrace_event*>(data);
                                     TraceEvent ev;
                                     ev.type = static_cast<TraceEvent::Type>(e->type);
                                     ev.pid = static_cast<pid_t>(e->pid);
                                     ev.ts_ns = e->ts_ns;
                                     ev.exit_status = e->exit_code;
                                     ev.port = e->port;
                                     ev.comm.assign(e->comm, strnlen(e->comm, sizeof(e->comm)));
                                     ev.filename.assign(e->filename,
                                                        strnlen(e->filename, sizeof(e->filename)));
                                     (*self->handler)(ev);
                                     return 0;
                                   },
                                   "iotrace events"));
  std::unique_ptr<IoTracer> tracer(new IoTracer(std::move(impl)));
  tracer->missing_ = std::move(*missing);
  if (tracer->missing_.size() == 4 ||
      std::count(tracer->missing_.begin(), tracer->missing_.end(), "mm_filemap_get_pages")) {
    return Unimplemented("this kernel lacks the filemap:mm_filemap_get_pages tracepoint");
  }
  return tracer;
}

Status IoTracer::TrackProcess(pid_t pid) { return bpf::FilterProcessTree(impl_->Filter(), pid); }

void IoTracer::TrackMountNamespace(uint64_t mntns_inode) {
  bpf::FilterMountNamespace(impl_->Filter(), mntns_inode);
}

void IoTracer::Arm() {
  armed_at_ns_ = MonotonicNs();
  __atomic_store_n(&impl_->skel->bss->armed, 1, __ATOMIC_SEQ_CST);
}

void IoTracer::Disarm() { __atomic_store_n(&impl_->skel->bss->armed, 0, __ATOMIC_SEQ_CST); }

Status IoTracer::Poll(std::chrono::milliseconds timeout,
                      const std::function<void(const TraceEvent&)>& handler) {
  impl_->handler = &handler;
  Status st = impl_->ring.Poll(timeout);
  impl_->handler = nullptr;
  return st;
}

Result<Trace> IoTracer::Collect() {
  Trace trace;
  trace.page_size = static_cast<uint32_t>(::sysconf(_SC_PAGESIZE));
  const iotrace_stats& stats = impl_->skel->bss->stats;
  trace.loss.chunk_overflow = stats.chunk_overflow;
  trace.loss.file_overflow = stats.file_overflow;
  trace.loss.pid_overflow = stats.pid_overflow;
  trace.loss.events_dropped = stats.events_dropped;

  // Files.
  std::map<std::pair<uint32_t, uint64_t>, TracedFile> files;
  std::map<std::pair<uint32_t, uint64_t>, uint32_t> generations;
  bpf::ForEachEntry<iotrace_file_key, iotrace_file>(
      bpf_map__fd(impl_->skel->maps.files),
      [&](const iotrace_file_key& k, const iotrace_file& value) {
        TracedFile f;
        f.dev = k.dev;
        f.ino = k.ino;
        f.size = value.size;
        f.flags = value.flags & IOTRACE_FILE_EXEC ? kFileExec : 0;
        f.first_access_ns = value.first_ns > armed_at_ns_ ? value.first_ns - armed_at_ns_ : 0;
        f.order = value.seq;
        files[{k.dev, k.ino}] = std::move(f);
        generations[{k.dev, k.ino}] = value.generation;
      });
  // Page bitmaps. (The chunk value is large: read one at a time.)
  bpf::ForEachEntry<iotrace_chunk_key, iotrace_chunk>(
      bpf_map__fd(impl_->skel->maps.chunks),
      [&](const iotrace_chunk_key& k, const iotrace_chunk& chunk) {
        auto it = files.find({k.dev, k.ino});
        if (it == files.end()) return;
        for (int kind = 0; kind < IOTRACE_KINDS; ++kind) {
          AppendRuns(static_cast<AccessKind>(kind), uint64_t{k.chunk} * IOTRACE_CHUNK_PAGES,
                     reinterpret_cast<const uint64_t*>(chunk.bits[kind]), IOTRACE_CHUNK_WORDS,
                     &it->second.ranges);
        }
      });
  // Names: open each inode by handle (ino + generation) on its file system.
  std::map<uint64_t, std::string> mounts = MountsByDev();
  std::map<uint64_t, UniqueFd> mount_fds;
  for (auto& [id, f] : files) {
    NormalizeRanges(&f.ranges);
    std::string path;
    auto mount = mounts.find(f.dev);
    if (mount != mounts.end() && f.ino <= UINT32_MAX) {
      auto& mfd = mount_fds[f.dev];
      if (!mfd.valid()) {
        auto opened = UniqueFd::Open(mount->second, O_RDONLY | O_DIRECTORY);
        if (opened.ok()) mfd = std::move(*opened);
      }
      struct {
        struct file_handle h;
        uint32_t ino_gen[2];
      } handle;
      handle.h.handle_bytes = 8;
      handle.h.handle_type = 1;  // FILEID_INO32_GEN
      handle.ino_gen[0] = static_cast<uint32_t>(f.ino);
      handle.ino_gen[1] = generations[id];
      int fd = mfd.valid() ? ::open_by_handle_at(mfd.get(), &handle.h, O_PATH | O_CLOEXEC) : -1;
      if (fd >= 0) {
        UniqueFd opened = UniqueFd::Adopt(fd);
        auto named = FdPath(opened.get());
        if (named.ok()) path = std::move(*named);
      }
    }
    if (path.empty() || path.ends_with(" (deleted)")) {
      trace.loss.unresolved_files++;
      path.clear();
    }
    auto [layer, image_path] = SplitLayerPath(path);
    f.layer = layer;
    f.path = image_path;
    trace.files.push_back(std::move(f));
  }
  std::sort(trace.files.begin(), trace.files.end(),
            [](const TracedFile& a, const TracedFile& b) { return a.order < b.order; });
  return trace;
}

}  // namespace syspgo::trace
