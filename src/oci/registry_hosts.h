// SPDX-License-Identifier: Apache-2.0
// File: oci/registry_hosts.h
//
// Per-registry connection settings, read the way containerd and docker
// read them, so an operator's existing files work unchanged:
//
//   <certs.d>/<host>/hosts.toml   containerd: server, mirrors ([host."URL"]),
//                                 capabilities, ca, client, skip_verify,
//                                 override_path, header
//   <certs.d>/<host>/*.crt        a CA to trust for the host (docker, and
//                                 containerd without hosts.toml)
//   <certs.d>/<host>/*.cert+.key  a client certificate and its key
//   <certs.d>/_default/hosts.toml containerd's fallback for any host
//
// The certs.d directories are /etc/containerd/certs.d then
// /etc/docker/certs.d unless the caller names others; the first that has
// a directory for the host wins. Relative paths in hosts.toml are taken
// from the host's directory. A loopback registry is plain HTTP by default
// (as before), unless a certs.d directory configures it: then it is TLS.
#ifndef SYSPGO_OCI_REGISTRY_HOSTS_H_
#define SYSPGO_OCI_REGISTRY_HOSTS_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "oci/http.h"

namespace syspgo::oci {

// One place a registry's content can be asked for.
struct RegistryEndpoint {
  std::string origin;    // "https://mirror.example:5000" (scheme://host)
  std::string api_root;  // origin + path + "/v2", or origin + path with override_path
  std::string host;      // "mirror.example:5000": credentials and messages
  bool pull = true;      // blobs and manifests by digest
  bool resolve = true;   // tags to digests
  bool push = false;
  bool mirror = false;  // a [host."..."] entry, not the registry itself
  TlsSettings tls;
  std::vector<std::string> headers;  // "Name: value", sent with every request
  std::string configured_by;         // the file or directory, "" for defaults
};

struct RegistryHostsOptions {
  // certs.d directories, in order; empty: the two standard ones.
  std::vector<std::string> certs_dirs;
  // Hosts the user allows over plain HTTP (--insecure-registry).
  std::vector<std::string> insecure_hosts;
  // --tls-verify=false: no certificate is checked, for any host. Distinct
  // from plain HTTP: the connection is still TLS.
  bool tls_verify = true;
  // CA bundles trusted for every host besides the system's
  // ($SSL_CERT_FILE, $CURL_CA_BUNDLE).
  std::vector<std::string> extra_ca_files;
};

// The standard certs.d directories.
std::vector<std::string> DefaultCertsDirs();
// The CA bundles named by $SSL_CERT_FILE and $CURL_CA_BUNDLE, when set and
// other than the system's own bundle.
std::vector<std::string> CaFilesFromEnvironment();

// Where to send requests for `registry` (as the user wrote it): the mirrors
// in their file order, then the registry itself. Never empty. A malformed
// hosts.toml or an unreadable CA or key file is an error naming the file.
Result<std::vector<RegistryEndpoint>> ResolveRegistryEndpoints(const std::string& registry,
                                                               const RegistryHostsOptions& options);

// Parses a hosts.toml text (dir: the directory relative paths start from;
// name: for messages). `default_server` is used when it names no server.
Result<std::vector<RegistryEndpoint>> ParseHostsToml(const std::string& text,
                                                     const std::string& dir,
                                                     const std::string& name,
                                                     const std::string& default_server);

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_REGISTRY_HOSTS_H_
