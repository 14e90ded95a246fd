// SPDX-License-Identifier: Apache-2.0
// `syspgo images`, `rmi` and `gc` on a real store: three images pulled from
// a real registry, one of them running in a container while gc shrinks the
// store around it; the container must keep reading its files.
#include <nlohmann/json.hpp>
#include <thread>

#include <gtest/gtest.h>

#include "common/file_util.h"
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

  TempDir dir_;
  std::string root_;
  std::vector<std::string> refs_;
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

}  // namespace
}  // namespace syspgo::testing
