// SPDX-License-Identifier: Apache-2.0
// `syspgo sched` against the real kernel (BPF, scheduling classes, cgroup
// v1 cpu): run-queue latency, CPU and preemptions per tag; tags passed on
// at fork in the kernel; the agent making batch work yield while online
// work waits, putting it back when online goes quiet, and a SIGKILLed
// agent's changes undone by the next start, for sched_idle and cpu.idle.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/process.h"
#include "sched/sched.h"
#include "sched/tags.h"

namespace syspgo::testing {
namespace {

using namespace std::chrono_literals;

class SchedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (BPF, scheduling policies, cgroups)";
    if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0) GTEST_SKIP() << "this kernel has no BTF";
    auto dir = TempDir::Create("/tmp", "syspgo-sched-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
    pin_root_ = "/sys/fs/bpf/syspgo-test-" + std::to_string(::getpid());
  }
  void TearDown() override {
    hogs_.clear();
    (void)RemoveTree(pin_root_);
  }

  std::vector<std::string> Common() {
    return {"--state-dir", dir_.path() + "/state", "--pin-root", pin_root_};
  }

  CommandOutput Sched(std::vector<std::string> args) {
    args.insert(args.begin(), {SYSPGO_BINARY, "sched"});
    const auto common = Common();
    args.insert(args.end(), common.begin(), common.end());
    auto out = RunCommand(args);
    EXPECT_TRUE(out.ok());
    return out.ok() ? *out : CommandOutput{};
  }

  void Tag(pid_t pid, const std::string& tag) {
    auto out = Sched({"tag", "set", "--pid", std::to_string(pid), tag});
    ASSERT_TRUE(out.exit.success()) << out.output;
  }

  // Two CPU hogs (this machine's CPU count, at least 2) tagged batch.
  void StartHogs() {
    const long cpus = std::max(2L, ::sysconf(_SC_NPROCESSORS_ONLN));
    for (long i = 0; i < cpus; ++i) {
      auto p = Subprocess::Spawn({"sh", "-c", "while :; do :; done"}, {.null_stdin = true});
      ASSERT_TRUE(p.ok());
      Tag(p->pid(), "batch");
      hogs_.push_back(std::move(*p));
    }
  }

  // A task that sleeps 2 ms at a time (each sleep a child process, which
  // takes the tag at fork), tagged online.
  Subprocess StartOnline() {
    auto p = Subprocess::Spawn({"sh", "-c", "while :; do sleep 0.002; done"}, {.null_stdin = true});
    EXPECT_TRUE(p.ok());
    if (!p.ok()) return {};
    Tag(p->pid(), "online");
    return std::move(*p);
  }

  bool AllHogs(int policy) {
    for (const Subprocess& h : hogs_) {
      if (::sched_getscheduler(h.pid()) != policy) return false;
    }
    return true;
  }
  bool WaitHogs(int policy, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (AllHogs(policy)) return true;
      std::this_thread::sleep_for(20ms);
    }
    return AllHogs(policy);
  }
  // The agent logs a change after making it: a test that saw the change
  // waits for its line.
  static bool WaitLog(const std::string& path, const std::string& line,
                      std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto text = ReadFileToString(path);
      if (text.ok() && text->find(line) != std::string::npos) return true;
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(20ms);
    }
  }

  std::string WritePolicy(const std::string& name, const std::string& watch,
                          const std::string& action) {
    const std::string path = dir_.path() + "/" + name + ".policy";
    const std::string text =
        "[rule " + name + "]\nwatch = " + watch +
        "\nwhen = runq_p99 > 200us\nwindow = 100ms\nmin_samples = 5\ntarget = batch\naction = " +
        action + "\nrestore_below = 100us\nrestore_after = 500ms\nrestore_cpu_below = 2%\n";
    EXPECT_TRUE(WriteFileAtomic(path, text, 0644, false).ok());
    return path;
  }

  Result<Subprocess> StartAgent(const std::string& policy, int log_fd) {
    std::vector<std::string> argv = {SYSPGO_BINARY, "sched", "agent", "--policy", policy};
    const auto common = Common();
    argv.insert(argv.end(), common.begin(), common.end());
    return Subprocess::Spawn(argv, {.stderr_fd = log_fd, .null_stdin = true});
  }

  static std::string CpuCgroupOf(pid_t pid) {
    auto text = ReadFileToString("/proc/" + std::to_string(pid) + "/cgroup");
    if (!text.ok()) return "";
    std::smatch m;
    static const std::regex re("(^|\n)[0-9]+:([a-z,]*,)?cpu(,[a-z,]*)?:([^\n]*)");
    return std::regex_search(*text, m, re) ? m[4].str() : "";
  }

  TempDir dir_;
  std::string pin_root_;
  std::vector<Subprocess> hogs_;
};

double Metric(const std::string& text, const std::string& series) {
  const size_t at = text.find(series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 1));
}

TEST_F(SchedTest, ObservesRunQueueLatencyPerTagAndTagsFollowFork) {
  StartHogs();
  Subprocess online = StartOnline();
  // A process tagged now that forks in a second, while the BPF programs run:
  // the kernel side gives its child the tag (the maps are not synced from
  // /proc until the 3 s refresh).
  auto parent = Subprocess::Spawn({"sh", "-c", "sleep 1; sleep 30 & wait"}, {.null_stdin = true});
  ASSERT_TRUE(parent.ok());
  Tag(parent->pid(), "forker");
  const std::string out_path = dir_.path() + "/top.prom";
  auto out_fd = UniqueFd::Open(out_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_TRUE(out_fd.ok());
  std::vector<std::string> argv = {SYSPGO_BINARY, "sched", "top",        "--prometheus",
                                   "--count",     "1",     "--interval", "3s"};
  for (const std::string& c : Common()) argv.push_back(c);
  auto top = Subprocess::Spawn(argv, {.stdout_fd = out_fd->get(), .null_stdin = true});
  ASSERT_TRUE(top.ok());
  // `parent`'s second child (`sleep 30`), forked a second after the tag was set.
  const std::string children = "/proc/" + std::to_string(parent->pid()) + "/task/" +
                               std::to_string(parent->pid()) + "/children";
  pid_t first = 0, child = 0;
  for (int i = 0; i < 200 && !child; ++i) {
    std::this_thread::sleep_for(20ms);
    auto kids = ReadFileToString(children);
    if (!kids.ok() || kids->empty()) continue;
    const pid_t k = static_cast<pid_t>(std::stol(*kids));
    if (!first)
      first = k;
    else if (k != first)
      child = k;
  }
  ASSERT_GT(child, 0);
  auto maps = sched::TagMaps::OpenPinned(pin_root_);
  ASSERT_TRUE(maps.ok()) << maps.status().ToString();
  auto store = sched::TagStore::Load(dir_.path() + "/state");
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(maps->TagOfTask(child, child), *store->FindId("forker"));
  EXPECT_GT(maps->InheritedCount(), 0u);

  auto exit = top->WaitFor(30s);
  ASSERT_TRUE(exit.ok());
  ASSERT_TRUE(exit->success()) << exit->ToString();
  auto text = ReadFileToString(out_path);
  ASSERT_TRUE(text.ok());
  // online woke up hundreds of times (its sleeps took its tag at fork) and
  // waited behind batch; batch used most of the CPUs and was preempted by online.
  EXPECT_GT(Metric(*text, "syspgo_sched_runq_latency_seconds_count{tag=\"online\"}"), 100) << *text;
  EXPECT_GT(Metric(*text, "syspgo_sched_cpu_seconds_total{tag=\"batch\"}"), 1.5) << *text;
  EXPECT_GT(Metric(*text, "syspgo_sched_preemptions_total{victim=\"batch\",by=\"online\"}"), 10)
      << *text;
  EXPECT_GE(Metric(*text, "syspgo_sched_cgroup_cpu_seconds_total{cgroup=\"/\"}"), 0) << *text;
  // `tag get` says where a task's tag comes from.
  auto got = Sched({"tag", "get", "--pid", std::to_string(child)});
  EXPECT_TRUE(got.exit.success()) << got.output;
  EXPECT_EQ(got.output.substr(0, 7), "forker\t") << got.output;
}

TEST_F(SchedTest, AgentYieldsRestoresAndIsUndoneAfterSigkill_SchedIdle) {
  StartHogs();
  const std::string log_path = dir_.path() + "/agent.log";
  auto log = UniqueFd::Open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  ASSERT_TRUE(log.ok());
  auto agent = StartAgent(WritePolicy("protect", "online", "sched_idle"), log->get());
  ASSERT_TRUE(agent.ok());
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(AllHogs(SCHED_OTHER)) << "no online work yet: batch must not be throttled";
  {
    Subprocess online = StartOnline();
    EXPECT_TRUE(WaitHogs(SCHED_IDLE, 10s)) << *ReadFileToString(log_path);
  }  // online stops: batch comes back after 500 ms of quiet
  EXPECT_TRUE(WaitHogs(SCHED_OTHER, 10s)) << *ReadFileToString(log_path);
  EXPECT_TRUE(WaitLog(log_path, "rule protect engaged: runq_p99 of online", 5s))
      << *ReadFileToString(log_path);
  EXPECT_TRUE(WaitLog(log_path, "rule protect restored", 5s)) << *ReadFileToString(log_path);

  Subprocess online = StartOnline();
  ASSERT_TRUE(WaitHogs(SCHED_IDLE, 10s)) << *ReadFileToString(log_path);
  ASSERT_TRUE(agent->Signal(SIGKILL).ok());
  ASSERT_TRUE(agent->Wait().ok());
  EXPECT_TRUE(AllHogs(SCHED_IDLE)) << "a killed agent undoes nothing itself";
  // The next agent (with a rule that watches nothing) undoes it first.
  auto next = StartAgent(WritePolicy("quiet", "nobody", "sched_idle"), log->get());
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(WaitHogs(SCHED_OTHER, 10s)) << *ReadFileToString(log_path);
  EXPECT_TRUE(WaitLog(log_path, "changes left by an agent that did not exit", 5s))
      << *ReadFileToString(log_path);
  ASSERT_TRUE(next->Signal(SIGTERM).ok());
  auto exit = next->WaitFor(10s);
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->success()) << exit->ToString();
  EXPECT_FALSE(PathExists(dir_.path() + "/state/journal"));
}

TEST_F(SchedTest, AgentCpuIdleCgroupIsUndoneAfterSigkill) {
  if (!PathExists("/sys/fs/cgroup/cpu/cgroup.procs") &&
      !PathExists("/sys/fs/cgroup/cgroup.controllers")) {
    GTEST_SKIP() << "no cpu cgroup controller";
  }
  StartHogs();
  const std::string before = CpuCgroupOf(hogs_[0].pid());
  const std::string log_path = dir_.path() + "/agent.log";
  auto log = UniqueFd::Open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  ASSERT_TRUE(log.ok());
  auto agent = StartAgent(WritePolicy("idlecg", "online", "cpu.idle"), log->get());
  ASSERT_TRUE(agent.ok());
  Subprocess online = StartOnline();
  bool moved = false;
  for (int i = 0; i < 200 && !moved; ++i) {
    std::this_thread::sleep_for(50ms);
    moved = CpuCgroupOf(hogs_[0].pid()) == "/syspgo-sched/idlecg";
  }
  ASSERT_TRUE(moved) << *ReadFileToString(log_path);
  auto idle = ReadFileToString("/sys/fs/cgroup/cpu/syspgo-sched/idlecg/cpu.idle");
  if (idle.ok()) {
    EXPECT_EQ(*idle, "1\n");
  }
  ASSERT_TRUE(agent->Signal(SIGKILL).ok());
  ASSERT_TRUE(agent->Wait().ok());
  EXPECT_EQ(CpuCgroupOf(hogs_[0].pid()), "/syspgo-sched/idlecg");
  auto next = StartAgent(WritePolicy("quiet", "nobody", "sched_idle"), log->get());
  ASSERT_TRUE(next.ok());
  bool back = false;
  for (int i = 0; i < 200 && !back; ++i) {
    std::this_thread::sleep_for(50ms);
    back = CpuCgroupOf(hogs_[0].pid()) == before &&
           !PathExists("/sys/fs/cgroup/cpu/syspgo-sched/idlecg");
  }
  EXPECT_TRUE(back) << CpuCgroupOf(hogs_[0].pid()) << "\n" << *ReadFileToString(log_path);
  ASSERT_TRUE(next->Signal(SIGTERM).ok());
  ASSERT_TRUE(next->WaitFor(10s).ok());
}

TEST_F(SchedTest, SchedExtBackendIsRefusedWithTheReason) {
  if (PathExists("/sys/kernel/sched_ext"))
    GTEST_SKIP() << "this kernel has sched_ext; the backend is not built yet";
  auto out = Sched(
      {"agent", "--policy", WritePolicy("x", "online", "sched_idle"), "--backend", "sched_ext"});
  EXPECT_FALSE(out.exit.success());
  EXPECT_NE(out.output.find("no sched_ext"), std::string::npos) << out.output;
}

}  // namespace
}  // namespace syspgo::testing
