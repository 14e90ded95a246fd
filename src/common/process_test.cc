// SPDX-License-Identifier: Apache-2.0
#include "common/process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace syspgo {
namespace {

TEST(ProcessTest, ExitCodeAndOutput) {
  auto out = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 7"});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->exit.exit_code, 7);
  EXPECT_FALSE(out->exit.success());
  EXPECT_NE(out->output.find("out"), std::string::npos);
  EXPECT_NE(out->output.find("err"), std::string::npos);
}

TEST(ProcessTest, SignalIsReported) {
  auto child = Subprocess::Spawn({"sleep", "30"});
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(child->Signal(SIGTERM).ok());
  auto exit = child->Wait();
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->signaled);
  EXPECT_EQ(exit->signal, SIGTERM);
  EXPECT_EQ(exit->ShellCode(), 128 + SIGTERM);
}

TEST(ProcessTest, DestructorKillsAndReaps) {
  pid_t pid;
  {
    auto child = Subprocess::Spawn({"sleep", "30"});
    ASSERT_TRUE(child.ok());
    pid = child->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);  // gone, and reaped (no zombie to signal)
}

TEST(ProcessTest, MissingProgramIsAnError) {
  EXPECT_FALSE(Subprocess::Spawn({"/nonexistent/program"}).ok());
  SpawnOptions options;
  options.die_with_parent = true;
  auto child = Subprocess::Spawn({"/nonexistent/program"}, options);
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().code(), StatusCode::kNotFound);
}

// A held child has not executed its command before Start(): it is still
// the forked copy of us (same executable), and the command's side effect
// appears only after Start().
TEST(ProcessTest, HeldChildRunsOnlyAfterStart) {
  char dir[] = "/tmp/syspgo-held-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string mark = std::string(dir) + "/ran";
  SpawnOptions options;
  options.held = true;
  auto child = Subprocess::Spawn({"sh", "-c", "echo x > \"$0\"", mark}, options);
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_NE(::access(mark.c_str(), F_OK), 0);  // not executed yet
  char self[4096], theirs[4096];
  const ssize_t a = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  const ssize_t b = ::readlink(("/proc/" + std::to_string(child->pid()) + "/exe").c_str(), theirs,
                               sizeof(theirs) - 1);
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  EXPECT_EQ(std::string(self, a), std::string(theirs, b));
  ASSERT_TRUE(child->Start().ok());
  EXPECT_TRUE(child->Start().ok());  // once only: a second call does nothing
  auto exit = child->Wait();
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->success());
  EXPECT_EQ(::access(mark.c_str(), F_OK), 0);
  ::unlink(mark.c_str());
  ::rmdir(dir);
}

TEST(ProcessTest, HeldChildNeverStartedIsGone) {
  pid_t pid;
  {
    SpawnOptions options;
    options.held = true;
    auto child = Subprocess::Spawn({"sleep", "30"}, options);
    ASSERT_TRUE(child.ok());
    pid = child->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);
}

// A held child killed before Start(): Start() fails, and the write to its
// closed gate does not end the test with SIGPIPE (not ignored here).
TEST(ProcessTest, HeldChildKilledBeforeStartIsAnError) {
  ASSERT_NE(std::signal(SIGPIPE, SIG_DFL), SIG_ERR);
  SpawnOptions options;
  options.held = true;
  auto child = Subprocess::Spawn({"sleep", "30"}, options);
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(child->Signal(SIGKILL).ok());
  // Until the kernel has closed its fds (a zombie has none).
  for (int i = 0; i < 1000; ++i) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(child->pid()), &info, WEXITED | WNOWAIT | WNOHANG) == 0 &&
        info.si_pid == child->pid()) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_FALSE(child->Start().ok());
}

TEST(ProcessTest, HeldMissingProgramFailsAtStart) {
  SpawnOptions options;
  options.held = true;
  auto child = Subprocess::Spawn({"/nonexistent/program"}, options);
  ASSERT_TRUE(child.ok());  // forked; the exec comes at Start
  Status st = child->Start();
  EXPECT_EQ(st.code(), StatusCode::kNotFound) << st.ToString();
  EXPECT_NE(st.ToString().find("/nonexistent/program"), std::string::npos) << st.ToString();
  EXPECT_FALSE(child->running());  // reaped
}

TEST(ProcessTest, DieWithParentChildRunsNormally) {
  SpawnOptions options;
  options.die_with_parent = true;
  auto out = RunCommand({"sh", "-c", "echo alive; exit 4"}, options);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->exit.exit_code, 4);
  EXPECT_EQ(out->output, "alive\n");
}

TEST(ProcessTest, DieWithParentChildDiesWithItsParent) {
  // PR_SET_PDEATHSIG follows the spawning thread: when it ends, the child
  // is killed (as it is when the whole process is).
  SpawnOptions options;
  options.die_with_parent = true;
  pid_t grandchild = -1;
  std::thread middle([&] {
    auto child = Subprocess::Spawn({"sleep", "30"}, options);
    ASSERT_TRUE(child.ok());
    grandchild = child->pid();
    // Let the thread (the "parent") exit without reaping or killing it.
    child->Release();
  });
  middle.join();
  ASSERT_GT(grandchild, 0);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    int status;
    gone = ::waitpid(grandchild, &status, WNOHANG) == grandchild;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone);
}

TEST(ProcessTest, WaitForKillsAfterTimeout) {
  auto child = Subprocess::Spawn({"sleep", "30"});
  ASSERT_TRUE(child.ok());
  auto exit = child->WaitFor(std::chrono::milliseconds(50));
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->signaled);
}

}  // namespace
}  // namespace syspgo
