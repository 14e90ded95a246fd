// SPDX-License-Identifier: Apache-2.0
// `syspgo trace IMAGE`: a container started through the runc path, traced by
// its mount namespace, against a real registry.
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <set>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/process.h"
#include "integration/integration_env.h"
#include "trace/trace_format.h"

namespace syspgo::testing {
namespace {

// A python3 root file system from the host's Debian python3.11: the
// interpreter, the libraries it links, and the standard library.
Status MakePythonRootfs(const std::string& dir) {
  RETURN_IF_ERROR(MakeBusyboxRootfs(dir));
  RETURN_IF_ERROR(MakeDirs(JoinPath(dir, "usr/bin")));
  RETURN_IF_ERROR(MakeDirs(JoinPath(dir, "usr/lib")));
  RETURN_IF_ERROR(RunCommandOk({"cp", "-a", "/usr/bin/python3.11", JoinPath(dir, "usr/bin/")}));
  RETURN_IF_ERROR(RunCommandOk({"ln", "-s", "python3.11", JoinPath(dir, "usr/bin/python3")}));
  RETURN_IF_ERROR(RunCommandOk({"cp", "-a", "/usr/lib/python3.11", JoinPath(dir, "usr/lib/")}));
  ASSIGN_OR_RETURN(CommandOutput ldd, RunCommand({"ldd", "/usr/bin/python3.11"}));
  std::istringstream lines(ldd.output);
  std::string line;
  while (std::getline(lines, line)) {
    size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string lib = line.substr(slash, line.find(' ', slash) - slash);
    RETURN_IF_ERROR(RunCommandOk({"cp", "-L", "--parents", lib, dir}));
  }
  return Status::Ok();
}

class TraceImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_INTEGRATION_ENV();
    auto dir = TempDir::Create("/tmp", "syspgo-trace-image-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
    root_ = JoinPath(dir_.path(), "root");
  }
  Result<trace::Trace> TraceImage(std::vector<std::string> args) {
    std::string out = JoinPath(dir_.path(), "t.trace");
    std::vector<std::string> argv = {SYSPGO_BINARY, "trace", "--root", root_, "-o", out};
    argv.insert(argv.end(), args.begin(), args.end());
    ASSIGN_OR_RETURN(CommandOutput r, RunCommand(argv));
    if (!r.exit.success()) return Internal("syspgo trace failed: " + r.output);
    return trace::ReadTraceFile(out);
  }
  static std::set<std::string> Paths(const trace::Trace& t) {
    std::set<std::string> out;
    for (const auto& f : t.files) out.insert(f.path);
    return out;
  }
  TempDir dir_;
  std::string root_;
};

TEST_F(TraceImageTest, RecordsTheContainersFilesByImagePathAndLayer) {
  std::string ref = IntegrationEnv::Get().registry().address() + "/traced:busybox";
  std::string extra = MakeTar(
      {DirEntry("data/"), FileEntry("data/read.txt", 6), FileEntry("data/untouched.txt", 6)},
      {"", "hello\n", "nope!\n"});
  auto built = PushImage(ref, {{IntegrationEnv::Get().busybox_rootfs(), ""}, {"", extra}});
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  auto t = TraceImage({ref, "--", "sh", "-c", "cat /data/read.txt"});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  std::set<std::string> paths = Paths(*t);
  EXPECT_TRUE(paths.count("/bin/busybox"));
  EXPECT_TRUE(paths.count("/data/read.txt"));
  EXPECT_FALSE(paths.count("/data/untouched.txt"));
  for (const auto& f : t->files) {
    // Files are named by the layer (its diff_id) they were read from.
    if (f.path == "/data/read.txt") {
      EXPECT_EQ(f.layer, built->diff_ids[1].ToString());
    }
    if (f.path == "/bin/busybox") {
      EXPECT_EQ(f.layer, built->diff_ids[0].ToString());
      EXPECT_TRUE(f.flags & trace::kFileExec);
    }
  }
  EXPECT_EQ(MountsUnder(root_), 0);
}

TEST_F(TraceImageTest, ServiceTraceStopsAtTheKernelsListenEvent) {
  std::string ref = IntegrationEnv::Get().registry().address() + "/traced:httpd";
  ASSERT_TRUE(PushImage(ref, {{IntegrationEnv::Get().busybox_rootfs(), ""}}).ok());
  int port = FreeLocalPort();
  auto t = TraceImage({"--ready", "tcp:" + std::to_string(port), ref, "--", "httpd", "-f", "-p",
                       "127.0.0.1:" + std::to_string(port), "-h", "/www"});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_NE(t->ready.find("listen by pid"), std::string::npos) << t->ready;
  EXPECT_TRUE(Paths(*t).count("/bin/busybox"));
  EXPECT_EQ(MountsUnder(root_), 0);
}

TEST_F(TraceImageTest, PythonImportJson) {
  if (::access("/usr/bin/python3.11", X_OK) != 0) {
    GTEST_SKIP() << "python3.11 is not installed (apt-get install python3)";
  }
  std::string rootfs = JoinPath(dir_.path(), "python");
  Status made = MakePythonRootfs(rootfs);
  ASSERT_TRUE(made.ok()) << made.ToString();
  std::string ref = IntegrationEnv::Get().registry().address() + "/traced:python";
  ASSERT_TRUE(PushImage(ref, {{rootfs, ""}}).ok());
  auto t = TraceImage({ref, "--", "python3", "-c", "import json"});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  std::set<std::string> paths = Paths(*t);
  EXPECT_TRUE(paths.count("/usr/bin/python3.11"));
  bool libc = false, json = false, unrelated = false;
  for (const std::string& p : paths) {
    libc |= p.find("/libc.so") != std::string::npos;
    // Debian's interpreter links libpython statically; the json package is
    // read as its cached bytecode when that is valid, else as source.
    json |= p == "/usr/lib/python3.11/json/__init__.py" ||
            p == "/usr/lib/python3.11/json/__pycache__/__init__.cpython-311.pyc";
    unrelated |=
        p.find("/xmlrpc/") != std::string::npos || p.find("/tkinter/") != std::string::npos;
  }
  EXPECT_TRUE(libc);
  EXPECT_TRUE(json);
  EXPECT_FALSE(unrelated);
  // Every file read from the image is named by a layer. runc's own binary
  // is not the image's: `runc init` re-executes it after entering the
  // container's mount namespace, and when its pages are not cached (a busy
  // machine) those reads are the container's too, under the host's path.
  char runc[PATH_MAX] = {0};
  for (const char* candidate : {"/usr/sbin/runc", "/usr/bin/runc"}) {
    if (runc[0] == 0 && ::realpath(candidate, runc) == nullptr) runc[0] = 0;
  }
  for (const auto& f : t->files) {
    if (f.path.rfind("/usr/", 0) == 0 && f.path != runc) {
      EXPECT_FALSE(f.layer.empty()) << f.path;
    }
  }
}

}  // namespace
}  // namespace syspgo::testing
