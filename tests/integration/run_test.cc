// SPDX-License-Identifier: Apache-2.0
// `syspgo run` as a user runs it: the binary, a real registry, runc and
// overlayfs. Checks output, exit codes, readiness, and that nothing (mount,
// runc container, state directory) outlives a run, a Ctrl-C or a SIGKILL.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/process.h"
#include "integration/integration_env.h"
#include "run/readiness.h"

namespace syspgo::testing {
namespace {

class RunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!IntegrationEnv::SkipReason().empty() || !IntegrationEnv::Get().status().ok()) return;
    image_ = IntegrationEnv::Get().registry().address() + "/busybox:run";
    auto built = PushImage(image_, {{IntegrationEnv::Get().busybox_rootfs(), ""}});
    push_status_ = built.status();
  }
  void SetUp() override {
    REQUIRE_INTEGRATION_ENV();
    ASSERT_TRUE(push_status_.ok()) << push_status_.ToString();
    auto dir = TempDir::Create("/tmp", "syspgo-run-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
    root_ = JoinPath(dir_.path(), "root");
  }
  void TearDown() override {
    if (root_.empty()) return;
    EXPECT_EQ(MountsUnder(root_), 0) << "a mount outlived the run";
    auto left = ListDir(JoinPath(root_, "run"));
    if (left.ok()) {
      EXPECT_TRUE(left->empty()) << "a container directory outlived the run";
    }
    auto runc = RunCommand({"runc", "--root", JoinPath(root_, "runc"), "list", "-q"});
    if (runc.ok()) {
      EXPECT_EQ(runc->output, "") << "a runc container outlived the run";
    }
  }
  std::vector<std::string> Syspgo(std::vector<std::string> args) {
    std::vector<std::string> argv = {SYSPGO_BINARY, args[0], "--root", root_};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    return argv;
  }
  Result<CommandOutput> Run(std::vector<std::string> args) {
    return RunCommand(Syspgo(std::move(args)));
  }
  // Waits until a container directory exists (the container is starting).
  bool WaitForContainer() {
    for (int i = 0; i < 1000; ++i) {
      auto entries = ListDir(JoinPath(root_, "run"));
      if (entries.ok() && !entries->empty()) {
        auto state = RunCommand({"runc", "--root", JoinPath(root_, "runc"), "list", "-q"});
        if (state.ok() && !state->output.empty()) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  static std::string image_;
  static Status push_status_;
  TempDir dir_;
  std::string root_;
};
std::string RunTest::image_;
Status RunTest::push_status_;

TEST_F(RunTest, EchoHelloPrintsOutputAndPhases) {
  auto out = Run({"run", image_, "--", "sh", "-c", "echo hello"});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->exit.success()) << out->output;
  EXPECT_NE(out->output.find("hello\n"), std::string::npos) << out->output;
  for (const char* phase : {"deploy ", "running ", "ready ", "total "}) {
    EXPECT_NE(out->output.find(phase), std::string::npos) << out->output;
  }
}

TEST_F(RunTest, ExitCodeEnvUserAndWorkdirPassThrough) {
  auto out = Run({"run", "--env", "GREETING=hi there", image_, "--", "sh", "-c",
                  "echo \"$GREETING\"; id -u; pwd; exit 7"});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->exit.exit_code, 7) << out->output;
  EXPECT_NE(out->output.find("hi there\n0\n/\n"), std::string::npos) << out->output;
}

TEST_F(RunTest, ACommandTheImageLacksExits127AndSaysSo) {
  auto out = Run({"run", image_, "--", "no-such-command"});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->exit.exit_code, 127) << out->output;
  EXPECT_NE(out->output.find("the container's command is not in the image"), std::string::npos)
      << out->output;
}

TEST_F(RunTest, TcpReadinessReturnsOnceThePortAnswers) {
  int port = FreeLocalPort();
  std::string json = JoinPath(dir_.path(), "timing.json");
  auto start = std::chrono::steady_clock::now();
  auto out = Run({"run", "--ready", "tcp:" + std::to_string(port), "--timing-json", json, image_,
                  "--", "httpd", "-f", "-p", "127.0.0.1:" + std::to_string(port), "-h", "/www"});
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->exit.success()) << out->output;
  EXPECT_LT(took, std::chrono::seconds(20));
  auto text = ReadFileToString(json);
  ASSERT_TRUE(text.ok());
  auto j = nlohmann::json::parse(*text);
  EXPECT_EQ(j["ready"], true);
  EXPECT_EQ(j["ready_condition"], "tcp:" + std::to_string(port));
  EXPECT_GT(j["total_s"].get<double>(), 0);
  EXPECT_NEAR(
      j["total_s"].get<double>(),
      j["deploy_s"].get<double>() + j["running_s"].get<double>() + j["ready_s"].get<double>(),
      1e-6);
  EXPECT_FALSE(run::TcpPortAccepts(static_cast<uint16_t>(port)));  // stopped afterwards
}

TEST_F(RunTest, LogAndFileReadiness) {
  auto log = Run({"run", "--ready", "log:^up and running$", image_, "--", "sh", "-c",
                  "echo booting; sleep 0.2; echo 'up and running'; sleep 60"});
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(log->exit.success()) << log->output;
  EXPECT_NE(log->output.find("(log:^up and running$)"), std::string::npos) << log->output;
  auto file = Run({"run", "--ready", "file:/tmp/ready", image_, "--", "sh", "-c",
                   "sleep 0.2; touch /tmp/ready; sleep 60"});
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE(file->exit.success()) << file->output;
}

TEST_F(RunTest, NotReadyInTimeIsAClearFailure) {
  int port = FreeLocalPort();
  auto out = Run({"run", "--ready", "tcp:" + std::to_string(port), "--timeout", "1", image_, "--",
                  "sleep", "60"});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->exit.exit_code, 125);
  EXPECT_NE(out->output.find("did not become ready"), std::string::npos) << out->output;
  auto died =
      Run({"run", "--ready", "tcp:" + std::to_string(port), image_, "--", "sh", "-c", "exit 3"});
  ASSERT_TRUE(died.ok());
  EXPECT_NE(died->exit.exit_code, 0);
  EXPECT_NE(died->output.find("before it was ready"), std::string::npos) << died->output;
}

TEST_F(RunTest, CtrlCStopsTheContainerAndCleansUp) {
  auto child = Subprocess::Spawn(Syspgo({"run", image_, "--", "sleep", "60"}),
                                 SpawnOptions{.null_stdin = true});
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(WaitForContainer());
  ASSERT_TRUE(child->Signal(SIGINT).ok());
  auto exit = child->WaitFor(std::chrono::seconds(20));
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->exit_code, 130);
}

// --keep-running: an interrupt after readiness stops the container, and the
// start's phases are still reported (what bench/coldstart.sh relies on).
TEST_F(RunTest, KeepRunningReportsItsPhasesWhenInterruptedAfterReadiness) {
  const std::string timing = JoinPath(root_, "keep.json");
  auto child =
      Subprocess::Spawn(Syspgo({"run", "--ready", "file:/tmp/up", "--keep-running", "--timing-json",
                                timing, image_, "--", "sh", "-c", "touch /tmp/up; sleep 60"}),
                        SpawnOptions{.null_stdin = true});
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(WaitForContainer());
  // Ready once /tmp/up exists; then it stays attached until interrupted.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_FALSE(PathExists(timing)) << "still attached after readiness";
  ASSERT_TRUE(child->Signal(SIGINT).ok());
  auto exit = child->WaitFor(std::chrono::seconds(20));
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->exit_code, 130);
  auto text = ReadFileToString(timing);
  ASSERT_TRUE(text.ok()) << "the phases are written";
  auto j = nlohmann::json::parse(*text, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << *text;
  EXPECT_TRUE(j["ready"].get<bool>()) << *text;
  EXPECT_GT(j["total_s"].get<double>(), 0) << *text;
}

TEST_F(RunTest, NextStartCleansUpAfterAKilledRun) {
  auto child = Subprocess::Spawn(Syspgo({"run", image_, "--", "sleep", "60"}),
                                 SpawnOptions{.null_stdin = true});
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(WaitForContainer());
  ASSERT_TRUE(child->Signal(SIGKILL).ok());
  ASSERT_TRUE(child->Wait().ok());
  EXPECT_GE(MountsUnder(root_), 1);  // the dead run's rootfs is still there
  // The next start removes it before it runs its own container.
  auto out = Run({"run", image_, "--", "true"});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->exit.success()) << out->output;
  // Reap the orphaned container init, which was reparented elsewhere.
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

TEST_F(RunTest, UsesTheLocalCopyWhenTheRegistryIsUnreachable) {
  auto registry = RegistryFixture::Start();
  ASSERT_TRUE(registry.ok());
  std::string ref = (*registry)->address() + "/busybox:offline";
  ASSERT_TRUE(PushImage(ref, {{IntegrationEnv::Get().busybox_rootfs(), ""}}).ok());
  auto first = Run({"run", ref, "--", "true"});
  ASSERT_TRUE(first.ok() && first->exit.success()) << first->output;
  (*registry)->Stop();
  auto second = Run({"run", ref, "--", "echo", "offline"});
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->exit.success()) << second->output;
  EXPECT_NE(second->output.find("using the local copy"), std::string::npos) << second->output;
  auto never = Run({"run", "--pull", "never", "127.0.0.1:1/absent:x", "--", "true"});
  ASSERT_TRUE(never.ok());
  EXPECT_EQ(never->exit.exit_code, 125);
  EXPECT_NE(never->output.find("not in the local store"), std::string::npos) << never->output;
}

TEST_F(RunTest, WhiteoutsHideLowerLayerFiles) {
  std::string ref = IntegrationEnv::Get().registry().address() + "/layered:v1";
  std::string lower = MakeTar({DirEntry("a/"), FileEntry("a/gone", 1), FileEntry("a/kept", 1),
                               DirEntry("b/"), FileEntry("b/old", 1)},
                              {"", "x", "y", "", "z"});
  std::string upper =
      MakeTar({FileEntry("a/.wh.gone", 0), FileEntry("b/.wh..wh..opq", 0), FileEntry("b/new", 1)},
              {"", "", "n"});
  ASSERT_TRUE(
      PushImage(ref, {{IntegrationEnv::Get().busybox_rootfs(), ""}, {"", lower}, {"", upper}})
          .ok());
  auto out = Run({"run", ref, "--", "sh", "-c", "ls /a; echo --; ls /b"});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->exit.success()) << out->output;
  EXPECT_NE(out->output.find("kept\n--\nnew\n"), std::string::npos) << out->output;
}

// The image's io.syspgo.sched.tag label (or --sched-tag) tags the
// container's init before it starts: `syspgo sched tag get` names it.
TEST_F(RunTest, ImageLabelTagsTheContainerForScheduling) {
  const std::string labelled = IntegrationEnv::Get().registry().address() + "/busybox:sched";
  auto built = PushImage(labelled, {{IntegrationEnv::Get().busybox_rootfs(), ""}},
                         oci::Compression::kGzip, false, {{"io.syspgo.sched.tag", "online"}});
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  for (const std::string& tag : {std::string(""), std::string("batch")}) {
    std::vector<std::string> argv = Syspgo({"run"});
    if (!tag.empty()) argv.insert(argv.end(), {"--sched-tag", tag});
    argv.insert(argv.end(), {labelled, "--", "sleep", "3"});
    auto run = Subprocess::Spawn(argv, {.null_stdin = true});
    ASSERT_TRUE(run.ok());
    // The container's init: `sleep`, a child of syspgo run (its subreaper).
    std::string pid;
    for (int i = 0; i < 500 && pid.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      auto procs = ListDir("/proc");
      if (!procs.ok()) continue;
      for (const std::string& p : *procs) {
        if (p.find_first_not_of("0123456789") != std::string::npos) continue;
        auto stat = ReadFileToString("/proc/" + p + "/stat");
        if (stat.ok() &&
            stat->find("(sleep) S " + std::to_string(run->pid()) + " ") != std::string::npos)
          pid = p;
      }
    }
    ASSERT_FALSE(pid.empty()) << "the container did not start";
    auto got = RunCommand({SYSPGO_BINARY, "sched", "tag", "get", "--pid", pid});
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->output, (tag.empty() ? "online" : tag) + "\tset on pid " + pid + "\n");
    auto exit = run->WaitFor(std::chrono::seconds(30));
    ASSERT_TRUE(exit.ok());
    EXPECT_TRUE(exit->success()) << exit->ToString();
    // Gone with the container: the next store update drops it.
    auto again = RunCommand({SYSPGO_BINARY, "sched", "tag", "get", "--pid", pid});
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(again->exit.success()) << again->output;
  }
}

}  // namespace
}  // namespace syspgo::testing
