// SPDX-License-Identifier: Apache-2.0
// File: tests/support/registry_fixture.h
//
// A real docker-registry (Debian's package) on 127.0.0.1, with its storage in
// a temporary directory, started for a test and stopped (and reaped) after.
#ifndef SYSPGO_TESTS_SUPPORT_REGISTRY_FIXTURE_H_
#define SYSPGO_TESTS_SUPPORT_REGISTRY_FIXTURE_H_

#include <string>

#include "common/file_util.h"
#include "common/process.h"
#include "common/status.h"
#include "oci/reference.h"

namespace syspgo::testing {

struct RegistryFixtureOptions {
  // Serve TLS with a certificate for 127.0.0.1 signed by a CA made for the
  // registry (openssl); ca_path() is that CA.
  bool tls = false;
  // htpasswd authentication (bcrypt) for this one user, when set.
  std::string user;
  std::string password;
};

class RegistryFixture {
 public:
  // Why the fixture cannot run here ("" when it can).
  static std::string UnavailableReason();
  static Result<std::unique_ptr<RegistryFixture>> Start(const RegistryFixtureOptions& options = {});
  ~RegistryFixture();

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // The CA that signed the registry's certificate (with options.tls).
  std::string ca_path() const { return JoinPath(dir_.path(), "ca.crt"); }
  // Where the registry keeps a blob's bytes on disk.
  std::string BlobDataPath(const oci::Digest& digest) const;
  void Stop();
  // SIGSTOP / SIGCONT: a registry that accepts connections (the kernel
  // still queues them) and answers nothing.
  void Pause();
  void Resume();

 private:
  RegistryFixture() = default;
  TempDir dir_;
  Subprocess process_;
  int port_ = 0;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeLocalPort();

}  // namespace syspgo::testing

#endif  // SYSPGO_TESTS_SUPPORT_REGISTRY_FIXTURE_H_
