// SPDX-License-Identifier: Apache-2.0
// `syspgo trace` against known reads: every range read is covered, read and
// pread are recorded at most 1.1x, and nothing outside the traced tree is.
#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/process.h"
#include "support/registry_fixture.h"
#include "trace/readahead.h"
#include "trace/trace_format.h"

namespace syspgo::testing {
namespace {

constexpr uint64_t kPage = 4096;

class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "tracing needs root (CAP_BPF, CAP_PERFMON)";
    auto dir = TempDir::Create("/var/tmp", "syspgo-trace-test-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
  }
  // A file of `pages` random pages, not in the page cache.
  std::string MakeFile(const std::string& name, size_t pages) {
    std::string path = JoinPath(dir_.path(), name);
    std::mt19937_64 rng(pages);
    std::string data(pages * kPage, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    EXPECT_TRUE(WriteFileAtomic(path, data).ok());
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
    return path;
  }
  Result<trace::Trace> Trace(std::vector<std::string> cmd) {
    std::string out = JoinPath(dir_.path(), "t.trace");
    std::vector<std::string> argv = {SYSPGO_BINARY, "trace", "-o", out, "--"};
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    ASSIGN_OR_RETURN(CommandOutput r, RunCommand(argv));
    if (!r.exit.success()) return Internal("syspgo trace failed: " + r.output);
    return trace::ReadTraceFile(out);
  }
  static const trace::TracedFile* Find(const trace::Trace& t, const std::string& path) {
    for (const auto& f : t.files) {
      if (f.path == path) return &f;
    }
    return nullptr;
  }
  static uint64_t Pages(const trace::TracedFile& f, trace::AccessKind kind) {
    uint64_t n = 0;
    for (const auto& r : f.ranges) {
      if (r.kind == kind) n += r.pages;
    }
    return n;
  }
  static bool Covers(const trace::TracedFile& f, const std::vector<trace::AccessKind>& kinds,
                     uint64_t offset, uint64_t length) {
    for (uint64_t p = offset / kPage; p <= (offset + length - 1) / kPage; ++p) {
      bool hit = false;
      for (const auto& r : f.ranges) {
        for (auto k : kinds) hit |= r.kind == k && p >= r.first_page && p < r.first_page + r.pages;
      }
      if (!hit) return false;
    }
    return true;
  }
  TempDir dir_;
};

TEST_F(TraceTest, ReadAndPreadAreRecordedExactly) {
  std::string a = MakeFile("a", 256), b = MakeFile("b", 256);
  struct Range {
    std::string file, mode;
    uint64_t offset, length;
  };
  std::vector<Range> ranges = {{a, "read", 0, 4096},
                               {a, "read", 40960, 65536},
                               {a, "pread", 200 * 4096, 8192},
                               {b, "pread", 12345, 10000},
                               {b, "read", 100 * 4096, 4096 * 30}};
  std::vector<std::string> cmd = {READ_RANGES_BINARY};
  uint64_t pages_read = 0;
  for (const Range& r : ranges) {
    cmd.insert(cmd.end(), {r.file, r.mode, std::to_string(r.offset), std::to_string(r.length)});
    pages_read += (r.offset + r.length - 1) / kPage - r.offset / kPage + 1;
  }
  auto t = Trace(cmd);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const trace::TracedFile* fa = Find(*t, a);
  const trace::TracedFile* fb = Find(*t, b);
  ASSERT_TRUE(fa && fb);
  for (const Range& r : ranges) {
    EXPECT_TRUE(Covers(r.file == a ? *fa : *fb, {trace::AccessKind::kRead}, r.offset, r.length))
        << r.mode << " " << r.offset;
  }
  uint64_t recorded = Pages(*fa, trace::AccessKind::kRead) + Pages(*fb, trace::AccessKind::kRead);
  std::printf("read/pread: %lu pages read, %lu recorded (%.3fx)\n",
              static_cast<unsigned long>(pages_read), static_cast<unsigned long>(recorded),
              static_cast<double>(recorded) / pages_read);
  EXPECT_LE(static_cast<double>(recorded), 1.1 * pages_read);
  EXPECT_LT(fa->order, fb->order);  // first-access order
}

TEST_F(TraceTest, MmapFaultsAreCoveredAndFaultAroundIsLabelled) {
  std::string m = MakeFile("m", 512);
  auto t =
      Trace({READ_RANGES_BINARY, m, "mmap", std::to_string(10 * kPage), std::to_string(4 * kPage),
             m, "mmap", std::to_string(300 * kPage), std::to_string(kPage)});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const trace::TracedFile* f = Find(*t, m);
  ASSERT_NE(f, nullptr);
  using K = trace::AccessKind;
  EXPECT_TRUE(Covers(*f, {K::kFault, K::kFaultAround, K::kRead}, 10 * kPage, 4 * kPage));
  EXPECT_TRUE(Covers(*f, {K::kFault, K::kFaultAround, K::kRead}, 300 * kPage, kPage));
  uint64_t faulted = Pages(*f, K::kFault), around = Pages(*f, K::kFaultAround);
  std::printf("mmap: 5 pages touched; %lu recorded as faults, %lu as fault-around, %lu read\n",
              static_cast<unsigned long>(faulted), static_cast<unsigned long>(around),
              static_cast<unsigned long>(Pages(*f, K::kRead)));
  EXPECT_GE(faulted, 1u);
  if (!trace::ReadaheadSettingFor("/").empty()) {
    // Readahead is off while tracing, so every touched page faults itself.
    EXPECT_TRUE(Covers(*f, {K::kFault}, 10 * kPage, 4 * kPage));
    EXPECT_TRUE(Covers(*f, {K::kFault}, 300 * kPage, kPage));
    EXPECT_EQ(faulted, 5u);
  }
}

TEST_F(TraceTest, ProcessesOutsideTheTreeAreNotRecorded) {
  std::string inside = MakeFile("inside", 64), outside = MakeFile("outside", 64);
  // A host process reading `outside` over and over while the trace runs.
  SpawnOptions group;
  group.new_process_group = true;
  auto reader = Subprocess::Spawn(
      {"sh", "-c", "while true; do cat " + outside + " > /dev/null; done"}, group);
  ASSERT_TRUE(reader.ok());
  auto t = Trace({"sh", "-c", "cat " + inside + " > /dev/null; sleep 0.3"});
  ::kill(-reader->pid(), SIGKILL);  // the loop and its cat
  ASSERT_TRUE(reader->Wait().ok());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_NE(Find(*t, inside), nullptr);
  EXPECT_EQ(Find(*t, outside), nullptr);
  // The traced shell and cat were exec'd inside the tree.
  bool cat_exec = false;
  for (const auto& f : t->files)
    cat_exec |= (f.flags & trace::kFileExec) && f.path.ends_with("/cat");
  EXPECT_TRUE(cat_exec);
}

TEST_F(TraceTest, TcpReadinessStopsAtTheListenEvent) {
  std::string out = JoinPath(dir_.path(), "svc.trace");
  int port = FreeLocalPort();
  auto r = RunCommand({SYSPGO_BINARY, "trace", "--ready", "tcp:" + std::to_string(port), "-o", out,
                       "--", "busybox", "httpd", "-f", "-p", "127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->exit.success()) << r->output;
  auto t = trace::ReadTraceFile(out);
  ASSERT_TRUE(t.ok());
  EXPECT_NE(t->ready.find("listen by pid"), std::string::npos) << t->ready;
  EXPECT_GT(t->duration_ns, 0u);
}

TEST_F(TraceTest, CorruptTraceFilesAreRejected) {
  auto t = Trace({"true"});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  std::string path = JoinPath(dir_.path(), "t.trace");
  auto data = ReadFileToString(path);
  ASSERT_TRUE(data.ok());
  (*data)[data->size() / 2] ^= 0x10;
  ASSERT_TRUE(WriteFileAtomic(path, *data).ok());
  auto r = RunCommand({SYSPGO_BINARY, "trace", "show", path});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->exit.success());
  EXPECT_NE(r->output.find("checksum"), std::string::npos) << r->output;
}

TEST_F(TraceTest, WithoutPrivilegeItFailsWithOneSentence) {
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) is missing";
  auto r =
      RunCommand({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                  SYSPGO_BINARY, "trace", "-o", "/tmp/never.trace", "--", "true"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit.exit_code, 125);
  EXPECT_NE(r->output.find("tracing needs CAP_BPF and CAP_PERFMON"), std::string::npos)
      << r->output;
  EXPECT_EQ(std::count(r->output.begin(), r->output.end(), '\n'), 1) << r->output;
  EXPECT_FALSE(PathExists("/tmp/never.trace"));
}

TEST_F(TraceTest, PidModeFollowsARunningProcessAndItsChildren) {
  std::string early = MakeFile("early", 4), late = MakeFile("late", 4);
  // The process reads `early` before tracing starts and `late` (in a child)
  // after, then exits: only `late` belongs to the trace.
  std::string gate = JoinPath(dir_.path(), "gate");
  ASSERT_EQ(::mkfifo(gate.c_str(), 0600), 0);
  auto target = Subprocess::Spawn({"sh", "-c",
                                   "cat " + early + " > /dev/null; read -r _ < " + gate +
                                       "; sh -c 'cat " + late + " > /dev/null'; sleep 0.1"},
                                  SpawnOptions{.null_stdin = true});
  ASSERT_TRUE(target.ok());
  std::string out = JoinPath(dir_.path(), "pid.trace");
  auto tracer =
      Subprocess::Spawn({SYSPGO_BINARY, "trace", "-o", out, "--pid", std::to_string(target->pid())},
                        SpawnOptions{.null_stdin = true});
  ASSERT_TRUE(tracer.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // attached and armed
  {
    auto g = UniqueFd::Open(gate, O_WRONLY);
    ASSERT_TRUE(g.ok());
    ASSERT_TRUE(WriteAll(g->get(), std::string_view("\n"), gate).ok());
  }
  ASSERT_TRUE(target->Wait().ok());
  auto done = tracer->WaitFor(std::chrono::seconds(20));
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->success());
  auto t = trace::ReadTraceFile(out);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_NE(Find(*t, late), nullptr);
  EXPECT_EQ(Find(*t, early), nullptr);
  EXPECT_NE(t->ready.find("exit (pid"), std::string::npos) << t->ready;
}

std::string ReadSetting(const std::string& file) {
  auto v = ReadFileToString(file, 64);
  return v.ok() ? *v : "<" + v.status().message() + ">";
}

TEST_F(TraceTest, ReadaheadIsOffWhileTracingAndRestoredAfterSigkill) {
  std::string setting = trace::ReadaheadSettingFor("/");
  if (setting.empty()) GTEST_SKIP() << "the root file system's device has no readahead setting";
  const std::string before = ReadSetting(setting);
  ASSERT_NE(before, "0\n") << "readahead is already off; a killed run may have left it so";
  // The traced process outlives the tracer we kill: it is adopted by us
  // (subreaper), and we end exactly it, by the pid it wrote, no other.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  const std::string pid_file = JoinPath(dir_.path(), "traced.pid");
  auto child = Subprocess::Spawn({SYSPGO_BINARY, "trace", "-o", JoinPath(dir_.path(), "k.trace"),
                                  "--", "sh", "-c", "echo $$ > " + pid_file + "; exec sleep 30"},
                                 SpawnOptions{.null_stdin = true});
  ASSERT_TRUE(child.ok());
  bool off = false;
  for (int i = 0; i < 500 && !(off && PathExists(pid_file)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    off = ReadSetting(setting) == "0\n";
  }
  ASSERT_TRUE(off) << "readahead was not turned off while tracing";
  ASSERT_TRUE(PathExists(pid_file)) << "the traced command did not start";
  ASSERT_TRUE(child->Signal(SIGKILL).ok());
  ASSERT_TRUE(child->Wait().ok());
  EXPECT_EQ(ReadSetting(setting), "0\n");  // the killed tracer could not restore it
  // Any next start puts it back.
  auto r = RunCommand({SYSPGO_BINARY, "version"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ReadSetting(setting), before);
  auto records = ListDir(trace::kReadaheadRecordDir);
  if (records.ok()) {
    EXPECT_TRUE(records->empty());
  }
  // The traced `sleep` was a child of the killed tracer, now ours.
  auto pid_text = ReadFileToString(pid_file);
  ASSERT_TRUE(pid_text.ok()) << pid_text.status().ToString();
  const pid_t traced = static_cast<pid_t>(std::stol(*pid_text));
  ASSERT_GT(traced, 1);
  EXPECT_EQ(::kill(traced, SIGKILL), 0);
  EXPECT_EQ(::waitpid(traced, nullptr, 0), traced);
}

TEST_F(TraceTest, ReadaheadIsRestoredAfterANormalTrace) {
  std::string setting = trace::ReadaheadSettingFor("/");
  if (setting.empty()) GTEST_SKIP() << "the root file system's device has no readahead setting";
  const std::string before = ReadSetting(setting);
  auto t = Trace({"true"});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(ReadSetting(setting), before);
}

}  // namespace
}  // namespace syspgo::testing
