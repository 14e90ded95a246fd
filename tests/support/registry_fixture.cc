// SPDX-License-Identifier: Apache-2.0
#include "support/registry_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <crypt.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "run/readiness.h"

namespace syspgo::testing {

int FreeLocalPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return 0;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string RegistryFixture::UnavailableReason() {
  if (::access("/usr/bin/docker-registry", X_OK) != 0) {
    return "docker-registry is not installed (apt-get install docker-registry)";
  }
  return "";
}

namespace {

// A CA, and a certificate for 127.0.0.1 it signed, as an operator makes them.
Status MakeCertificates(const std::string& dir) {
  const std::string ext = JoinPath(dir, "server.ext");
  RETURN_IF_ERROR(WriteFileAtomic(ext, "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
                                  0600, false));
  const std::string ec = "ec", curve = "ec_paramgen_curve:prime256v1";
  RETURN_IF_ERROR(
      RunCommandOk({"openssl", "req", "-x509", "-newkey", ec, "-pkeyopt", curve, "-nodes",
                    "-keyout", JoinPath(dir, "ca.key"), "-out", JoinPath(dir, "ca.crt"), "-days",
                    "2", "-subj", "/CN=syspgo test CA"}));
  RETURN_IF_ERROR(RunCommandOk({"openssl", "req", "-newkey", ec, "-pkeyopt", curve, "-nodes",
                                "-keyout", JoinPath(dir, "server.key"), "-out",
                                JoinPath(dir, "server.csr"), "-subj", "/CN=127.0.0.1"}));
  return RunCommandOk({"openssl", "x509", "-req", "-in", JoinPath(dir, "server.csr"), "-CA",
                       JoinPath(dir, "ca.crt"), "-CAkey", JoinPath(dir, "ca.key"),
                       "-CAcreateserial", "-out", JoinPath(dir, "server.crt"), "-days", "2",
                       "-extfile", ext});
}

}  // namespace

Result<std::unique_ptr<RegistryFixture>> RegistryFixture::Start(
    const RegistryFixtureOptions& opts) {
  std::unique_ptr<RegistryFixture> f(new RegistryFixture());
  ASSIGN_OR_RETURN(f->dir_, TempDir::Create("/tmp", "syspgo-registry-"));
  f->port_ = FreeLocalPort();
  std::string config =
      "version: 0.1\n"
      "log:\n  level: error\n"
      "storage:\n  filesystem:\n    rootdirectory: " +
      JoinPath(f->dir_.path(), "data") +
      "\n  delete:\n    enabled: true\n"
      "http:\n  addr: 127.0.0.1:" +
      std::to_string(f->port_) + "\n";
  if (opts.tls) {
    RETURN_IF_ERROR(MakeCertificates(f->dir_.path()));
    config += "  tls:\n    certificate: " + JoinPath(f->dir_.path(), "server.crt") +
              "\n    key: " + JoinPath(f->dir_.path(), "server.key") + "\n";
  }
  if (!opts.user.empty()) {
    // bcrypt, the only scheme docker-registry's htpasswd accepts.
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (::crypt_gensalt_rn("$2b$", 8, nullptr, 0, salt, sizeof(salt)) == nullptr) {
      return Internal("crypt_gensalt for bcrypt failed");
    }
    struct crypt_data data {};
    const char* hash = ::crypt_r(opts.password.c_str(), salt, &data);
    if (hash == nullptr || hash[0] == '*') return Internal("bcrypt of the test password failed");
    const std::string htpasswd = JoinPath(f->dir_.path(), "htpasswd");
    RETURN_IF_ERROR(WriteFileAtomic(htpasswd, opts.user + ":" + hash + "\n", 0600, false));
    config += "auth:\n  htpasswd:\n    realm: syspgo-test\n    path: " + htpasswd + "\n";
  }
  std::string config_path = JoinPath(f->dir_.path(), "config.yml");
  RETURN_IF_ERROR(WriteFileAtomic(config_path, config, 0644, false));
  ASSIGN_OR_RETURN(UniqueFd log, UniqueFd::Open(JoinPath(f->dir_.path(), "registry.log"),
                                                O_WRONLY | O_CREAT | O_TRUNC, 0644));
  SpawnOptions options;
  options.null_stdin = true;
  options.stdout_fd = log.get();
  options.stderr_fd = log.get();
  // Never outlive the test process, even if it crashes or is killed.
  options.die_with_parent = true;
  ASSIGN_OR_RETURN(f->process_,
                   Subprocess::Spawn({"docker-registry", "serve", config_path}, options));
  for (int i = 0; i < 500; ++i) {
    if (run::TcpPortAccepts(static_cast<uint16_t>(f->port_))) return f;
    auto done = f->process_.TryWait();
    if (done.ok() && *done) {
      auto text = ReadFileToString(JoinPath(f->dir_.path(), "registry.log"));
      return Internal("docker-registry exited: " + (text.ok() ? *text : ""));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Internal("docker-registry did not start listening within 5 s");
}

RegistryFixture::~RegistryFixture() { Stop(); }

void RegistryFixture::Stop() {
  if (process_.running()) {
    process_.Signal(SIGTERM).IgnoreError();
    process_.Signal(SIGCONT).IgnoreError();  // a paused one takes SIGTERM now
    process_.WaitFor(std::chrono::seconds(5)).status().IgnoreError();
  }
}

void RegistryFixture::Pause() {
  if (process_.running()) process_.Signal(SIGSTOP).IgnoreError();
}

void RegistryFixture::Resume() {
  if (process_.running()) process_.Signal(SIGCONT).IgnoreError();
}

std::string RegistryFixture::BlobDataPath(const oci::Digest& d) const {
  return JoinPath(dir_.path(), "data/docker/registry/v2/blobs/sha256/" + d.hex.substr(0, 2) + "/" +
                                   d.hex + "/data");
}

}  // namespace syspgo::testing
