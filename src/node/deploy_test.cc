// SPDX-License-Identifier: Apache-2.0
// The deploy plan: which of shared mount, own mount and full image each
// request and trust decision gets, and the pull policies' names. (Deploy
// itself runs against a registry, FUSE and runc: tests/integration.)
#include "node/deploy.h"

#include <gtest/gtest.h>

namespace syspgo::node {
namespace {

DeployRequest Request(bool full, std::optional<fs::LazyMode> lazy,
                      PullPolicy pull = PullPolicy::kAlways) {
  DeployRequest r;
  r.ref = *oci::ImageReference::Parse("127.0.0.1:5000/app:1");
  r.full = full;
  r.lazy = lazy;
  r.pull = pull;
  return r;
}

rtimage::TrustDecision Accepts(rtimage::Acceptance a) {
  rtimage::TrustDecision d;
  d.accept = a;
  d.source = "test policy";
  return d;
}

TEST(DeployPlanTest, AutoTakesTheSharedMountWhereThePolicyAllowsOne) {
  for (auto a : {rtimage::Acceptance::kUnsigned, rtimage::Acceptance::kSigned}) {
    const DeployPlan p = PlanDeploy(Request(false, std::nullopt), Accepts(a));
    EXPECT_EQ(p.kind, DeployPlan::kSharedMount);
    EXPECT_TRUE(p.not_shared.ok());
  }
  const DeployPlan refused =
      PlanDeploy(Request(false, std::nullopt), Accepts(rtimage::Acceptance::kNone));
  EXPECT_EQ(refused.kind, DeployPlan::kFull);
  EXPECT_FALSE(refused.not_shared.ok());
  EXPECT_NE(refused.not_shared.message().find("127.0.0.1:5000/app:1"), std::string::npos);
  // --pull never: what the store has, without asking the registry.
  EXPECT_EQ(PlanDeploy(Request(false, std::nullopt, PullPolicy::kNever),
                       Accepts(rtimage::Acceptance::kUnsigned))
                .kind,
            DeployPlan::kFull);
}

TEST(DeployPlanTest, ForcedModesAreKept) {
  const auto any = Accepts(rtimage::Acceptance::kUnsigned);
  EXPECT_EQ(PlanDeploy(Request(true, std::nullopt), any).kind, DeployPlan::kFull);
  EXPECT_EQ(PlanDeploy(Request(false, fs::LazyMode::kLazy), any).kind, DeployPlan::kOwnMount);
  EXPECT_EQ(PlanDeploy(Request(false, fs::LazyMode::kPrefetch), any).kind, DeployPlan::kOwnMount);
  EXPECT_EQ(PlanDeploy(Request(false, fs::LazyMode::kRuntimeImage), any).kind,
            DeployPlan::kSharedMount);
  // A forced rtimage start the policy refuses fails (Deploy returns
  // not_shared) rather than falling back.
  const DeployPlan refused =
      PlanDeploy(Request(false, fs::LazyMode::kRuntimeImage), Accepts(rtimage::Acceptance::kNone));
  EXPECT_EQ(refused.kind, DeployPlan::kSharedMount);
  EXPECT_FALSE(refused.not_shared.ok());
}

TEST(DeployPlanTest, PullPolicies) {
  EXPECT_EQ(*ParsePullPolicy("always"), PullPolicy::kAlways);
  EXPECT_EQ(*ParsePullPolicy("missing"), PullPolicy::kMissing);
  EXPECT_EQ(*ParsePullPolicy("never"), PullPolicy::kNever);
  for (const char* bad : {"", "Always", "sometimes"}) {
    EXPECT_EQ(ParsePullPolicy(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace syspgo::node
