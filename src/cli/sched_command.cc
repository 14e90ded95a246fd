// SPDX-License-Identifier: Apache-2.0
// syspgo sched: scheduling tags, observation and the policy agent
// (sched/tags.h, sched/observer.h, sched/agent.h; docs/sched.md).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "cli/args.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "common/file_util.h"
#include "common/procfs.h"
#include "sched/agent.h"
#include "sched/agent_status.h"
#include "sched/histogram.h"
#include "sched/observer.h"
#include "sched/report.h"
#include "sched/tags.h"

namespace syspgo::cli {
namespace {

constexpr char kUsage[] = R"(USAGE: syspgo sched COMMAND [OPTIONS]

Scheduling on a stock kernel with eBPF: tags on processes, threads and
cgroups; run-queue latency, CPU time and preemptions per tag and cgroup;
a policy agent that makes batch work yield while latency-sensitive work
needs the CPU, and puts it back when it does not (docs/sched.md).

COMMANDS:
  tag set (--pid PID | --tid TID | --cgroup PATH) TAG
                  tag a process (and what it forks), a thread, or a cgroup v2
                  (and the cgroups below it); persisted, and mirrored into the
                  pinned BPF maps every syspgo BPF program reads
  tag rm (--pid PID | --tid TID | --cgroup PATH)
  tag get (--pid PID | --tid TID)   the tag a task has, and where it comes from
  tag ls          every tag set
  top             live run-queue latency, CPU and preemptions per tag and cgroup
  agent --policy FILE   run a policy (examples/sched/online-batch.policy) until
                  SIGINT/SIGTERM; every change is undone on exit, and by the
                  next start after a SIGKILL
  status          what this host offers (cgroups, bpffs, sched_ext) and
                  whether an agent left changes to undo

COMMON OPTIONS:
  --state-dir DIR   tags and the agent's journal (default /var/lib/syspgo/sched)
  --pin-root DIR    where the tag maps are pinned (default /sys/fs/bpf/syspgo)
  -v                more detail (libbpf's messages; every change undone)
)";

constexpr char kTopUsage[] = R"(USAGE: syspgo sched top [OPTIONS]

Per tag (and the busiest cgroups v2): CPU use, wake-ups, run-queue latency
(wake-up or preemption to running: p50, p99, p99.9, mean; buckets are 25%
wide) and involuntary preemptions, then who preempted whom, by tag.

OPTIONS:
  --interval DUR   refresh period (default 1s)
  --count N        stop after N refreshes (default: until SIGINT)
  --cgroups N      cgroups shown (default 10; 0: none)
  --prometheus     print Prometheus' text format (cumulative) instead of a table
)";

constexpr char kAgentUsage[] = R"(USAGE: syspgo sched agent --policy FILE [OPTIONS]

Runs the policy's rules until SIGINT or SIGTERM (docs/sched.md). Each rule
watches a tag's run-queue latency over windows and makes a target tag yield
(sched_idle, cpu.idle or affinity CPUS) while it is too high, then restores
it. Changes are journaled (STATE_DIR/journal) before they are made and
undone on exit; after a SIGKILL, the next agent undoes them first.

OPTIONS:
  --policy FILE        the rules
  --metrics-file FILE  Prometheus text, rewritten every second
  --backend NAME       "classes" (default: the kernel's scheduling classes,
                       cgroups and affinity) or "sched_ext" (refused where the
                       kernel has no sched_ext)
  --check              parse the policy, print the rules and exit
)";

struct Common {
  std::string state_dir = sched::kDefaultStateDir;
  std::string pin_root = sched::kDefaultPinRoot;
};

Common CommonOf(const ParsedArgs& a) {
  Common c;
  if (auto v = a.Get("state-dir")) c.state_dir = *v;
  if (auto v = a.Get("pin-root")) c.pin_root = *v;
  return c;
}

std::vector<OptionSpec> WithCommon(std::vector<OptionSpec> specs) {
  specs.push_back({"state-dir", true});
  specs.push_back({"pin-root", true});
  specs.push_back({"verbose", false, 'v'});
  specs.push_back({"help", false, 'h'});
  return specs;
}

Result<pid_t> ParsePid(const std::string& s) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end || v <= 0 || v > (1 << 22))
    return InvalidArgument("'" + s + "' is not a pid");
  return static_cast<pid_t>(v);
}

Result<sched::Target> TargetOf(const ParsedArgs& a) {
  const int n = (a.Has("pid") ? 1 : 0) + (a.Has("tid") ? 1 : 0) + (a.Has("cgroup") ? 1 : 0);
  if (n != 1) return InvalidArgument("give one of --pid, --tid, --cgroup");
  if (a.Has("cgroup")) return sched::ResolveCgroup(*a.Get("cgroup"));
  sched::Target t;
  t.kind = a.Has("pid") ? sched::TargetKind::kProcess : sched::TargetKind::kThread;
  ASSIGN_OR_RETURN(t.id, ParsePid(*a.Get(a.Has("pid") ? "pid" : "tid")));
  auto start = ProcStartTime(t.id);
  if (!start.ok()) return NotFound("no " + t.Describe());
  t.start_time = *start;
  if (t.kind == sched::TargetKind::kProcess && !sched::TargetAlive(t)) {
    return InvalidArgument(std::to_string(t.id) + " is a thread, not a process: use --tid");
  }
  return t;
}

int TagCommand(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") {
    return argv.empty() ? Usage(kUsage, InvalidArgument("tag needs set, rm, get or ls"))
                        : Usage(kUsage);
  }
  const std::string& sub = argv[0];
  auto args = ParseArgs({argv.begin() + 1, argv.end()},
                        WithCommon({{"pid", true}, {"tid", true}, {"cgroup", true}}));
  if (!args.ok()) return Usage(kUsage, args.status());
  if (args->Has("help")) return Usage(kUsage);
  const Common c = CommonOf(*args);
  if (sub == "ls") {
    auto store = sched::TagStore::Load(c.state_dir);
    if (!store.ok()) return Fail(store.status());
    std::printf("%-8s %-10s %-24s %s\n", "KIND", "ID", "TAG", "ALIVE");
    for (const sched::TagEntry& e : store->entries()) {
      const std::string id = e.target.kind == sched::TargetKind::kCgroup
                                 ? e.target.cgroup
                                 : std::to_string(e.target.id);
      std::printf("%-8s %-10s %-24s %s\n",
                  std::string(sched::TargetKindName(e.target.kind)).c_str(), id.c_str(),
                  e.tag.c_str(), sched::TargetAlive(e.target) ? "yes" : "no");
    }
    auto maps = sched::TagMaps::OpenPinned(c.pin_root);
    if (maps.ok())
      std::printf("(%zu more tasks carry a tag inherited at fork)\n", maps->InheritedCount());
    return 0;
  }
  auto target = TargetOf(*args);
  if (!target.ok()) return Usage(kUsage, target.status());
  if (sub == "set") {
    if (args->positional.size() != 1)
      return Usage(kUsage, InvalidArgument("tag set needs one TAG"));
    if (Status st = sched::ValidateTagName(args->positional[0]); !st.ok()) return Usage(kUsage, st);
    if (Status st = sched::SetTag(c.state_dir, c.pin_root, *target, args->positional[0]); !st.ok())
      return Fail(st);
    return 0;
  }
  if (!args->positional.empty())
    return Usage(kUsage, InvalidArgument("unexpected '" + args->positional[0] + "'"));
  if (sub == "rm") {
    if (Status st = sched::SetTag(c.state_dir, c.pin_root, *target, ""); !st.ok()) return Fail(st);
    return 0;
  }
  if (sub == "get") {
    if (target->kind == sched::TargetKind::kCgroup) {
      auto store = sched::TagStore::Load(c.state_dir);
      if (!store.ok()) return Fail(store.status());
      const sched::TagEntry* e = store->Find(*target);
      if (!e) return Fail(NotFound(target->Describe() + " has no tag"));
      std::printf("%s\n", e->tag.c_str());
      return 0;
    }
    auto store = sched::TagStore::Load(c.state_dir);
    if (!store.ok()) return Fail(store.status());
    pid_t tgid = target->id;
    if (target->kind == sched::TargetKind::kThread) {
      auto t = TgidOf(target->id);
      if (!t.ok()) return Fail(t.status());
      tgid = *t;
    }
    std::string why;
    std::string tag = sched::EffectiveTag(*store, tgid, target->id, &why);
    // Tags passed on at fork while a BPF program ran are only in the maps.
    if (tag.empty()) {
      auto maps = sched::TagMaps::OpenPinned(c.pin_root);
      if (maps.ok()) {
        if (uint32_t id = maps->TagOfTask(tgid, target->id)) {
          tag = store->NameOf(id);
          why = "inherited at fork (BPF map)";
        }
      }
    }
    if (tag.empty()) return Fail(NotFound(target->Describe() + " has no tag"));
    std::printf("%s\t%s\n", tag.c_str(), why.c_str());
    return 0;
  }
  return Usage(kUsage, InvalidArgument("unknown tag subcommand '" + sub + "'"));
}

int TopCommand(const std::vector<std::string>& argv, const CommandContext& ctx) {
  auto args = ParseArgs(
      argv,
      WithCommon({{"interval", true}, {"count", true}, {"cgroups", true}, {"prometheus", false}}));
  if (!args.ok()) return Usage(kTopUsage, args.status());
  if (args->Has("help")) return Usage(kTopUsage);
  uint64_t interval_ns = 1'000'000'000;
  if (auto v = args->Get("interval");
      v && (!sched::ParseDurationNs(*v, &interval_ns) || interval_ns < 10'000'000)) {
    return Usage(kTopUsage,
                 InvalidArgument("--interval: a duration of at least 10ms (e.g. 500ms, 2s)"));
  }
  auto count = args->GetInt("count", 0, 0, 1 << 30);
  if (!count.ok()) return Usage(kTopUsage, count.status());
  auto cgroups = args->GetInt("cgroups", 10, 0, 10000);
  if (!cgroups.ok()) return Usage(kTopUsage, cgroups.status());
  if (::geteuid() != 0) return Fail(PermissionDenied("sched top needs root (BPF); try sudo"));
  Logger log(args->Has("verbose") ? LogLevel::kDebug : LogLevel::kWarning);
  const Common c = CommonOf(*args);
  auto observer = sched::Observer::Start({c.state_dir, c.pin_root}, &log);
  if (!observer.ok()) return Fail(observer.status());
  const bool tty = ::isatty(STDOUT_FILENO) && !args->Has("prometheus");
  sched::Snapshot prev = (*observer)->Read();
  for (int n = 0; *count == 0 || n < *count; ++n) {
    const uint64_t until = prev.at_ns + interval_ns;
    while (!ctx.cancel->cancelled() && MonotonicNs() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(
          std::min<uint64_t>(50, (until - std::min(until, MonotonicNs())) / 1000000 + 1)));
    }
    if (ctx.cancel->cancelled()) break;
    if (Status st = (*observer)->SyncTags(); !st.ok()) log.Warning(st.ToString());
    const sched::Snapshot now = (*observer)->Read();
    const auto paths = sched::CgroupPaths();
    std::string text =
        args->Has("prometheus")
            ? sched::PrometheusText(now, (*observer)->store(), paths)
            : sched::TopTable(now.Minus(prev), now.at_ns - prev.at_ns, (*observer)->store(), paths,
                              static_cast<size_t>(*cgroups));
    if (!args->Has("prometheus")) {
      // The agent's rules, and the tasks that keep undoing its changes.
      auto agent = sched::ReadAgentStatus(c.state_dir);
      if (agent.ok() && agent->has_value()) text += sched::AgentStatusText(**agent, 10);
    }
    if (tty)
      text = "\x1b[H\x1b[2J" + text;
    else if (!args->Has("prometheus"))
      text += "\n";
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    prev = now;
  }
  return 0;
}

int AgentCommand(const std::vector<std::string>& argv, const CommandContext& ctx) {
  auto args = ParseArgs(
      argv,
      WithCommon({{"policy", true}, {"metrics-file", true}, {"backend", true}, {"check", false}}));
  if (!args.ok()) return Usage(kAgentUsage, args.status());
  if (args->Has("help")) return Usage(kAgentUsage);
  if (!args->Has("policy")) return Usage(kAgentUsage, InvalidArgument("--policy FILE is needed"));
  auto policy = sched::LoadPolicy(*args->Get("policy"));
  if (!policy.ok()) return Fail(policy.status());
  if (args->Has("check")) {
    for (const sched::Rule& r : policy->rules) std::printf("%s\n", r.Describe().c_str());
    return 0;
  }
  const std::string backend = args->Get("backend").value_or("classes");
  if (backend == "sched_ext") {
    if (!PathExists("/sys/kernel/sched_ext")) {
      return Fail(Unimplemented(
          "this kernel has no sched_ext (CONFIG_SCHED_CLASS_EXT: /sys/kernel/sched_ext is "
          "missing); use --backend classes"));
    }
    return Fail(
        Unimplemented("the sched_ext backend is not built in this version (docs/sched.md); use "
                      "--backend classes"));
  }
  if (backend != "classes")
    return Usage(kAgentUsage, InvalidArgument("--backend: classes or sched_ext"));
  if (::geteuid() != 0)
    return Fail(PermissionDenied("the agent needs root (BPF, scheduling policies, cgroups)"));
  Logger log(args->Has("verbose") ? LogLevel::kDebug : LogLevel::kInfo);
  const Common c = CommonOf(*args);
  sched::AgentOptions options;
  options.observer = {c.state_dir, c.pin_root};
  options.metrics_file = args->Get("metrics-file").value_or("");
  auto agent = sched::Agent::Start(*policy, options, &log);
  if (!agent.ok()) return Fail(agent.status());
  log.Info("agent running (" + std::to_string(policy->rules.size()) +
           " rules); SIGINT or SIGTERM to stop");
  Status st = (*agent)->Run(*ctx.cancel);
  if (!st.ok()) return Fail(st);
  return 0;
}

int StatusCommand(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, WithCommon({}));
  if (!args.ok()) return Usage(kUsage, args.status());
  const Common c = CommonOf(*args);
  bool v2cpu = false;
  const std::string cpu_root = sched::CpuControllerRoot(&v2cpu);
  const std::string v2 = sched::CgroupV2Root();
  std::printf("cgroup v2:      %s\n", v2.empty() ? "not mounted" : v2.c_str());
  std::printf("cpu controller: %s\n", cpu_root.empty()
                                          ? "none (cpu.idle action unavailable)"
                                          : (cpu_root + (v2cpu ? " (v2)" : " (v1)")).c_str());
  std::printf("sched_ext:      %s\n", PathExists("/sys/kernel/sched_ext")
                                          ? "available (backend not built)"
                                          : "not in this kernel");
  std::printf("tag maps:       %s\n", sched::TagMaps::OpenPinned(c.pin_root).ok()
                                          ? ("pinned in " + c.pin_root).c_str()
                                          : "not pinned (no observer has run)");
  auto agent = sched::ReadAgentStatus(c.state_dir);
  if (agent.ok() && agent->has_value()) {
    std::printf("agent:          pid %d\n", (*agent)->pid);
    const std::string text = sched::AgentStatusText(**agent, 20);
    if (!text.empty()) std::printf("%s", text.c_str());
  } else {
    std::printf("agent:          not running\n");
  }
  if (PathExists(JoinPath(c.state_dir, "journal.bad"))) {
    std::printf("set aside:      %s (journal records that could not be undone)\n",
                JoinPath(c.state_dir, "journal.bad").c_str());
  }
  const std::string journal = JoinPath(c.state_dir, "journal");
  auto text = ReadFileToString(journal, 1 << 20);
  std::printf("agent journal:  %s\n",
              !text.ok()
                  ? "none"
                  : (std::to_string(SplitLines(*text).size()) + " changes in " + journal).c_str());
  return 0;
}

}  // namespace

int SchedCommand(const std::vector<std::string>& argv, const CommandContext& ctx) {
  if (argv.empty())
    return Usage(kUsage, InvalidArgument("sched needs a command: tag, top, agent or status"));
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (argv[0] == "--help" || argv[0] == "-h") return Usage(kUsage);
  if (argv[0] == "tag") return TagCommand(rest);
  if (argv[0] == "top") return TopCommand(rest, ctx);
  if (argv[0] == "agent") return AgentCommand(rest, ctx);
  if (argv[0] == "status") return StatusCommand(rest);
  return Usage(kUsage, InvalidArgument("unknown sched command '" + argv[0] + "'"));
}

}  // namespace syspgo::cli
