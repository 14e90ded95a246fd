// SPDX-License-Identifier: Apache-2.0
// File: run/bundle.h
//
// The OCI runtime bundle's config.json, made from an image config and the
// user's overrides, with Docker's defaults for what an image does not say.
#ifndef SYSPGO_RUN_BUNDLE_H_
#define SYSPGO_RUN_BUNDLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "oci/manifest.h"

namespace syspgo::run {

struct ProcessUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;
};

// Resolves an image's User ("", "name", "uid", "name:group", "uid:gid")
// against the container's /etc/passwd and /etc/group under rootfs.
Result<ProcessUser> ResolveUser(const std::string& spec, const std::string& rootfs);

struct ContainerSpec {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  ProcessUser user;
  std::string hostname = "syspgo";
  std::string cgroups_path;      // e.g. "/syspgo/<id>"
  uint64_t nofile_limit = 1024;  // RLIMIT_NOFILE, soft and hard
};

// Entrypoint/Cmd/Env/WorkingDir from the image, overridden by the user:
// `command` replaces Cmd, `entrypoint` (when set) replaces Entrypoint,
// `extra_env` entries are added last and win.
Result<ContainerSpec> MakeContainerSpec(const oci::ImageConfig& config,
                                        const std::vector<std::string>& command,
                                        const std::optional<std::vector<std::string>>& entrypoint,
                                        const std::vector<std::string>& extra_env,
                                        const std::string& rootfs);

// config.json text for runc (OCI runtime spec 1.0), host network.
std::string RuntimeSpecJson(const ContainerSpec& spec);

}  // namespace syspgo::run

#endif  // SYSPGO_RUN_BUNDLE_H_
