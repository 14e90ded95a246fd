// SPDX-License-Identifier: Apache-2.0
// File: tests/support/test_images.h
//
// Small images the tests build in seconds from Debian's busybox-static:
// `busybox sh -c` makes an application, `busybox httpd` a service.
#ifndef SYSPGO_TESTS_SUPPORT_TEST_IMAGES_H_
#define SYSPGO_TESTS_SUPPORT_TEST_IMAGES_H_

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "oci/image_builder.h"
#include "oci/tar.h"

namespace syspgo::testing {

// Why busybox images cannot be built here ("" when they can).
std::string BusyboxUnavailableReason();
// A minimal root file system: /bin/busybox with applet links, /etc/passwd
// and /etc/group (root and an "app" user, uid 1000), /www/index.html, /tmp.
Status MakeBusyboxRootfs(const std::string& dir);

// Registry options for tests (loopback registry, fresh token cache).
struct TestRegistryOptions {
  oci::TokenCache tokens;
  oci::RegistryOptions options;
  TestRegistryOptions() { options.tokens = &tokens; }
};

// Builds and pushes an image of the given layers, `sh` as Cmd.
Result<oci::BuiltImage> PushImage(const std::string& reference, std::vector<oci::LayerInput> layers,
                                  oci::Compression compression = oci::Compression::kGzip,
                                  bool docker_media_types = false,
                                  std::map<std::string, std::string> labels = {});

// Builds an image of `layers` (`sh` as Cmd, the builder's defaults
// otherwise: a PATH, the time now) and pushes it to a private registry: a
// login, and the certs.d directory that has its CA (hosts.toml, ca.crt).
Result<oci::BuiltImage> PushWithLogin(const std::string& reference,
                                      std::vector<oci::LayerInput> layers, const std::string& user,
                                      const std::string& password, const std::string& certs_dir);

// An uncompressed tar stream made of the given entries; regular files take
// their data from `data` (same index, may be shorter than entries).
std::string MakeTar(const std::vector<oci::TarEntry>& entries,
                    const std::vector<std::string>& data = {});
oci::TarEntry FileEntry(const std::string& name, int64_t size, uint32_t mode = 0644);
oci::TarEntry DirEntry(const std::string& name, uint32_t mode = 0755);
oci::TarEntry SymlinkEntry(const std::string& name, const std::string& target);

}  // namespace syspgo::testing

#endif  // SYSPGO_TESTS_SUPPORT_TEST_IMAGES_H_
