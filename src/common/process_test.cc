// SPDX-License-Identifier: Apache-2.0
#include "common/process.h"

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
  auto child = Subprocess::Spawn({"/nonexistent/program"});
  EXPECT_FALSE(child.ok());
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
