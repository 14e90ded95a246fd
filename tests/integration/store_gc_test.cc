// SPDX-License-Identifier: Apache-2.0
// `syspgo images`, `rmi` and `gc` on a real store: three images pulled from
// a real registry, one of them running in a container while gc shrinks the
// store around it; the container must keep reading its files.
#include <nlohmann/json.hpp>
#include <thread>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/sha256.h"
#include "common/process.h"
#include "integration/integration_env.h"

namespace syspgo::testing {
namespace {

// 3 MiB that differ per image, so each image has a layer of its own.
std::string Payload(char seed) {
  std::string s(3 << 20, '\0');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>((i * 2654435761u) >> 13 ^ seed);
  return s;
}

class StoreGcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_INTEGRATION_ENV();
    auto dir = TempDir::Create("/tmp", "syspgo-gc-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
    root_ = JoinPath(dir_.path(), "root");
    for (char name : {'a', 'b', 'c'}) {
      const std::string ref = IntegrationEnv::Get().registry().address() + "/gc/" + name + ":v1";
      auto built = PushImage(
          ref, {{IntegrationEnv::Get().busybox_rootfs(), ""},
                {"", MakeTar({FileEntry("payload/data.bin", 3 << 20)}, {Payload(name)})}});
      ASSERT_TRUE(built.ok()) << built.status().ToString();
      refs_.push_back(ref);
      payload_layer_.push_back(built->layers[1].digest.hex);
      auto pulled = Syspgo({"pull", "--no-progress", ref});
      ASSERT_TRUE(pulled.ok() && pulled->exit.success()) << (pulled.ok() ? pulled->output : "");
    }
  }
  std::vector<std::string> Argv(std::vector<std::string> args) {
    std::vector<std::string> argv = {SYSPGO_BINARY, args[0], "--root", root_};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    return argv;
  }
  Result<CommandOutput> Syspgo(std::vector<std::string> args) {
    return RunCommand(Argv(std::move(args)));
  }
  nlohmann::json Images() {
    auto out = Syspgo({"images", "--json"});
    EXPECT_TRUE(out.ok() && out->exit.success());
    return nlohmann::json::parse(out.ok() ? out->output : "{}", nullptr, false);
  }

  // Starts `syspgo run` with `args` in the background, its output into a
  // pipe; waits until its root file system (root_/run/ID/rootfs) shows
  // /payload, and returns that directory.
  std::string StartRun(std::vector<std::string> args, Subprocess* run, Pipe* out) {
    auto made = Pipe::Create();
    EXPECT_TRUE(made.ok());
    if (!made.ok()) return "";
    *out = std::move(*made);
    SpawnOptions options;
    options.stdout_fd = out->write_end.get();
    options.stderr_fd = out->write_end.get();
    options.null_stdin = true;
    auto spawned = Subprocess::Spawn(Argv(std::move(args)), options);
    EXPECT_TRUE(spawned.ok()) << spawned.status().ToString();
    if (!spawned.ok()) return "";
    *run = std::move(*spawned);
    out->write_end.Reset();
    for (int i = 0; i < 1000; ++i) {
      auto ids = ListDir(JoinPath(root_, "run"));
      for (const std::string& id : ids.ok() ? *ids : std::vector<std::string>()) {
        if (PathExists(JoinPath(root_, "run/" + id + "/rootfs/payload"))) {
          return JoinPath(root_, "run/" + id + "/rootfs");
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return "";
  }
  static std::string ReadAll(Pipe& out) {
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out.read_end.get(), buf, sizeof(buf))) > 0)
      text.append(buf, static_cast<size_t>(n));
    return text;
  }

  TempDir dir_;
  std::string root_;
  std::vector<std::string> refs_;
  std::vector<std::string> payload_layer_;  // hex of each image's own layer
};

TEST_F(StoreGcTest, GcShrinksTheStoreToTheRunningImageWhileItsContainerKeepsWorking) {
  nlohmann::json before = Images();
  ASSERT_EQ(before["images"].size(), 3u) << before.dump();
  const int64_t full = before["total_bytes"].get<int64_t>();
  // Image a runs: it waits for a go file, then reads its whole payload.
  auto made = Pipe::Create();
  ASSERT_TRUE(made.ok());
  Pipe out = std::move(*made);
  SpawnOptions options;
  options.stdout_fd = out.write_end.get();
  options.stderr_fd = out.write_end.get();
  options.null_stdin = true;
  const std::string script =
      "while [ ! -e /tmp/go ]; do sleep 0.05; done; wc -c < /payload/data.bin; ls /bin | wc -l; "
      "echo done";
  auto run = Subprocess::Spawn(Argv({"run", "--pull", "never", refs_[0], "--", "sh", "-c", script}),
                               options);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  out.write_end.Reset();
  // Until its root is mounted on the store's layers.
  std::string rootfs;
  for (int i = 0; i < 1000 && rootfs.empty(); ++i) {
    auto ids = ListDir(JoinPath(root_, "run"));
    for (const std::string& id : ids.ok() ? *ids : std::vector<std::string>()) {
      if (PathExists(JoinPath(root_, "run/" + id + "/rootfs/payload"))) {
        rootfs = JoinPath(root_, "run/" + id + "/rootfs");
      }
    }
    if (rootfs.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(rootfs.empty()) << "the container never started";
  EXPECT_EQ(Images()["running_containers"].get<int>(), 1);

  // Plain gc: nothing is garbage yet, every image stays.
  auto plain = Syspgo({"gc"});
  ASSERT_TRUE(plain.ok() && plain->exit.success()) << (plain.ok() ? plain->output : "");
  EXPECT_EQ(Images()["images"].size(), 3u);
  // gc down to nothing: b and c go, a stays because it runs.
  auto gc = Syspgo({"gc", "--max-size", "1"});
  ASSERT_TRUE(gc.ok());
  EXPECT_TRUE(gc->exit.success()) << gc->output;
  EXPECT_NE(gc->output.find("still above"), std::string::npos) << gc->output;
  nlohmann::json after = Images();
  ASSERT_EQ(after["images"].size(), 1u) << after.dump();
  EXPECT_EQ(after["images"][0]["reference"], refs_[0]);
  const int64_t needed = after["images"][0]["bytes"].get<int64_t>();
  const int64_t total = after["total_bytes"].get<int64_t>();
  // What image a needs, give or take the directories' own blocks.
  EXPECT_LE(total, needed + 64 * 1024) << after.dump();
  EXPECT_LT(total, full * 6 / 10) << "from " << full << " to " << total;
  EXPECT_EQ(after["unreferenced"]["entries"].get<int>(), 0);

  // The container still reads its files, all of them.
  ASSERT_TRUE(WriteFileAtomic(JoinPath(rootfs, "tmp/go"), "", 0644).ok());
  auto exit = run->WaitFor(std::chrono::seconds(60));
  ASSERT_TRUE(exit.ok());
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out.read_end.get(), buf, sizeof(buf))) > 0)
    text.append(buf, static_cast<size_t>(n));
  EXPECT_TRUE(exit->success()) << text;
  EXPECT_NE(text.find(std::to_string(3 << 20) + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("done\n"), std::string::npos) << text;

  // Once it has ended, rmi a leaves nothing but the directories.
  auto rmi = Syspgo({"rmi", refs_[0]});
  ASSERT_TRUE(rmi.ok() && rmi->exit.success()) << (rmi.ok() ? rmi->output : "");
  nlohmann::json empty = Images();
  EXPECT_EQ(empty["images"].size(), 0u);
  EXPECT_LE(empty["total_bytes"].get<int64_t>(), 64 * 1024) << empty.dump();
  auto again = Syspgo({"rmi", refs_[0]});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->exit.success());
  EXPECT_NE(again->output.find("not in the local store"), std::string::npos) << again->output;
}

// Issue 26: gc on a node where a lazy mount is always live. The caches of
// an image nothing mounts any more go (they were all kept while any lazy
// mount lived); what the live mount uses stays, until --max-size asks for
// more: then it is evicted too, least recently used first, and the
// container still reads the right bytes (fetched again from the registry,
// verified).
TEST_F(StoreGcTest, GcCollectsCachesPerImageWhileALazyMountReads) {
  for (size_t i : {0u, 1u}) {
    const std::string rt = JoinPath(dir_.path(), "rt" + std::to_string(i));
    for (const std::vector<std::string>& step :
         {std::vector<std::string>{"build", refs_[i], "--no-trace", "-o", rt},
          std::vector<std::string>{"push", refs_[i], rt}}) {
      std::vector<std::string> argv = {SYSPGO_BINARY, "image"};
      argv.insert(argv.end(), step.begin(), step.end());
      argv.insert(argv.end(), {"--root", root_});
      auto out = RunCommand(argv);
      ASSERT_TRUE(out.ok() && out->exit.success())
          << step[0] << ": " << (out.ok() ? out->output : "");
    }
  }
  // b read lazily once: its spans stay in the cache after its mount ends.
  auto b = Syspgo(
      {"run", "--mode", "lazy", refs_[1], "--", "sh", "-c", "cat /payload/data.bin > /dev/null"});
  ASSERT_TRUE(b.ok() && b->exit.success()) << (b.ok() ? b->output : "");
  const std::string spans = JoinPath(root_, "spans");
  ASSERT_TRUE(PathExists(JoinPath(spans, payload_layer_[1]))) << "b's spans";
  // a runs lazily: reads its payload, waits, reads it again.
  const std::string sum = Sha256::HexOf(Payload('a'));
  Subprocess run;
  Pipe out;
  const std::string rootfs =
      StartRun({"run", "--mode", "lazy", refs_[0], "--", "sh", "-c",
                "sha256sum /payload/data.bin; while [ ! -e /tmp/go ]; do sleep 0.05; done; "
                "sha256sum /payload/data.bin; echo done"},
               &run, &out);
  ASSERT_FALSE(rootfs.empty()) << "the container never started";
  for (int i = 0; i < 600 && !PathExists(JoinPath(spans, payload_layer_[0])); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(PathExists(JoinPath(spans, payload_layer_[0]))) << "a's spans";

  // Plain gc: b's spans go, a's stay (its mount claims them).
  auto plain = Syspgo({"gc"});
  ASSERT_TRUE(plain.ok() && plain->exit.success()) << (plain.ok() ? plain->output : "");
  EXPECT_FALSE(PathExists(JoinPath(spans, payload_layer_[1]))) << plain->output;
  EXPECT_TRUE(PathExists(JoinPath(spans, payload_layer_[0]))) << plain->output;
  EXPECT_EQ(plain->output.find("kept"), std::string::npos) << plain->output;

  // Down to nothing: every stored image (none runs from its layers) and,
  // last, a's live spans; the size is honoured.
  auto gc = Syspgo({"gc", "--max-size", "1"});
  ASSERT_TRUE(gc.ok() && gc->exit.success()) << (gc.ok() ? gc->output : "");
  EXPECT_NE(gc->output.find("of live lazy mounts evicted"), std::string::npos) << gc->output;
  nlohmann::json after = Images();
  EXPECT_EQ(after["images"].size(), 0u) << after.dump();
  EXPECT_LE(after["total_bytes"].get<int64_t>(), 256 * 1024) << gc->output << after.dump();
  auto left = ListDir(JoinPath(spans, payload_layer_[0]));
  EXPECT_TRUE(!left.ok() || left->empty()) << "a's spans were not evicted";

  // The kernel forgets the pages it had; the container reads again,
  // through the mount, from the registry: the same bytes.
  if (FILE* f = std::fopen("/proc/sys/vm/drop_caches", "w")) {
    std::fputs("3\n", f);
    std::fclose(f);
  }
  ASSERT_TRUE(WriteFileAtomic(JoinPath(rootfs, "tmp/go"), "", 0644).ok());
  auto exit = run.WaitFor(std::chrono::seconds(120));
  ASSERT_TRUE(exit.ok());
  const std::string text = ReadAll(out);
  EXPECT_TRUE(exit->success()) << text;
  size_t first = text.find(sum);
  ASSERT_NE(first, std::string::npos) << text;
  EXPECT_NE(text.find(sum, first + sum.size()), std::string::npos) << "the second read: " << text;
  EXPECT_NE(text.find("done\n"), std::string::npos) << text;
  EXPECT_TRUE(PathExists(JoinPath(spans, payload_layer_[0]))) << "fetched again";
}

}  // namespace
}  // namespace syspgo::testing
