// SPDX-License-Identifier: Apache-2.0
#include "run/bundle.h"
#include "run/runc.h"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "common/file_util.h"

namespace syspgo::run {
namespace {

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp", "bundle-test-");
    ASSERT_TRUE(dir.ok());
    rootfs_ = std::move(*dir);
    ASSERT_TRUE(MakeDirs(JoinPath(rootfs_.path(), "etc")).ok());
    ASSERT_TRUE(WriteFileAtomic(JoinPath(rootfs_.path(), "etc/passwd"),
                                "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
                    .ok());
    ASSERT_TRUE(WriteFileAtomic(JoinPath(rootfs_.path(), "etc/group"),
                                "root:x:0:\napp:x:1001:\nwheel:x:10:app,other\nstaff:x:50:\n")
                    .ok());
  }
  TempDir rootfs_;
};

TEST_F(BundleTest, ResolvesUsers) {
  auto u = ResolveUser("app", rootfs_.path());
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->uid, 1000u);
  EXPECT_EQ(u->gid, 1001u);
  EXPECT_EQ(u->additional_gids, std::vector<uint32_t>{10});
  u = ResolveUser("1000:staff", rootfs_.path());
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->gid, 50u);
  u = ResolveUser("4242:4343", rootfs_.path());  // numeric ids need no entry
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->uid, 4242u);
  EXPECT_EQ(u->gid, 4343u);
  EXPECT_EQ(ResolveUser("nobody", rootfs_.path()).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(ResolveUser("app:nogroup", rootfs_.path()).ok());
  EXPECT_EQ(ResolveUser("", rootfs_.path())->uid, 0u);
}

TEST_F(BundleTest, CommandEnvAndCwdFromImageAndUser) {
  oci::ImageConfig config;
  config.entrypoint = {"/bin/app"};
  config.cmd = {"--default"};
  config.env = {"A=1", "PATH=/custom"};
  config.working_dir = "srv";
  config.user = "app";
  auto spec = MakeContainerSpec(config, {}, std::nullopt, {"A=2", "B=3"}, rootfs_.path());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->args, (std::vector<std::string>{"/bin/app", "--default"}));
  EXPECT_EQ(spec->env[0], "A=2");
  EXPECT_EQ(spec->env[1], "PATH=/custom");
  EXPECT_EQ(spec->env[2], "B=3");
  EXPECT_EQ(spec->cwd, "/srv");
  EXPECT_EQ(spec->user.uid, 1000u);

  spec = MakeContainerSpec(config, {"x", "y"}, std::vector<std::string>{"/bin/sh"}, {},
                           rootfs_.path());
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->args, (std::vector<std::string>{"/bin/sh", "x", "y"}));

  oci::ImageConfig empty;
  EXPECT_FALSE(MakeContainerSpec(empty, {}, std::nullopt, {}, rootfs_.path()).ok());
  spec = MakeContainerSpec(empty, {"sh"}, std::nullopt, {}, rootfs_.path());
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->env[0].rfind("PATH=", 0), 0u);  // a default PATH
}

TEST_F(BundleTest, RuntimeSpecIsValidJsonWithHostNetwork) {
  ContainerSpec spec;
  spec.args = {"sh"};
  spec.cgroups_path = "/syspgo/x";
  auto j = nlohmann::json::parse(RuntimeSpecJson(spec));
  EXPECT_EQ(j["process"]["args"][0], "sh");
  EXPECT_EQ(j["root"]["path"], "rootfs");
  EXPECT_EQ(j["linux"]["cgroupsPath"], "/syspgo/x");
  for (const auto& ns : j["linux"]["namespaces"]) EXPECT_NE(ns["type"], "network");
}

}  // namespace
}  // namespace syspgo::run

namespace syspgo::run {
namespace {

TEST(RuncCreateFailureTest, TheCommandsOwnFailureIsNamed) {
  ExitInfo failed;
  failed.exit_code = 1;
  const std::string missing =
      R"({"level":"warning","msg":"something else","time":"t"})"
      "\n"
      R"({"level":"error","msg":"runc create failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH","time":"t"})"
      "\n";
  Status st = CreateFailure(failed, missing);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_EQ(st.message(),
            "the container's command is not in the image: \"nosuch\": "
            "executable file not found in $PATH");
  Status denied = CreateFailure(
      failed, R"({"level":"error","msg":"exec: \"/etc/passwd\": permission denied"})");
  EXPECT_EQ(denied.code(), StatusCode::kPermissionDenied);
  Status other = CreateFailure(failed, R"({"level":"error","msg":"cgroup: no space"})");
  EXPECT_EQ(other.code(), StatusCode::kInternal);
  EXPECT_NE(other.message().find("cgroup: no space"), std::string::npos);
  EXPECT_EQ(other.message().find("level"), std::string::npos) << "the raw JSON was shown";
}

}  // namespace
}  // namespace syspgo::run
