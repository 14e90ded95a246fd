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
#include "trace/iotrace.h"
#include "iotrace.skel.h"

static_assert(sizeof(iotrace_event) == 312, "iotrace_event ABI changed");
static_assert(sizeof(iotrace_chunk) == 8 * IOTRACE_KINDS * IOTRACE_CHUNK_WORDS);

namespace syspgo::trace {
namespace {

struct SkelDeleter {
  void operator()(iotrace_bpf* s) const { iotrace_bpf__destroy(s); }
};
struct RingDeleter {
  void operator()(ring_buffer* r) const { ring_buffer__free(r); }
};

// libbpf's messages go through our logger, debug ones only with -v.
int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof(buf), format, args);
  (void)!::write(STDERR_FILENO, "libbpf: ", 8);
  (void)!::write(STDERR_FILENO, buf, std::min<size_t>(n > 0 ? n : 0, sizeof(buf) - 1));
  return n;
}

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

uint64_t KernelDev(dev_t dev) {
  return (static_cast<uint64_t>(major(dev)) << 20) | minor(dev);
}

Result<uint64_t> MountNamespaceOf(pid_t pid) {
  struct stat st;
  std::string path = "/proc/" + std::to_string(pid) + "/ns/mnt";
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  return static_cast<uint64_t>(st.st_ino);
}

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
  std::unique_ptr<iotrace_bpf, SkelDeleter> skel;
  std::unique_ptr<ring_buffer, RingDeleter> ring;
  const std::function<void(const TraceEvent&)>* handler = nullptr;
  const Logger* log = nullptr;
};

IoTracer::IoTracer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IoTracer::~IoTracer() = default;

Result<std::unique_ptr<IoTracer>> IoTracer::Create(const Logger* log) {
  if (log && log->enabled(LogLevel::kDebug)) {
    libbpf_set_print(LibbpfPrint);
  } else {
    libbpf_set_print(nullptr);
  }
  auto impl = std::make_unique<Impl>();
  impl->log = log;
  // Open.
  impl->skel.reset(iotrace_bpf__open());
  if (!impl->skel) return ErrnoStatus(errno, "open BPF object iotrace");
  // Programs whose tracepoint this kernel lacks are left out.
  std::vector<std::string> missing;
  struct btf* vmlinux = btf__load_vmlinux_btf();
  if (vmlinux == nullptr) {
    return Unimplemented("this kernel has no BTF (/sys/kernel/btf/vmlinux); the tracer needs it");
  }
  struct Optional {
    bpf_program* prog;
    const char* tracepoint;
  } optional[] = {
      {impl->skel->progs.on_get_pages, "btf_trace_mm_filemap_get_pages"},
      {impl->skel->progs.on_fault, "btf_trace_mm_filemap_fault"},
      {impl->skel->progs.on_map_pages, "btf_trace_mm_filemap_map_pages"},
      {impl->skel->progs.on_sock_state, "btf_trace_inet_sock_set_state"},
  };
  for (const Optional& o : optional) {
    if (btf__find_by_name_kind(vmlinux, o.tracepoint, BTF_KIND_TYPEDEF) < 0) {
      bpf_program__set_autoload(o.prog, false);
      missing.push_back(o.tracepoint + 10);  // without "btf_trace_"
    }
  }
  btf__free(vmlinux);
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
  impl->ring.reset(ring_buffer__new(
      bpf_map__fd(impl->skel->maps.events),
      [](void* ctx, void* data, size_t size) -> int {
        auto* self = static_cast<Impl*>(ctx);
        if (size < sizeof(iotrace_event) || self->handler == nullptr) return 0;
        const auto* e = static_cast<const iotrace_event*>(data);
        TraceEvent ev;
        ev.type = static_cast<TraceEvent::Type>(e->type);
        ev.pid = static_cast<pid_t>(e->pid);
        ev.ts_ns = e->ts_ns;
        ev.exit_status = e->exit_code;
        ev.port = e->port;
        ev.comm.assign(e->comm, strnlen(e->comm, sizeof(e->comm)));
        ev.filename.assign(e->filename, strnlen(e->filename, sizeof(e->filename)));
        (*self->handler)(ev);
        return 0;
      },
      impl.get(), nullptr));
  if (!impl->ring) return ErrnoStatus(errno, "create ring buffer (iotrace events)");
  std::unique_ptr<IoTracer> tracer(new IoTracer(std::move(impl)));
  tracer->missing_ = std::move(missing);
  if (tracer->missing_.size() == 4 ||
      std::count(tracer->missing_.begin(), tracer->missing_.end(), "mm_filemap_get_pages")) {
    return Unimplemented("this kernel lacks the filemap:mm_filemap_get_pages tracepoint");
  }
  return tracer;
}

Status IoTracer::TrackProcess(pid_t pid) {
  __u32 key = static_cast<__u32>(pid);
  __u8 one = 1;
  int err = bpf_map__update_elem(impl_->skel->maps.tracked_pids, &key, sizeof(key), &one,
                                 sizeof(one), BPF_ANY);
  if (err) return ErrnoStatus(-err, "track pid", std::to_string(pid));
  impl_->skel->bss->targ_pids = 1;
  return Status::Ok();
}

void IoTracer::TrackMountNamespace(uint64_t mntns_inode) {
  impl_->skel->bss->targ_mntns = mntns_inode;
}

void IoTracer::Arm() {
  armed_at_ns_ = MonotonicNs();
  __atomic_store_n(&impl_->skel->bss->armed, 1, __ATOMIC_SEQ_CST);
}

void IoTracer::Disarm() { __atomic_store_n(&impl_->skel->bss->armed, 0, __ATOMIC_SEQ_CST); }

Status IoTracer::Poll(std::chrono::milliseconds timeout,
                      const std::function<void(const TraceEvent&)>& handler) {
  impl_->handler = &handler;
  int n = ring_buffer__poll(impl_->ring.get(), static_cast<int>(timeout.count()));
  impl_->handler = nullptr;
  if (n < 0 && n != -EINTR) return ErrnoStatus(-n, "poll ring buffer (iotrace events)");
  return Status::Ok();
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
  int files_fd = bpf_map__fd(impl_->skel->maps.files);
  iotrace_file_key key{}, next{};
  void* prev = nullptr;
  std::map<std::pair<uint32_t, uint64_t>, uint32_t> generations;
  while (bpf_map_get_next_key(files_fd, prev, &next) == 0) {
    iotrace_file value{};
    if (bpf_map_lookup_elem(files_fd, &next, &value) == 0) {
      TracedFile f;
      f.dev = next.dev;
      f.ino = next.ino;
      f.size = value.size;
      f.flags = value.flags & IOTRACE_FILE_EXEC ? kFileExec : 0;
      f.first_access_ns = value.first_ns > armed_at_ns_ ? value.first_ns - armed_at_ns_ : 0;
      f.order = value.seq;
      files[{next.dev, next.ino}] = std::move(f);
      generations[{next.dev, next.ino}] = value.generation;
    }
    key = next;
    prev = &key;
  }
  // Page bitmaps.
  int chunks_fd = bpf_map__fd(impl_->skel->maps.chunks);
  iotrace_chunk_key ckey{}, cnext{};
  prev = nullptr;
  while (bpf_map_get_next_key(chunks_fd, prev, &cnext) == 0) {
    iotrace_chunk chunk{};
    if (bpf_map_lookup_elem(chunks_fd, &cnext, &chunk) == 0) {
      auto it = files.find({cnext.dev, cnext.ino});
      if (it != files.end()) {
        for (int kind = 0; kind < IOTRACE_KINDS; ++kind) {
          AppendRuns(static_cast<AccessKind>(kind),
                     uint64_t{cnext.chunk} * IOTRACE_CHUNK_PAGES,
                     reinterpret_cast<const uint64_t*>(chunk.bits[kind]),
                     IOTRACE_CHUNK_WORDS, &it->second.ranges);
        }
      }
    }
    ckey = cnext;
    prev = &ckey;
  }
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
