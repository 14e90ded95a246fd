// SPDX-License-Identifier: Apache-2.0
// The shared eBPF core (src/bpf) with a probe of its own
// (tests/bpf/filter_probe.bpf.c): a missing tracepoint left out, the task
// filter by process tree (followed through fork), by mount namespace and by
// cgroup v2, each with a process outside it that must not be seen, and the
// ring buffer and map helpers. Needs root and a kernel with BTF.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "bpf/bpf_util.h"
#include "common/file_util.h"
#include "common/process.h"
#include "filter_probe.skel.h"

namespace syspgo::bpf {
namespace {

using Probe = SkeletonPtr<filter_probe_bpf, filter_probe_bpf__destroy>;

class BpfCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "loading BPF programs needs root";
    if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0) GTEST_SKIP() << "this kernel has no BTF";
    RouteLibbpfLogs(nullptr);
    probe_.reset(filter_probe_bpf__open());
    ASSERT_TRUE(probe_) << "open: " << std::strerror(errno);
    auto missing =
        DisableMissingTracepoints({{probe_->progs.on_missing, "syspgo_no_such_tracepoint"},
                                   {probe_->progs.on_exec, "sched_process_exec"}});
    ASSERT_TRUE(missing.ok()) << missing.status().ToString();
    EXPECT_EQ(*missing, std::vector<std::string>{"syspgo_no_such_tracepoint"});
    ASSERT_EQ(filter_probe_bpf__load(probe_.get()), 0)
        << "the probe loads without the missing program";
    ASSERT_EQ(filter_probe_bpf__attach(probe_.get()), 0);
    auto ring = RingBuffer::Create(
        bpf_map__fd(probe_->maps.events),
        [this](const void* data, size_t size) {
          if (size >= sizeof(uint32_t)) events_[*static_cast<const uint32_t*>(data)]++;
          return 0;
        },
        "filter probe events");
    ASSERT_TRUE(ring.ok()) << ring.status().ToString();
    ring_ = std::move(*ring);
  }

  TaskFilterView Filter() {
    return {&probe_->bss->targ_mntns, &probe_->bss->targ_pids, &probe_->bss->targ_cgroup,
            probe_->maps.tracked_pids};
  }

  // Execs counted per tgid by the probe.
  std::map<uint32_t, uint64_t> Execs() {
    std::map<uint32_t, uint64_t> out;
    ForEachEntry<uint32_t, uint64_t>(bpf_map__fd(probe_->maps.execs),
                                     [&](const uint32_t& k, const uint64_t& v) { out[k] = v; });
    return out;
  }
  static uint64_t Total(const std::map<uint32_t, uint64_t>& m) {
    uint64_t n = 0;
    for (const auto& [k, v] : m) n += v;
    return n;
  }

  // `argv` started with its stdin a pipe: it waits on `read` until Go().
  struct Gated {
    Subprocess process;
    UniqueFd gate;
    void Go() { gate.Reset(); }
  };
  Gated StartGated(const std::vector<std::string>& argv) {
    Gated g;
    auto pipe = Pipe::Create();
    EXPECT_TRUE(pipe.ok());
    SpawnOptions so;
    so.stdin_fd = pipe->read_end.get();
    auto p = Subprocess::Spawn(argv, so);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    g.process = std::move(*p);
    g.gate = std::move(pipe->write_end);
    return g;
  }
  // An exec by a process the filter does not name; its pid.
  pid_t RunOutside() {
    auto p = Subprocess::Spawn({"/bin/true"});
    EXPECT_TRUE(p.ok());
    if (!p.ok()) return 0;
    const pid_t pid = p->pid();
    EXPECT_TRUE(p->Wait().ok());
    return pid;
  }
  void DrainEvents() { ASSERT_TRUE(ring_.Poll(std::chrono::milliseconds(100)).ok()); }

  Probe probe_;
  RingBuffer ring_;
  std::map<uint32_t, uint64_t> events_;
};

TEST_F(BpfCoreTest, ProcessTreeIsFollowedThroughFork) {
  // sh, gated, then children that exec /bin/true (the shell may run the
  // last command itself, and may still be exec'ing sh when tracked: those
  // count under its own pid).
  Gated g = StartGated({"/bin/sh", "-c", "read x; /bin/true; /bin/true; /bin/true"});
  ASSERT_TRUE(FilterProcessTree(Filter(), g.process.pid()).ok());
  const pid_t outside = RunOutside();
  g.Go();
  auto exit = g.process.WaitFor(std::chrono::seconds(10));
  ASSERT_TRUE(exit.ok());
  DrainEvents();
  auto execs = Execs();
  size_t children = 0;
  for (const auto& [tgid, n] : execs) {
    if (tgid != static_cast<uint32_t>(g.process.pid())) children += n;
  }
  EXPECT_GE(children, 2u) << "the tracked shell's forked children";
  EXPECT_LE(Total(execs), 5u);
  EXPECT_EQ(execs.count(static_cast<uint32_t>(outside)), 0u) << "a process outside the tree";
  EXPECT_EQ(events_, execs) << "the ring buffer saw what the map counted";
  EXPECT_EQ(probe_->bss->fork_overflow, 0u);
}

TEST_F(BpfCoreTest, MountNamespaceIsMatched) {
  if (::access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "unshare (util-linux) is missing";
  Gated g = StartGated({"/usr/bin/unshare", "-m", "/bin/sh", "-c", "read x; /bin/true"});
  ASSERT_TRUE(MountNamespaceOf(::getpid()).ok());
  const uint64_t ours = *MountNamespaceOf(::getpid());
  uint64_t theirs = ours;
  for (int i = 0; i < 200 && theirs == ours; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto ns = MountNamespaceOf(g.process.pid());
    if (ns.ok()) theirs = *ns;
  }
  ASSERT_NE(theirs, ours) << "unshare -m did not make a namespace";
  FilterMountNamespace(Filter(), theirs);
  const pid_t outside = RunOutside();
  g.Go();
  ASSERT_TRUE(g.process.WaitFor(std::chrono::seconds(10)).ok());
  DrainEvents();
  // The /bin/true inside (and the sh, if unshare had not exec'd it yet).
  auto execs = Execs();
  EXPECT_GE(Total(execs), 1u);
  EXPECT_LE(Total(execs), 2u) << "only the sh and its /bin/true";
  EXPECT_EQ(execs.count(static_cast<uint32_t>(outside)), 0u);
}

TEST_F(BpfCoreTest, CgroupIsMatched) {
  // The cgroup v2 hierarchy: pure (/sys/fs/cgroup) or hybrid (.../unified).
  std::string base;
  for (const char* candidate : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
    if (base.empty() && PathExists(std::string(candidate) + "/cgroup.procs") &&
        PathExists(std::string(candidate) + "/cgroup.controllers")) {
      base = candidate;
    }
  }
  if (base.empty()) GTEST_SKIP() << "no cgroup v2 hierarchy mounted";
  const std::string cg = base + "/syspgo-bpf-test-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(cg.c_str(), 0755), 0) << std::strerror(errno);
  Gated g = StartGated({"/bin/sh", "-c", "read x; /bin/true"});
  {
    // cgroup.procs is written in place (cgroupfs has no rename).
    const std::string pid = std::to_string(g.process.pid());
    auto procs = UniqueFd::Open(cg + "/cgroup.procs", O_WRONLY);
    ASSERT_TRUE(procs.ok()) << procs.status().ToString();
    ASSERT_TRUE(WriteAll(procs->get(), std::string_view(pid), "cgroup.procs").ok());
  }
  auto id = CgroupId(cg);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(FilterCgroup(Filter(), cg).ok());
  const pid_t outside = RunOutside();
  g.Go();
  ASSERT_TRUE(g.process.WaitFor(std::chrono::seconds(10)).ok());
  DrainEvents();
  auto execs = Execs();
  EXPECT_GE(Total(execs), 1u) << "the /bin/true in the cgroup";
  EXPECT_LE(Total(execs), 2u) << "only the sh and its /bin/true";
  EXPECT_EQ(execs.count(static_cast<uint32_t>(outside)), 0u);
  EXPECT_EQ(::rmdir(cg.c_str()), 0) << std::strerror(errno);
  EXPECT_FALSE(FilterCgroup(Filter(), cg).ok()) << "a cgroup that is gone is an error";
}

TEST_F(BpfCoreTest, NothingSetMatchesNothing) {
  RunOutside();
  RunOutside();
  DrainEvents();
  EXPECT_TRUE(Execs().empty());
  EXPECT_TRUE(events_.empty());
}

}  // namespace
}  // namespace syspgo::bpf
