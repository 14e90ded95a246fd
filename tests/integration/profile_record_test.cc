// SPDX-License-Identifier: Apache-2.0
// `syspgo profile record` on a real program compiled here (frame pointers,
// a leaf without a frame of its own): the hot path named right, the leaf's
// caller put back, the binary named by its build-id; a running process by
// --pid; and a process in another PID and mount namespace (a container's
// view: its binary at /spin inside a chroot), named by its path there.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/process.h"
#include "profile/elf_file.h"

namespace syspgo::testing {
namespace {

constexpr char kSpin[] = R"(#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) unsigned long hot_leaf(unsigned long x) {
  for (int i = 0; i < 1000; ++i) x = x * 6364136223846793005ul + 1442695040888963407ul;
  return x;
}
__attribute__((noinline)) unsigned long hot_caller(unsigned long x) {
  for (int i = 0; i < 100; ++i) x ^= hot_leaf(x);
  return x;
}
int main(int argc, char** argv) {
  long iters = (long)(atof(argv[1]) * 4000);
  unsigned long x = 1;
  for (long i = 0; i < iters; ++i) x += hot_caller(x);
  printf("%lu\n", x & 1);
  return 0;
}
)";

class ProfileRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "profiling needs root (BPF, perf events)";
    if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0) GTEST_SKIP() << "this kernel has no BTF";
    auto dir = TempDir::Create("/tmp", "syspgo-prof-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
    ASSERT_TRUE(WriteFileAtomic(Path("spin.c"), kSpin, 0644, false).ok());
    // -O1 keeps hot_leaf without a frame of its own (gcc omits leaf frames).
    Status built = RunCommandOk({"cc", "-O1", "-g", "-fno-omit-frame-pointer", "-static", "-o",
                                 Path("spin"), Path("spin.c")});
    if (!built.ok()) GTEST_SKIP() << "cannot build the test program: " << built.ToString();
  }

  std::string Path(const std::string& name) { return JoinPath(dir_.path(), name); }

  CommandOutput Record(std::vector<std::string> args) {
    args.insert(args.begin(), {SYSPGO_BINARY, "profile", "record"});
    auto out = RunCommand(args);
    EXPECT_TRUE(out.ok());
    return out.ok() ? *out : CommandOutput{};
  }

  // Folded lines (stack -> count) of a file.
  static std::map<std::string, uint64_t> Folded(const std::string& path) {
    std::map<std::string, uint64_t> out;
    auto text = ReadFileToString(path);
    if (!text.ok()) return out;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      const size_t sp = line.rfind(' ');
      if (sp != std::string::npos) out[line.substr(0, sp)] += std::stoull(line.substr(sp + 1));
    }
    return out;
  }

  // Samples whose stack ends in `suffix`, and all with hot_leaf as leaf.
  static std::pair<uint64_t, uint64_t> Count(const std::map<std::string, uint64_t>& folded,
                                             const std::string& suffix) {
    uint64_t match = 0, leaf = 0;
    for (const auto& [stack, n] : folded) {
      if (stack.ends_with(";hot_leaf")) leaf += n;
      if (stack.ends_with(suffix)) match += n;
    }
    return {match, leaf};
  }

  void ExpectBinary(const std::string& out, const std::string& path, const std::string& file) {
    auto text = ReadFileToString(JoinPath(out, "profiles.json"));
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    auto index = nlohmann::json::parse(*text, nullptr, false);
    ASSERT_TRUE(index.is_object());
    auto id = profile::ReadBuildId(file);
    ASSERT_TRUE(id.ok());
    bool found = false;
    for (const auto& b : index["binaries"]) {
      if (b["path"] == path) {
        found = true;
        EXPECT_EQ(b["build_id"], *id);
        const int64_t samples = b["samples"];
        const std::string file_name = b["files"][0];
        EXPECT_GT(samples, 10);
        EXPECT_TRUE(PathExists(JoinPath(out, file_name)));
      }
    }
    EXPECT_TRUE(found) << path << " in " << index.dump(2);
    EXPECT_EQ(index["stats"]["lost_user_stacks"], 0);
    EXPECT_EQ(index["stats"]["lost_keys"], 0);
  }

  TempDir dir_;
};

TEST_F(ProfileRecordTest, CommandHotPathWithTheLeafsCaller) {
  const std::string out = Path("out");
  auto r = Record({"--freq", "199", "-o", out, "--", Path("spin"), "0.8"});
  ASSERT_TRUE(r.exit.success()) << r.output;
  auto folded = Folded(JoinPath(out, "all.folded"));
  auto [full, leaf] = Count(folded, "main;hot_caller;hot_leaf");
  EXPECT_GT(leaf, 50u) << r.output;
  // Without the word at the stack pointer every one of these would read
  // main;hot_leaf: the frame-pointer walk skips a frameless leaf's caller.
  EXPECT_GE(full * 10, leaf * 9) << "hot_caller put back in >= 90%: " << full << " of " << leaf;
  ASSERT_NO_FATAL_FAILURE(ExpectBinary(out, Path("spin"), Path("spin")));
}

TEST_F(ProfileRecordTest, RunningProcessByPid) {
  auto spin = Subprocess::Spawn({Path("spin"), "3"});
  ASSERT_TRUE(spin.ok());
  const std::string out = Path("pid");
  auto r = Record({"--pid", std::to_string(spin->pid()), "--duration", "1", "-o", out});
  ASSERT_TRUE(r.exit.success()) << r.output;
  (void)spin->Signal(SIGKILL);
  (void)spin->Wait();
  auto [full, leaf] = Count(Folded(JoinPath(out, "all.folded")), "hot_caller;hot_leaf");
  EXPECT_GT(leaf, 30u);
  EXPECT_GE(full * 10, leaf * 9);
  ASSERT_NO_FATAL_FAILURE(ExpectBinary(out, Path("spin"), Path("spin")));
}

// A container's view: another PID namespace and mount namespace, the
// binary at /spin of its root. Named by the path the process sees and the
// build-id, which is the same as the file's outside.
TEST_F(ProfileRecordTest, ProcessInAnotherPidAndMountNamespace) {
  if (::access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "unshare (util-linux) is missing";
  const std::string root = Path("root");
  ASSERT_TRUE(MakeDirs(root).ok());
  ASSERT_TRUE(RunCommandOk({"cp", Path("spin"), JoinPath(root, "spin")}).ok());
  const std::string out = Path("ns");
  auto r = Record({"-o", out, "--", "/usr/bin/unshare", "--pid", "--fork", "--mount", "--root", root,
                   "/spin", "0.8"});
  ASSERT_TRUE(r.exit.success()) << r.output;
  auto [full, leaf] = Count(Folded(JoinPath(out, "all.folded")), "hot_caller;hot_leaf");
  EXPECT_GT(leaf, 30u) << r.output;
  ASSERT_NO_FATAL_FAILURE(ExpectBinary(out, "/spin", JoinPath(root, "spin")));
}

}  // namespace
}  // namespace syspgo::testing
