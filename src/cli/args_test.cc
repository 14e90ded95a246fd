// SPDX-License-Identifier: Apache-2.0
#include "cli/args.h"

#include <gtest/gtest.h>

namespace syspgo::cli {
namespace {

const std::vector<OptionSpec> kSpecs = {
    {"ready", true}, {"env", true}, {"verbose", false, 'v'}, {"jobs", true}};

TEST(ArgsTest, OptionsPositionalsAndRest) {
  auto a = ParseArgs(
      {"--ready", "tcp:80", "-v", "--env=A=1", "--env", "B=2", "img", "sh", "-c", "echo --ready"},
      kSpecs, 1);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a->Get("ready"), "tcp:80");
  EXPECT_TRUE(a->Has("verbose"));
  EXPECT_EQ(a->GetAll("env"), (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(a->positional, std::vector<std::string>{"img"});
  EXPECT_EQ(a->rest, (std::vector<std::string>{"sh", "-c", "echo --ready"}));
}

TEST(ArgsTest, DoubleDashEndsOptions) {
  auto a = ParseArgs({"img", "--", "--ready"}, kSpecs, 1);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->rest, std::vector<std::string>{"--ready"});
}

TEST(ArgsTest, Errors) {
  EXPECT_FALSE(ParseArgs({"--nope"}, kSpecs).ok());
  EXPECT_FALSE(ParseArgs({"--ready"}, kSpecs).ok());
  EXPECT_FALSE(ParseArgs({"--verbose=1"}, kSpecs).ok());
  auto a = ParseArgs({"--jobs", "0"}, kSpecs);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->GetInt("jobs", 4, 1, 64).ok());
  EXPECT_EQ(*a->GetInt("other", 4, 1, 64), 4);
}

}  // namespace
}  // namespace syspgo::cli
