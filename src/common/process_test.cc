// SPDX-License-Identifier: Apache-2.0
#include "common/process.h"

#include <sys/wait.h>

#include <csignal>
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
