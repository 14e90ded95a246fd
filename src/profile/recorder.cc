// SPDX-License-Identifier: Apache-2.0
#include "profile/recorder.h"

#include <linux/perf_event.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <set>

#include "bpf/bpf_util.h"
#include "common/clock.h"
#include "common/cpu_list.h"
#include "common/file_util.h"
#include "common/unique_fd.h"
#include "profile/elf_file.h"
#include "profile/profile.h"
#include "profile.skel.h"

namespace syspgo::profile {
namespace {

struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};

struct ProcessInfo {
  std::string comm;
  std::vector<Mapping> maps;
  bool read = false;
  int64_t read_ns = 0;                      // when the maps were read (monotonic)
  std::pair<uint64_t, uint64_t> exe{0, 0};  // (dev, inode) of /proc/PID/exe when read
};

// The program a process runs now: it changes at exec.
std::pair<uint64_t, uint64_t> ExeOf(pid_t pid) {
  struct stat st;
  if (::stat(("/proc/" + std::to_string(pid) + "/exe").c_str(), &st) != 0) return {0, 0};
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

// Whether the x86-64 instruction that ends at file offset `ret` of fd is
// a call: E8 rel32, or FF /2 (call r/m64) in its register, register
// indirect, disp8, disp32 and RIP-relative forms, with or without a REX
// prefix. A return address is always right after one.
bool CallEndsAt(int fd, uint64_t ret) {
  if (fd < 0 || ret < 7) return false;
  unsigned char b[7];
  if (::pread(fd, b, sizeof(b), static_cast<off_t>(ret - 7)) != static_cast<ssize_t>(sizeof(b))) {
    return false;
  }
  auto is_call_rm = [&](int at) {  // FF with ModRM.reg == 2 at b[at], ModRM at b[at+1]
    return b[at] == 0xFF && ((b[at + 1] >> 3) & 7) == 2;
  };
  if (b[2] == 0xE8) return true;                                          // call rel32 (5 bytes)
  if (is_call_rm(5) && (b[6] >> 6) == 3) return true;                     // call reg (2)
  if (is_call_rm(4) && (b[5] >> 6) == 1) return true;                     // call [reg+disp8] (3)
  if (is_call_rm(4) && (b[5] >> 6) == 0 && (b[5] & 7) == 4) return true;  // call [sib] (3)
  if (is_call_rm(1) && ((b[2] >> 6) == 2 || (b[2] & 0xC7) == 0x05)) return true;  // disp32, rip (6)
  if (is_call_rm(0) && (b[1] >> 6) == 2 && (b[1] & 7) == 4) return true;        // [sib+disp32] (7)
  if (is_call_rm(4) && (b[3] & 0xF0) == 0x40 && (b[5] >> 6) == 1) return true;  // REX, disp8
  return false;
}

const Mapping* MappingAt(const std::vector<Mapping>& maps, uint64_t ip) {
  for (const Mapping& m : maps) {
    if (ip >= m.start && ip < m.end) return &m;
  }
  return nullptr;
}

}  // namespace

std::vector<Mapping> ParseMaps(std::string_view text) {
  std::vector<Mapping> out;
  for (std::string_view view : SplitLines(text)) {
    const std::string line(view);
    unsigned long long start = 0, end = 0, offset = 0, inode = 0;
    char perms[8] = {0};
    int path_at = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %*x:%*x %llu %n", &start, &end, perms,
                    &offset, &inode, &path_at) < 5 ||
        path_at == 0) {
      continue;
    }
    if (perms[2] != 'x' || inode == 0) continue;  // executable file mappings only
    std::string path = line.substr(static_cast<size_t>(path_at));
    if (path.empty() || path[0] != '/') continue;
    if (path.ends_with(" (deleted)")) path.resize(path.size() - 10);
    out.push_back({start, end, offset, std::move(path), ""});
  }
  return out;
}

struct Recorder::Impl {
  bpf::SkeletonPtr<profile_bpf, profile_bpf__destroy> skel;
  std::vector<UniqueFd> perf_fds;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links;
  std::map<pid_t, ProcessInfo> processes;
  // Build-ids by (dev, inode) of the mapped file, read once.
  std::map<std::pair<uint64_t, uint64_t>, std::string> build_ids;
  // By build-id; each keeps its file open, for reading its code and
  // DWARF after its processes are gone.
  std::map<std::string, std::shared_ptr<const ElfFile>> binaries;
  RecordOptions options;
  int64_t started_ns = 0;
  bool stopped = false;

  bpf::TaskFilterView Filter() {
    return {&skel->bss->targ_mntns, &skel->bss->targ_pids, &skel->bss->targ_cgroup,
            skel->maps.tracked_pids};
  }

  void ReadProcess(pid_t pid, ProcessInfo* info) {
    info->read = true;
    info->read_ns = MonotonicNs();
    const std::string proc = "/proc/" + std::to_string(pid);
    // A process that is exiting has released its memory: its maps read
    // empty. The mappings read before stay (its samples were taken in
    // them); a read replaces them only when it has some.
    auto maps = ReadFileToString(proc + "/maps");
    if (!maps.ok()) return;
    std::vector<Mapping> fresh = ParseMaps(*maps);
    if (fresh.empty()) return;
    info->maps = std::move(fresh);
    info->exe = ExeOf(pid);
    auto comm = ReadFileToString(proc + "/comm");
    if (comm.ok()) {
      info->comm = *comm;
      while (!info->comm.empty() && info->comm.back() == '\n') info->comm.pop_back();
    }
    // /proc/PID/maps names files as *we* see them; a process in another
    // root (a container) sees them below its root: the name it knows.
    char root_buf[4096];
    const ssize_t n = ::readlink((proc + "/root").c_str(), root_buf, sizeof(root_buf) - 1);
    const std::string root = n > 0 ? std::string(root_buf, static_cast<size_t>(n)) : "/";
    for (Mapping& m : info->maps) {
      // The mapped file itself, whatever namespace it is in.
      char range[64];
      std::snprintf(range, sizeof(range), "/map_files/%" PRIx64 "-%" PRIx64, m.start, m.end);
      std::string file = proc + range;
      struct stat st;
      if (::stat(file.c_str(), &st) != 0) {
        file = m.path;  // without CAP_SYS_ADMIN: the name, from our root
        if (::stat(file.c_str(), &st) != 0) {
          if (options.log) options.log->Debug(ErrnoStatus(errno, "stat", file).message());
          continue;
        }
      }
      if (root != "/" && m.path.size() > root.size() && m.path.compare(0, root.size(), root) == 0 &&
          m.path[root.size()] == '/') {
        m.path = m.path.substr(root.size());
      }
      auto key = std::make_pair(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
      auto it = build_ids.find(key);
      if (it == build_ids.end()) {
        auto elf = ElfFile::Load(file);
        if (!elf.ok() && options.log) options.log->Debug(elf.status().message());
        std::string id = elf.ok() ? elf->build_id() : std::string();
        if (!id.empty() && !binaries.count(id)) {
          binaries.emplace(id, std::make_shared<const ElfFile>(std::move(*elf)));
        }
        it = build_ids.emplace(key, id).first;
      }
      m.build_id = it->second;
    }
  }
};

Recorder::Recorder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Recorder::~Recorder() = default;

Result<std::unique_ptr<Recorder>> Recorder::Create(const RecordOptions& options) {
  if (options.frequency < 1 || options.frequency > 10000) {
    return InvalidArgument("the sampling frequency must be 1-10000 Hz");
  }
  bpf::RouteLibbpfLogs(options.log);
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->skel.reset(profile_bpf__open());
  if (!impl->skel) return ErrnoStatus(errno, "open BPF object profile");
  ASSIGN_OR_RETURN(std::vector<std::string> missing,
                   bpf::DisableMissingTracepoints(
                       {{impl->skel->progs.task_filter_on_fork, "sched_process_fork"},
                        {impl->skel->progs.task_filter_on_exit, "sched_process_exit"}}));
  (void)missing;  // without them, --pid follows no children: said by TrackProcess's caller
  int err = profile_bpf__load(impl->skel.get());
  if (err) {
    if (err == -EPERM || err == -EACCES) {
      return PermissionDenied(
          "profiling needs CAP_BPF and CAP_PERFMON (run syspgo profile as root)");
    }
    return ErrnoStatus(-err, "load BPF programs (profile)");
  }
  err = profile_bpf__attach(impl->skel.get());
  if (err) return ErrnoStatus(-err, "attach BPF programs (profile)");
  for (int cpu : OnlineCpus()) {
    perf_event_attr attr{};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.freq = 1;
    attr.sample_freq = static_cast<uint64_t>(options.frequency);
    const int fd =
        static_cast<int>(::syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      if (errno == ENODEV) continue;  // CPU went offline
      return ErrnoStatus(errno, "perf_event_open cpu-clock", "cpu " + std::to_string(cpu));
    }
    impl->perf_fds.push_back(UniqueFd::Adopt(fd));
    bpf_link* link = bpf_program__attach_perf_event(impl->skel->progs.on_sample, fd);
    if (!link) return ErrnoStatus(errno, "attach the sampler", "cpu " + std::to_string(cpu));
    impl->links.emplace_back(link);
  }
  if (impl->links.empty()) return Unavailable("no online CPU to sample");
  return std::unique_ptr<Recorder>(new Recorder(std::move(impl)));
}

Status Recorder::TrackProcess(pid_t pid) { return bpf::FilterProcessTree(impl_->Filter(), pid); }

Status Recorder::TrackCgroup(const std::string& path) {
  return bpf::FilterCgroup(impl_->Filter(), path);
}

void Recorder::TrackAll() { impl_->skel->bss->targ_all = 1; }

void Recorder::Start() {
  impl_->started_ns = MonotonicNs();
  __atomic_store_n(&impl_->skel->bss->armed, 1, __ATOMIC_SEQ_CST);
}

void Recorder::Refresh() {
  // Processes with a new stack since the last pass (the program adds a
  // pid with each new key; a process that execs has new stacks), taken
  // out of the map so that the next pass sees only newer ones.
  std::set<pid_t> seen;
  const int pids_fd = bpf_map__fd(impl_->skel->maps.pids);
  bpf::ForEachEntry<uint32_t, uint8_t>(
      pids_fd, [&](const uint32_t& pid, const uint8_t&) { seen.insert(static_cast<pid_t>(pid)); });
  for (pid_t pid : seen) {
    const uint32_t key = static_cast<uint32_t>(pid);
    bpf_map_delete_elem(pids_fd, &key);
  }
  for (pid_t pid : seen) {
    ProcessInfo& info = impl_->processes[pid];
    // Read at its first stack; again after an exec, or (libraries it
    // loaded since) when it has new stacks a second after the last read.
    if (!info.read || MonotonicNs() - info.read_ns > 1000000000) {
      impl_->ReadProcess(pid, &info);
    } else {
      auto exe = ExeOf(pid);
      if (exe.first != 0 && exe != info.exe) impl_->ReadProcess(pid, &info);
    }
  }
}

Result<Recording> Recorder::Stop() {
  __atomic_store_n(&impl_->skel->bss->armed, 0, __ATOMIC_SEQ_CST);
  Recording rec;
  rec.frequency = impl_->options.frequency;
  rec.seconds = static_cast<double>(MonotonicNs() - impl_->started_ns) / 1e9;
  Refresh();
  impl_->links.clear();
  impl_->perf_fds.clear();
  const profile_stats& s = impl_->skel->bss->stats;
  rec.stats.samples = s.samples;
  rec.stats.lost_user_stacks = s.lost_user_stack;
  rec.stats.lost_kernel_stacks = s.lost_kernel_stack;
  rec.stats.lost_keys = s.lost_keys;
  rec.stats.idle = s.idle;
  rec.stats.lost_pids = s.lost_pids;
  const int stacks_fd = bpf_map__fd(impl_->skel->maps.stacks);
  const int stacks2_fd = bpf_map__fd(impl_->skel->maps.stacks2);
  // A stack by its id in the key (profile.h: PROFILE_SECOND_MAP).
  auto lookup_stack = [&](int32_t id, uint64_t* ips) {
    if (id < 0) return false;
    const bool second = (id & PROFILE_SECOND_MAP) != 0;
    const uint32_t key = static_cast<uint32_t>(id & ~PROFILE_SECOND_MAP);
    return bpf_map_lookup_elem(second ? stacks2_fd : stacks_fd, &key, ips) == 0;
  };
  std::set<pid_t> without_maps;
  bpf::ForEachEntry<profile_key, uint64_t>(
      bpf_map__fd(impl_->skel->maps.counts), [&](const profile_key& k, const uint64_t& count) {
        Sample sample;
        sample.pid = static_cast<pid_t>(k.pid);
        sample.count = count;
        const ProcessInfo& info = impl_->processes[sample.pid];
        sample.comm = info.comm;
        if (info.maps.empty()) without_maps.insert(sample.pid);
        uint64_t ips[PROFILE_MAX_DEPTH] = {0};
        if (lookup_stack(k.kernel_stack, ips)) {
          for (uint64_t ip : ips) {
            if (ip == 0) break;
            Frame f;
            f.path = "[kernel]";
            f.kernel = true;
            f.offset = ip;
            sample.frames.push_back(std::move(f));
          }
        }
        std::fill(std::begin(ips), std::end(ips), 0);
        if (lookup_stack(k.user_stack, ips)) {
          int depth = 0;
          for (uint64_t ip : ips) {
            if (ip == 0) break;
            // Return addresses (every frame but the leaf) point after the
            // call: one byte back is inside it.
            const uint64_t at = depth == 0 ? ip : ip - 1;
            ++depth;
            Frame f;
            const Mapping* m = MappingAt(info.maps, at);
            if (m) {
              f.path = m->path;
              f.build_id = m->build_id;
              f.offset = at - m->start + m->offset;
            } else {
              f.unmapped = true;
              f.offset = at;
              rec.stats.unresolved_frames += count;
            }
            sample.frames.push_back(std::move(f));
          }
          if (depth == PROFILE_MAX_DEPTH) rec.stats.truncated_stacks += count;
          if (k.kernel_stack < 0 && k.sp_word != 0) {
            const Mapping* m = MappingAt(info.maps, k.sp_word - 1);
            auto file = m ? impl_->binaries.find(m->build_id) : impl_->binaries.end();
            if (m && file != impl_->binaries.end() &&
                CallEndsAt(file->second->fd(), k.sp_word - m->start + m->offset)) {
              Frame f;
              f.path = m->path;
              f.build_id = m->build_id;
              f.offset = k.sp_word - 1 - m->start + m->offset;
              sample.sp_frame = std::move(f);
            }
          }
        }
        rec.samples.push_back(std::move(sample));
      });
  rec.stats.processes_without_maps = without_maps.size();
  rec.binaries = impl_->binaries;
  impl_->stopped = true;
  return rec;
}

}  // namespace syspgo::profile
