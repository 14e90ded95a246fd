// SPDX-License-Identifier: Apache-2.0
// CPU lists: the kernel's and policies' forms read, bad ones refused,
// written back as ranges, and a round trip through cpu_set_t.
#include "common/cpu_list.h"

#include <gtest/gtest.h>

namespace syspgo {
namespace {

TEST(CpuListTest, ParsesTheKernelsForm) {
  EXPECT_EQ(*ParseCpuList("0-3,5\n"), (std::vector<int>{0, 1, 2, 3, 5}));
  EXPECT_EQ(*ParseCpuList(" 1 , 3-4 "), (std::vector<int>{1, 3, 4}));
  EXPECT_EQ(*ParseCpuList("5,1,1-2"), (std::vector<int>{1, 2, 5}));
  EXPECT_EQ(*ParseCpuList("1023"), (std::vector<int>{1023}));
}

TEST(CpuListTest, RefusesWhatIsNotOne) {
  for (const char* bad :
       {"", "\n", "3-1", "1,,2", "a", "1-", "-1", "1-2-3", "1024", "0-99999", "1,", "0x1", "+1"}) {
    EXPECT_EQ(ParseCpuList(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(CpuListTest, WritesRanges) {
  EXPECT_EQ(FormatCpuList({}), "");
  EXPECT_EQ(FormatCpuList({3}), "3");
  EXPECT_EQ(FormatCpuList({5, 0, 1, 2, 3, 3, 7, 8}), "0-3,5,7-8");
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : {0, 2, 3, 1000}) CPU_SET(c, &set);
  EXPECT_EQ(CpusOf(set), (std::vector<int>{0, 2, 3, 1000}));
  EXPECT_EQ(*ParseCpuList(FormatCpuList(CpusOf(set))), CpusOf(set));
}

TEST(CpuListTest, OnlineCpusAreSome) {
  const std::vector<int> cpus = OnlineCpus();
  ASSERT_FALSE(cpus.empty());
  EXPECT_EQ(*ParseCpuList(FormatCpuList(cpus)), cpus);
}

}  // namespace
}  // namespace syspgo
