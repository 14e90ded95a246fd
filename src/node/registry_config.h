// SPDX-License-Identifier: Apache-2.0
// File: node/registry_config.h
//
// A registry as this node's configuration describes it, for a program
// that speaks to the registry itself (tools/containerd-pull, containerd's
// Go client): every endpoint (certs.d/hosts.toml mirrors and server,
// --certs-dir, CAs, client keys, --insecure-registry, --tls-verify) with
// its capabilities, and the credentials syspgo would use there
// (config.json auths, credential helpers). So `syspgo pull
// --containerd-address` talks to a registry exactly as every other syspgo
// command does. The text holds secrets: pass it through a pipe or a memfd,
// never a command line or a file others can read.
//
// JSON: {"registry": "host:port", "hosts": [{"origin": "https://h:p",
//   "path": "/v2", "capabilities": ["pull", "resolve", "push"],
//   "ca_pem": "...", "client_cert": "/path", "client_key": "/path",
//   "skip_verify": false, "headers": ["Name: value"], "configured_by": "...",
//   "username": "...", "secret": "...", "credentials_from": "...",
//   "credentials_error": "..."}]}, mirrors first, the registry last.
#ifndef SYSPGO_NODE_REGISTRY_CONFIG_H_
#define SYSPGO_NODE_REGISTRY_CONFIG_H_

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "node/image_source.h"
#include "oci/reference.h"

namespace syspgo::node {

Result<nlohmann::json> RegistryConfigForHelper(const oci::ImageReference& ref,
                                               const RegistrySetup& setup);

}  // namespace syspgo::node

#endif  // SYSPGO_NODE_REGISTRY_CONFIG_H_
