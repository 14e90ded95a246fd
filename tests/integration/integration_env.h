// SPDX-License-Identifier: Apache-2.0
// File: tests/integration/integration_env.h
//
// Shared set-up of the integration tests: root, a real docker-registry on
// 127.0.0.1 and a busybox root file system, made once per test binary.
#ifndef SYSPGO_TESTS_INTEGRATION_INTEGRATION_ENV_H_
#define SYSPGO_TESTS_INTEGRATION_INTEGRATION_ENV_H_

#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/process.h"
#include "support/registry_fixture.h"
#include "support/test_images.h"

namespace syspgo::testing {

class IntegrationEnv {
 public:
  // Why these tests cannot run here ("" when they can).
  static std::string SkipReason() {
    if (::geteuid() != 0) return "integration tests need root (overlayfs, runc, mknod)";
    if (auto r = RegistryFixture::UnavailableReason(); !r.empty()) return r;
    if (auto r = BusyboxUnavailableReason(); !r.empty()) return r;
    if (::access("/usr/sbin/runc", X_OK) != 0 && ::access("/usr/bin/runc", X_OK) != 0) {
      return "runc is not installed (apt-get install runc)";
    }
    return "";
  }

  // Made on first use; destroyed at exit, which stops the registry and
  // removes the work directory.
  static IntegrationEnv& Get() {
    static IntegrationEnv env;
    return env;
  }

  const Status& status() const { return status_; }
  RegistryFixture& registry() { return *registry_; }
  const std::string& busybox_rootfs() const { return rootfs_; }
  const std::string& work() const { return work_.path(); }

 private:
  IntegrationEnv() {
    auto work = TempDir::Create("/tmp", "syspgo-it-");
    if (!work.ok()) {
      status_ = work.status();
      return;
    }
    work_ = std::move(*work);
    rootfs_ = JoinPath(work_.path(), "busybox");
    status_ = MakeBusyboxRootfs(rootfs_);
    if (!status_.ok()) return;
    auto registry = RegistryFixture::Start();
    if (!registry.ok()) {
      status_ = registry.status();
      return;
    }
    registry_ = std::move(*registry);
  }
  Status status_;
  TempDir work_;
  std::string rootfs_;
  std::unique_ptr<RegistryFixture> registry_;
};

// Skips the test with the reason when the environment cannot run it, and
// fails it when set-up broke.
#define REQUIRE_INTEGRATION_ENV()                                         \
  do {                                                                    \
    std::string reason = ::syspgo::testing::IntegrationEnv::SkipReason(); \
    if (!reason.empty()) GTEST_SKIP() << reason;                          \
    ASSERT_TRUE(::syspgo::testing::IntegrationEnv::Get().status().ok())   \
        << ::syspgo::testing::IntegrationEnv::Get().status().ToString();  \
  } while (0)

// Mount points under `prefix` in our mount namespace.
inline int MountsUnder(const std::string& prefix) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.find(" " + prefix) != std::string::npos) ++n;
  }
  return n;
}

}  // namespace syspgo::testing

#endif  // SYSPGO_TESTS_INTEGRATION_INTEGRATION_ENV_H_
