// SPDX-License-Identifier: Apache-2.0
// `syspgo trace`: record which pages of which files a process tree reads
// until it is ready, and `syspgo trace show`.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <nlohmann/json.hpp>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include "cli/args.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/image_trace.h"
#include "common/clock.h"
#include "common/file_util.h"
#include "common/process.h"
#include "common/procfs.h"
#include "node/deploy.h"
#include "oci/layer_store.h"
#include "oci/progress.h"
#include "oci/puller.h"
#include "run/container.h"
#include "run/readiness.h"
#include "trace/readahead.h"
#include "trace/tracer.h"

namespace syspgo::cli {
namespace {

constexpr char kTraceUsage[] = R"(USAGE: syspgo trace [OPTIONS] -o FILE IMAGE [-- CMD ARGS...]
       syspgo trace [OPTIONS] -o FILE -- CMD ARGS...
       syspgo trace [OPTIONS] -o FILE --pid PID
       syspgo trace show [--ranges] FILE

Records, with eBPF, exactly which pages of which files a process tree reads
(read/pread, mmap faults, fault-around, exec) from its start until it is
ready, aggregated in the kernel, and writes a trace file
(docs/trace-format.md). With IMAGE, the image is pulled, the page cache is
dropped, and the container is started through the runc path of `syspgo
run`; everything in its mount namespace is recorded, each file named by its
path in the image and its layer. Otherwise only the traced tree is recorded:
the command and everything it forks, or PID and its descendants.

OPTIONS:
  -o, --output FILE   the trace file to write
  --ready COND        exit (default: the command, or PID, exits) or tcp:PORT
                      (a traced process starts listening on PORT; the
                      kernel's LISTEN event, not polling); for IMAGE also
                      file:PATH and log:REGEX, as for `syspgo run`
  --timeout SECS      give up when not ready after SECS (default 300)
  --pid PID           trace a running process and its descendants
  --drop-caches       drop the page cache first (cold start: mmap faults are
                      only seen for pages not yet cached)
  --keep-readahead    leave the device's readahead as it is (by default it is
                      off while tracing and restored afterwards, also by the
                      next syspgo start if the tracer is killed)
  --after-ready MS    (IMAGE, tcp/file/log readiness) keep tracing this long
                      after readiness (default 250): a service reads on for
                      a moment after it listens, and a start from the
                      runtime image is only known to be ready a little later
  -v, --verbose       libbpf's messages
  --timing-json FILE  (IMAGE) the start's phases, as `syspgo run` writes them
  --root, --insecure-registry, --authfile, --pull, --runc: as for `syspgo run`

  show FILE           summary: files, pages, bytes, layers, duration, readiness
  show --ranges FILE  also every page range of every file

EXAMPLES:
  syspgo trace -o py.trace 127.0.0.1:5000/python:3 -- python3 -c 'import json'
  syspgo trace -o py.trace -- python3 -c 'import json'
  syspgo trace --ready tcp:6379 -o redis.trace -- redis-server
  syspgo trace show --ranges py.trace
)";

void PrintTrace(const trace::Trace& t, bool ranges) {
  std::set<std::string> layers;
  uint64_t exec_files = 0;
  for (const auto& f : t.files) {
    if (!f.layer.empty()) layers.insert(f.layer);
    if (f.flags & trace::kFileExec) exec_files++;
  }
  auto pages = [&](trace::AccessKind k) { return t.TotalPages(k); };
  auto bytes = [&](uint64_t p) { return oci::HumanBytes(static_cast<double>(p * t.page_size)); };
  std::printf("target:    %s\n", t.target.c_str());
  std::printf("ready:     %s after %.3f s\n", t.ready.c_str(),
              static_cast<double>(t.duration_ns) / 1e9);
  std::printf("files:     %zu (%" PRIu64 " executed), in %zu layers\n", t.files.size(), exec_files,
              layers.size());
  std::printf("read:      %" PRIu64 " pages (%s)\n", pages(trace::AccessKind::kRead),
              bytes(pages(trace::AccessKind::kRead)).c_str());
  std::printf("mmap:      %" PRIu64 " pages (%s) faulted, %" PRIu64 " pages (%s) mapped around\n",
              pages(trace::AccessKind::kFault), bytes(pages(trace::AccessKind::kFault)).c_str(),
              pages(trace::AccessKind::kFaultAround),
              bytes(pages(trace::AccessKind::kFaultAround)).c_str());
  const auto& l = t.loss;
  if (l.chunk_overflow || l.file_overflow || l.pid_overflow || l.events_dropped ||
      l.unresolved_files) {
    std::printf(
        "LOSS:      %" PRIu64 " page chunks and %" PRIu64 " files over map capacity, %" PRIu64
        " pids untracked, %" PRIu64 " events dropped, %" PRIu64 " files unnamed\n",
        l.chunk_overflow, l.file_overflow, l.pid_overflow, l.events_dropped, l.unresolved_files);
  }
  std::printf("\n%5s %9s %8s %8s %8s  %s\n", "order", "first ms", "read", "mmap", "around",
              "path [layer]");
  for (const auto& f : t.files) {
    uint64_t per[3] = {0, 0, 0};
    for (const auto& r : f.ranges) per[static_cast<int>(r.kind)] += r.pages;
    std::printf("%5" PRIu64 " %9.3f %8" PRIu64 " %8" PRIu64 " %8" PRIu64 "  %s%s%s%s\n", f.order,
                static_cast<double>(f.first_access_ns) / 1e6, per[0], per[1], per[2],
                f.path.empty() ? "<unresolved>" : f.path.c_str(),
                (f.flags & trace::kFileExec) ? " (exec)" : "", f.layer.empty() ? "" : " [",
                f.layer.empty() ? "" : (f.layer.substr(7, 12) + "]").c_str());
    if (ranges) {
      for (const auto& r : f.ranges) {
        std::printf("        %-12s pages %" PRIu64 "-%" PRIu64 " (bytes %" PRIu64 "-%" PRIu64 ")\n",
                    std::string(trace::AccessKindName(r.kind)).c_str(), r.first_page,
                    r.first_page + r.pages - 1, r.first_page * t.page_size,
                    (r.first_page + r.pages) * t.page_size - 1);
      }
    }
  }
}

// Reads the maps and names the trace.
Result<trace::Trace> CollectTrace(trace::IoTracer& tracer, const std::string& target,
                                  const std::string& ready_text, uint64_t ready_ns) {
  ASSIGN_OR_RETURN(trace::Trace t, tracer.Collect());
  t.target = target;
  t.ready = ready_text;
  t.duration_ns = ready_ns > tracer.armed_at_ns() ? ready_ns - tracer.armed_at_ns() : 0;
  return t;
}

Status WriteAndPrint(const trace::Trace& t, const std::string& output) {
  RETURN_IF_ERROR(trace::WriteTraceFile(output, t));
  PrintTrace(t, false);
  std::fprintf(stderr, "syspgo: trace written to %s\n", output.c_str());
  return Status::Ok();
}

// Inside a container, exec opens the program through overlayfs: the kernel
// sees the overlay inode (no pages, no file handle) while the pages are read
// from the layer's real inode. Drop those page-less overlay entries and flag
// the real files by resolving each exec'd path inside the container's root.
void FixUpContainerExecs(const std::string& rootfs, const std::vector<std::string>& execs,
                         trace::Trace* t) {
  struct stat st;
  if (::stat(rootfs.c_str(), &st) != 0) return;
  const uint64_t overlay_dev = trace::KernelDev(st.st_dev);
  std::erase_if(t->files, [&](const trace::TracedFile& f) {
    bool drop = f.dev == overlay_dev && f.ranges.empty();
    if (drop && f.path.empty() && t->loss.unresolved_files > 0) t->loss.unresolved_files--;
    return drop;
  });
  auto root = UniqueFd::Open(rootfs, O_PATH | O_DIRECTORY);
  if (!root.ok()) return;
  for (const std::string& exec : execs) {
    auto real = run::ResolveInRoot(root->get(), exec);
    if (!real.ok()) continue;
    for (auto& f : t->files) {
      if (f.path == *real && !f.layer.empty()) f.flags |= trace::kFileExec;
    }
  }
}

// What the trace says met a tcp:PORT condition.
std::string ListenReadyText(const run::ReadyCondition& ready, const trace::TraceEvent& e) {
  return ready.ToString() + " (listen by pid " + std::to_string(e.pid) + " " + e.comm + ")";
}

Status DropPageCache() {
  ::sync();
  ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open("/proc/sys/vm/drop_caches", O_WRONLY));
  return WriteAll(fd.get(), std::string_view("1"), "/proc/sys/vm/drop_caches");
}

}  // namespace

Result<ImageTrace> TraceImageStart(const ParsedArgs& args, const std::string& image,
                                   const run::ReadyCondition& ready, int timeout_s,
                                   const CommandContext& ctx) {
  if (::geteuid() != 0) {
    return PermissionDenied("tracing a container needs root (BPF, overlayfs, runc)");
  }
  ASSIGN_OR_RETURN(oci::ImageReference ref, oci::ImageReference::Parse(image));
  ASSIGN_OR_RETURN(const int after_ready_ms, args.GetInt("after-ready", 250, 0, 60000));
  ASSIGN_OR_RETURN(std::unique_ptr<node::RegistrySetup> setup, MakeRegistrySetup(args, ctx));
  const Logger& log = setup->log;
  ASSIGN_OR_RETURN(const std::string root, StoreRoot(args));
  run::ContainerOptions copts;
  copts.state_root = root;
  copts.runc = args.Get("runc").value_or("runc");
  copts.command = args.rest;
  run::CleanupStaleContainers(root, copts.runc, &log);
  ASSIGN_OR_RETURN(oci::LayerStore store, oci::LayerStore::Open(root));
  oci::Puller puller(&store, setup->options, &log);
  ImageTrace out;
  // Until the container's root is mounted (syspgo gc sees it from then on).
  ASSIGN_OR_RETURN(UniqueFd gc_hold, oci::LayerStore::HoldAgainstGc(root, ctx.cancel));
  ASSIGN_OR_RETURN(node::PullPolicy pull,
                   node::ParsePullPolicy(args.Get("pull").value_or("always")));
  ASSIGN_OR_RETURN(out.image, node::ObtainImage(puller, ref, pull, 4, log));
  ASSIGN_OR_RETURN(std::unique_ptr<run::Container> container,
                   run::Container::Prepare(copts, out.image, &log));
  gc_hold.Reset();
  // Readahead off on the layer store's device while tracing (restored when
  // the guard goes, or by the next syspgo start if we are killed).
  trace::ReadaheadGuard readahead;
  if (!args.Has("keep-readahead")) {
    ASSIGN_OR_RETURN(readahead, trace::ReadaheadGuard::DisableFor(root));
  }
  // Cold: none of the image's pages cached.
  RETURN_IF_ERROR(DropPageCache());

  ASSIGN_OR_RETURN(std::unique_ptr<trace::IoTracer> tracer, trace::IoTracer::Create(&log));
  const auto t_create = SteadyClock::now();
  RETURN_IF_ERROR(container->Create());
  ASSIGN_OR_RETURN(uint64_t mntns, trace::MountNamespaceOf(container->init_pid()));
  tracer->TrackMountNamespace(mntns);
  tracer->Arm();
  RETURN_IF_ERROR(container->Start());
  out.running_s = SecondsSince(t_create);

  std::string listen_text;
  uint64_t listen_ns = 0;
  std::vector<std::string> execs;
  run::WaitOptions wopts;
  wopts.condition = ready;
  wopts.timeout = std::chrono::seconds(timeout_s);
  // Events are drained every turn; a tcp condition is met by the LISTEN event.
  wopts.probe_replaces_polling = ready.kind == run::ReadyCondition::kTcp;
  const std::function<void(const trace::TraceEvent&)> on_event = [&](const trace::TraceEvent& e) {
    if (e.type == trace::TraceEvent::kExec && !e.filename.empty()) execs.push_back(e.filename);
    if (ready.kind == run::ReadyCondition::kTcp && listen_text.empty() &&
        e.type == trace::TraceEvent::kListen && e.port == ready.port) {
      listen_text = ListenReadyText(ready, e);
      listen_ns = e.ts_ns;
    }
  };
  wopts.ready_probe = [&]() {
    tracer->Poll(std::chrono::milliseconds(0), on_event).IgnoreError();
    return !listen_text.empty();
  };
  auto outcome = container->Wait(wopts, *ctx.cancel);
  const uint64_t now_ns = MonotonicNs();
  if (outcome.ok() && outcome->ready && ready.kind != run::ReadyCondition::kExit) {
    const auto until = SteadyClock::now() + std::chrono::milliseconds(after_ready_ms);
    while (SteadyClock::now() < until && !ctx.cancel->cancelled()) {
      tracer->Poll(std::chrono::milliseconds(10), on_event).IgnoreError();
    }
  }
  tracer->Disarm();
  readahead.Restore().IgnoreError();
  tracer->Poll(std::chrono::milliseconds(0), on_event).IgnoreError();  // the rest
  if (!outcome.ok()) return outcome.status().WithContext("no trace written");
  if (!outcome->ready) {
    return Unavailable("the container " +
                       (outcome->exit ? outcome->exit->ToString() : std::string("stopped")) +
                       " without becoming ready (" + ready.ToString() + "); no trace written");
  }
  out.ready_s = outcome->ready_seconds;
  std::string ready_text = listen_text.empty() ? ready.ToString() : listen_text;
  // Collect while the container's root and upper directory still exist.
  ASSIGN_OR_RETURN(
      out.trace, CollectTrace(*tracer, ref.ToString(), ready_text, listen_ns ? listen_ns : now_ns));
  FixUpContainerExecs(container->rootfs(), execs, &out.trace);
  container->Destroy().IgnoreError();
  return out;
}

namespace {

// `syspgo trace IMAGE`: the runc path of `syspgo run`, traced by the
// container's mount namespace from `runc start` to readiness.
int TraceImage(const ParsedArgs& args, const run::ReadyCondition& ready, int timeout_s,
               const std::string& output, const CommandContext& ctx) {
  auto traced = TraceImageStart(args, args.positional[0], ready, timeout_s, ctx);
  if (!traced.ok()) return Fail(traced.status());
  if (Status st = WriteAndPrint(traced->trace, output); !st.ok()) return Fail(st);
  if (auto path = args.Get("timing-json")) {
    // The same phases, measured the same way, as `syspgo run --timing-json`.
    nlohmann::json j = {{"image", traced->image.reference.ToString()},
                        {"ready_condition", ready.ToString()},
                        {"running_s", traced->running_s},
                        {"ready_s", traced->ready_s},
                        {"trace_duration_s", static_cast<double>(traced->trace.duration_ns) / 1e9}};
    if (Status st = WriteFileAtomic(*path, j.dump(2) + "\n", 0644, false); !st.ok()) {
      return Fail(st);
    }
  }
  return 0;
}

constexpr char kShowUsage[] = R"(USAGE: syspgo trace show [--ranges] FILE

Summarises a trace file (docs/trace-format.md): files, pages, bytes, layers,
duration and readiness.

OPTIONS:
  --ranges   also every page range of every file
)";

Status CheckWritableOutput(const std::string& path) {
  const std::string dir = DirName(path).empty() ? "." : DirName(path);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus(errno, "cannot write the trace: stat", dir);
  if (!S_ISDIR(st.st_mode))
    return InvalidArgument("cannot write the trace: " + dir + " is not a directory");
  if (::access(dir.c_str(), W_OK) != 0)
    return ErrnoStatus(errno, "cannot write the trace into", dir);
  return Status::Ok();
}

int ShowCommand(const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{"ranges", false}, {"help", false, 'h'}});
  if (!args.ok()) return Usage(kShowUsage, args.status());
  if (args->Has("help")) return Usage(kShowUsage);
  if (args->positional.size() != 1)
    return Usage(kShowUsage, InvalidArgument("show takes one FILE"));
  auto t = trace::ReadTraceFile(args->positional[0]);
  if (!t.ok()) return Fail(t.status());
  PrintTrace(*t, args->Has("ranges"));
  return 0;
}

}  // namespace

int TraceCommand(const std::vector<std::string>& argv, const CommandContext& ctx) {
  if (!argv.empty() && argv[0] == "show") {
    return ShowCommand({argv.begin() + 1, argv.end()});
  }
  auto args = ParseArgs(argv,
                        WithCommon({{"output", true, 'o'},
                                    {"ready", true},
                                    {"timeout", true},
                                    {"pid", true},
                                    {"drop-caches", false},
                                    {"keep-readahead", false},
                                    {"after-ready", true},
                                    {"pull", true},
                                    {"runc", true},
                                    {"timing-json", true}}),
                        /*stop_after_positionals=*/1);
  auto usage = [](const Status& st) { return Usage(kTraceUsage, st); };
  if (!args.ok()) return usage(args.status());
  if (args->Has("help")) {
    std::fputs(kTraceUsage, stdout);
    return 0;
  }
  auto output = args->Get("output");
  if (!output) return usage(InvalidArgument("trace needs -o FILE"));
  // Before the trace, not after it: a directory we cannot write to.
  if (Status st = CheckWritableOutput(*output); !st.ok()) return Fail(st);
  auto pid_arg = args->GetInt("pid", 0, 1, INT32_MAX);
  if (!pid_arg.ok()) return usage(pid_arg.status());
  const bool by_pid = args->Has("pid");
  const bool by_image = !args->positional.empty();
  if (by_pid + by_image + !args->rest.empty() == 0 || (by_pid && !args->rest.empty()) ||
      (by_pid && by_image)) {
    return usage(InvalidArgument("give an IMAGE, -- CMD ARGS..., or --pid PID"));
  }
  auto ready = run::ReadyCondition::Parse(args->Get("ready").value_or("exit"));
  if (!ready.ok()) return usage(ready.status());
  auto timeout = args->GetInt("timeout", 300, 1, 24 * 3600);
  if (!timeout.ok()) return usage(timeout.status());
  if (by_image) return TraceImage(*args, *ready, *timeout, *output, ctx);
  if (ready->kind != run::ReadyCondition::kExit && ready->kind != run::ReadyCondition::kTcp) {
    return usage(InvalidArgument("tracing a process supports --ready exit or tcp:PORT"));
  }
  if (args->Has("drop-caches")) {
    if (Status st = DropPageCache(); !st.ok()) return Fail(st);
  }

  Logger log(args->Has("verbose") ? LogLevel::kDebug : LogLevel::kWarning);
  // Readahead off on the device of the root file system (where programs and
  // their files live) while tracing; see trace/readahead.h.
  trace::ReadaheadGuard readahead;
  if (!args->Has("keep-readahead")) {
    auto guard = trace::ReadaheadGuard::DisableFor("/");
    if (!guard.ok()) return Fail(guard.status());
    readahead = std::move(*guard);
  }
  auto tracer = trace::IoTracer::Create(&log);
  if (!tracer.ok()) return Fail(tracer.status());
  for (const std::string& m : (*tracer)->missing_programs()) {
    log.Warning("this kernel has no " + m + " tracepoint; those accesses are not recorded");
  }

  // The traced process: a running one, or CMD held (SpawnOptions::held)
  // until it is tracked, so that it is traced from its first instruction.
  Subprocess child;
  pid_t target = 0;
  std::string target_text;
  if (by_pid) {
    target = *pid_arg;
    if (Status st = (*tracer)->TrackProcess(target); !st.ok()) return Fail(st);
    for (pid_t d : DescendantsOf(target)) (*tracer)->TrackProcess(d).IgnoreError();
    target_text = "pid " + std::to_string(target);
    (*tracer)->Arm();
  } else {
    SpawnOptions held;
    held.held = true;
    auto spawned = Subprocess::Spawn(args->rest, held);
    if (!spawned.ok()) return Fail(spawned.status());
    child = std::move(*spawned);
    target = child.pid();
    if (Status st = (*tracer)->TrackProcess(target); !st.ok()) return Fail(st);
    for (const auto& a : args->rest) target_text += (target_text.empty() ? "" : " ") + a;
    target_text = "cmd: " + target_text;
    (*tracer)->Arm();
    if (Status st = child.Start(); !st.ok()) return Fail(st);
  }

  // Until ready.
  const auto deadline = SteadyClock::now() + std::chrono::seconds(*timeout);
  std::string ready_text;
  uint64_t ready_ns = 0;
  int exit_code = 0;
  auto on_event = [&](const trace::TraceEvent& e) {
    if (!ready_text.empty()) return;
    if (ready->kind == run::ReadyCondition::kTcp && e.type == trace::TraceEvent::kListen &&
        e.port == ready->port) {
      ready_text = ListenReadyText(*ready, e);
      ready_ns = e.ts_ns;
    }
    if (ready->kind == run::ReadyCondition::kExit && by_pid && e.type == trace::TraceEvent::kExit &&
        e.pid == target) {
      ExitInfo info = ExitInfoFromWaitStatus(e.exit_status);
      ready_text = "exit (pid " + std::to_string(target) + " " + info.ToString() + ")";
      ready_ns = e.ts_ns;
    }
  };
  while (ready_text.empty()) {
    if (ctx.cancel->cancelled()) {
      (*tracer)->Disarm();
      return Fail(Cancelled("interrupted; no trace written"));
    }
    if (SteadyClock::now() > deadline) {
      (*tracer)->Disarm();
      return Fail(DeadlineExceeded("not ready (" + ready->ToString() + ") within " +
                                   std::to_string(*timeout) + " s; no trace written"));
    }
    if (Status st = (*tracer)->Poll(std::chrono::milliseconds(10), on_event); !st.ok()) {
      return Fail(st);
    }
    if (!by_pid && ready_text.empty()) {
      auto done = child.TryWait();
      if (!done.ok()) return Fail(done.status());
      if (*done) {
        (*tracer)->Poll(std::chrono::milliseconds(0), on_event).IgnoreError();
        if (!ready_text.empty()) break;
        if (ready->kind != run::ReadyCondition::kExit) {
          return Fail(Unavailable("the command exited (" + (*done)->ToString() +
                                  ") before it was ready (" + ready->ToString() + ")"));
        }
        exit_code = (*done)->ShellCode();
        ready_text = "exit (" + (*done)->ToString() + ")";
        ready_ns = MonotonicNs();
      }
    }
  }
  (*tracer)->Disarm();
  readahead.Restore().IgnoreError();
  if (child.running()) {
    child.Signal(SIGTERM).IgnoreError();
    child.WaitFor(std::chrono::seconds(5)).status().IgnoreError();
  }

  auto t = CollectTrace(**tracer, target_text, ready_text, ready_ns);
  if (!t.ok()) return Fail(t.status());
  if (Status st = WriteAndPrint(*t, *output); !st.ok()) return Fail(st);
  return exit_code;
}

}  // namespace syspgo::cli
