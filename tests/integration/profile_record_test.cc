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
#include <set>
#include <regex>
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
        EXPECT_GT(samples, 10);
        EXPECT_EQ(b["dwarf"], true) << "built with -g";
        std::set<std::string> kinds;
        for (const std::string name : b["files"]) {
          EXPECT_TRUE(PathExists(JoinPath(out, name))) << name;
          kinds.insert(name.substr(name.rfind('.')));
          EXPECT_EQ(name.rfind(BaseName(path) + "-" + *id + ".", 0), 0u) << name;
        }
        EXPECT_EQ(kinds, (std::set<std::string>{".folded", ".llvmprof", ".pprof"})) << b.dump();
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
  auto r = Record({"-o", out, "--", "/usr/bin/unshare", "--pid", "--fork", "--mount", "--root",
                   root, "/spin", "0.8"});
  ASSERT_TRUE(r.exit.success()) << r.output;
  auto [full, leaf] = Count(Folded(JoinPath(out, "all.folded")), "hot_caller;hot_leaf");
  EXPECT_GT(leaf, 30u) << r.output;
  ASSERT_NO_FATAL_FAILURE(ExpectBinary(out, "/spin", JoinPath(root, "spin")));
}

// The profile a compiler takes: spin built by clang-19 for profiling, its
// LLVM profile with hot_leaf's lines and hot_caller's call to it, read by
// clang-19 again without a warning; counted by source lines, and by machine
// blocks when the binary has a block map (-fbasic-block-address-map).
TEST_F(ProfileRecordTest, ClangTakesTheLlvmProfileWithoutWarnings) {
  const std::string clang = "/usr/lib/llvm-19/bin/clang";
  if (::access(clang.c_str(), X_OK) != 0)
    GTEST_SKIP() << "clang-19 is not installed (scripts/install-deps.sh)";
  for (const bool blocks : {false, true}) {
    SCOPED_TRACE(blocks ? "with a block map" : "by source lines");
    std::vector<std::string> flags = {"-O1", "-g", "-fdebug-info-for-profiling",
                                      "-fno-omit-frame-pointer"};
    if (blocks) flags.push_back("-fbasic-block-address-map");
    const std::string name = blocks ? "spin-blocks" : "spin-clang";
    std::vector<std::string> build = {clang};
    build.insert(build.end(), flags.begin(), flags.end());
    build.insert(build.end(), {"-o", Path(name), Path("spin.c")});
    ASSERT_TRUE(RunCommandOk(build).ok());
    auto elf = profile::ElfFile::Load(Path(name));
    ASSERT_TRUE(elf.ok());
    EXPECT_EQ(elf->has_blocks(), blocks);
    const std::string out = Path(name + ".prof");
    auto r = Record({"--freq", "499", "-o", out, "--", Path(name), "0.8"});
    ASSERT_TRUE(r.exit.success()) << r.output;
    const std::string llvmprof = JoinPath(out, name + "-" + elf->build_id() + ".llvmprof");
    auto text = ReadFileToString(llvmprof);
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    // hot_leaf starts at line 3; its loop is line 4 (offset 1).
    const std::regex leaf(R"((^|\n)hot_leaf:\d+:\d+\n( [0-9.]+: \d+\n)* 1(\.\d+)?: \d+\n)");
    EXPECT_TRUE(std::regex_search(*text, leaf)) << "hot_leaf's loop at offset 1:\n" << *text;
    const std::regex call(
        R"((^|\n)hot_caller:\d+:\d+\n( [0-9.]+: \d+( \S+:\d+)*\n)* 1(\.\d+)?: \d+ hot_leaf:\d+)");
    EXPECT_TRUE(std::regex_search(*text, call)) << "hot_caller's line 1 calls hot_leaf:\n" << *text;
    std::vector<std::string> rebuild = {clang};
    rebuild.insert(rebuild.end(), flags.begin(), flags.end());
    // docs/profile.md's rebuild flags.
    rebuild.insert(rebuild.end(), {"-fprofile-sample-use=" + llvmprof, "-fsample-profile-use-profi",
                                   "-mllvm", "-loop-vectorize-with-block-frequency=false",
                                   "-Werror", "-o", Path(name + "-pgo"), Path("spin.c")});
    auto rebuilt = RunCommand(rebuild);
    ASSERT_TRUE(rebuilt.ok());
    EXPECT_TRUE(rebuilt->exit.success()) << rebuilt->output;
    EXPECT_EQ(rebuilt->output, "") << "clang warned";
  }
}

// Go's PGO: a Go 1.23 program whose leaf (main.mix) sets up no frame. The
// pprof file is accepted by go build -pgo, and the compiler's call graph
// has the hot edge main.work -> main.mix (not main.main -> main.mix, what
// the frame-pointer walk alone records).
TEST_F(ProfileRecordTest, GoBuildTakesThePprofProfile) {
  const std::string go = "/usr/lib/go-1.23/bin/go";
  if (::access(go.c_str(), X_OK) != 0) {
    GTEST_SKIP() << "Go 1.23 is not installed (golang-1.23-go from bookworm-backports: "
                    "scripts/install-deps.sh)";
  }
  const std::string src = Path("gomix");
  ASSERT_TRUE(MakeDirs(src).ok());
  ASSERT_TRUE(
      WriteFileAtomic(JoinPath(src, "go.mod"), "module gomix\n\ngo 1.23\n", 0644, false).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(src, "main.go"), R"(package main

import (
	"fmt"
	"os"
	"strconv"
)

//go:noinline
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return x
}

//go:noinline
func work(n int) uint64 {
	var s uint64
	for i := 0; i < n; i++ {
		s += mix(uint64(i) + s)
	}
	return s
}

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	fmt.Println(work(n))
}
)",
                              0644, false)
                  .ok());
  const std::string env = "cd " + src + " && GOCACHE=" + Path("gocache") +
                          " GOPATH=" + Path("gopath") +
                          " GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY=off ";
  auto built = RunCommand({"sh", "-c", env + go + " build -o app . 2>&1"});
  ASSERT_TRUE(built.ok() && built->exit.success()) << (built.ok() ? built->output : "");
  const std::string out = Path("go");
  auto r = Record({"--freq", "499", "-o", out, "--", JoinPath(src, "app"), "300000000"});
  ASSERT_TRUE(r.exit.success()) << r.output;
  EXPECT_EQ(r.output.find("LLVM profile of"), std::string::npos)
      << "no LLVM profile advice for a Go binary: " << r.output;
  auto id = profile::ReadBuildId(JoinPath(src, "app"));
  ASSERT_TRUE(id.ok());
  ASSERT_EQ(id->size(), 40u) << "derived from the Go build ID";
  const std::string pprof = JoinPath(out, "app-" + *id + ".pprof");
  auto index = ReadFileToString(JoinPath(out, "profiles.json"));
  ASSERT_TRUE(PathExists(pprof)) << r.output << (index.ok() ? *index : index.status().ToString());
  auto pgo = RunCommand(
      {"sh", "-c",
       env + go + " build -a -pgo=" + pprof + " -gcflags=-d=pgodebug=3 -o app.pgo . 2>&1"});
  ASSERT_TRUE(pgo.ok());
  ASSERT_TRUE(pgo->exit.success()) << pgo->output;
  const std::regex edge("\"main\\.work\" -> \"main\\.mix\" \\[label=\"([0-9.]+)\"\\]");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(pgo->output, m, edge)) << pgo->output.substr(0, 4000);
  EXPECT_GT(std::stod(m.str(1)), 50.0) << "the hottest edge (percent of the weight)";
  EXPECT_EQ(pgo->output.find("\"main.main\" -> \"main.mix\""), std::string::npos)
      << "the leaf's caller was lost";
}

}  // namespace
}  // namespace syspgo::testing
