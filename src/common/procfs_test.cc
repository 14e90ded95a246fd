// SPDX-License-Identifier: Apache-2.0
// procfs: /proc/ID/stat lines whose command names hold spaces and
// parentheses, hostile or short lines refused, the live process tree (a
// child and a grandchild found, a gone task not), cgroup lines of both
// hierarchies.
#include "common/procfs.h"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>

#include "common/process.h"

namespace syspgo {
namespace {

constexpr char kStat[] =
    "4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 115 0 0 0 0 0 0 0 20 0 1 0 987654 "
    "5484544 313 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

TEST(ProcfsTest, ParsesStatAfterTheLastParenthesis) {
  auto st = ParseProcStat(kStat);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->parent, 17);
  EXPECT_EQ(st->start_time, 987654u);
}

TEST(ProcfsTest, RefusesStatThatIsNotOne) {
  for (const char* bad : {"", "4242 a S 1", "4242 (a) S 17 1 2 3",
                          "4242 (a) S x 4242 4242 0 -1 "
                          "4194560 115 0 0 0 0 0 0 0 20 0 1 0 987654",
                          "4242 (a) S 17 4242 4242 0 -1 4194560 115 0 0 0 0 0 0 0 20 0 1 0 9x",
                          "4242 (a) S 17 4242 4242 0 -1 4194560 115 0 0 0 0 0 0 0 20 0 1 0 "
                          "999999999999999999999",
                          ")( S 17 4242 4242 0 -1 4194560 115 0 0 0 0 0 0 0 20 0 1 0 1"}) {
    EXPECT_FALSE(ParseProcStat(bad).ok()) << bad;
  }
}

TEST(ProcfsTest, ReadsThisProcess) {
  auto st = ReadProcStat(::getpid());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->parent, ::getppid());
  EXPECT_GT(st->start_time, 0u);
  EXPECT_TRUE(SameTask(::getpid(), st->start_time));
  EXPECT_FALSE(SameTask(::getpid(), st->start_time + 1));
  EXPECT_EQ(*TgidOf(::getpid()), ::getpid());
  auto procs = ListProcesses();
  EXPECT_NE(std::find(procs.begin(), procs.end(), ::getpid()), procs.end());
  auto threads = ListThreads(::getpid());
  EXPECT_NE(std::find(threads.begin(), threads.end(), ::getpid()), threads.end());
  EXPECT_EQ(ReadProcStat(0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadProcStat(-1).status().code(), StatusCode::kNotFound);
}

TEST(ProcfsTest, FindsDescendantsAndForgetsTheGone) {
  // sh -> sleep: a child and a grandchild of this process.
  auto child = Subprocess::Spawn({"sh", "-c", "sleep 30 & wait"}, {});
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  const pid_t pid = child->pid();
  std::vector<pid_t> found;
  for (int i = 0; i < 200 && found.size() < 2; ++i) {
    found = DescendantsOf(pid);
    found.insert(found.begin(), pid);
    usleep(10000);
  }
  auto all = DescendantsOf(::getpid());
  EXPECT_NE(std::find(all.begin(), all.end(), pid), all.end());
  ASSERT_EQ(found.size(), 2u);
  const pid_t grandchild = found[1];
  EXPECT_EQ(ReadProcStat(grandchild)->parent, pid);
  const uint64_t start = *ProcStartTime(grandchild);
  ::kill(grandchild, SIGKILL);
  ASSERT_TRUE(child->Wait().ok());
  EXPECT_FALSE(SameTask(grandchild, start));
  EXPECT_EQ(ProcStartTime(grandchild).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(DescendantsOf(pid).empty());
}

TEST(ProcfsTest, ParsesCgroupLinesOfBothHierarchies) {
  constexpr char kHybrid[] =
      "12:cpu,cpuacct:/v1/a\n"
      "4:memory:/m\n"
      "1:name=systemd:/user.slice/x:y\n"
      "0::/user.slice/u:1/app\n";
  EXPECT_EQ(*ParseProcCgroup(kHybrid, ""), "/user.slice/u:1/app");
  EXPECT_EQ(*ParseProcCgroup(kHybrid, "cpu"), "/v1/a");
  EXPECT_EQ(*ParseProcCgroup(kHybrid, "cpuacct"), "/v1/a");
  EXPECT_EQ(*ParseProcCgroup(kHybrid, "memory"), "/m");
  EXPECT_EQ(ParseProcCgroup(kHybrid, "cpuset").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ParseProcCgroup("12:cpu:/a\n", "").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ParseProcCgroup("garbage\n0:cpu\n", "cpu").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(CgroupOf(::getpid(), "").ok());
}

}  // namespace
}  // namespace syspgo
