// SPDX-License-Identifier: Apache-2.0
#include "node/registry_config.h"

#include "oci/registry_client.h"
#include "oci/registry_hosts.h"

namespace syspgo::node {

Result<nlohmann::json> RegistryConfigForHelper(const oci::ImageReference& ref,
                                               const node::RegistrySetup& setup) {
  ASSIGN_OR_RETURN(std::vector<oci::RegistryEndpoint> endpoints,
                   oci::ResolveRegistryEndpoints(ref.registry, setup.options.hosts));
  nlohmann::json hosts = nlohmann::json::array();
  for (const oci::RegistryEndpoint& e : endpoints) {
    std::vector<std::string> caps;
    if (e.pull) caps.push_back("pull");
    if (e.resolve) caps.push_back("resolve");
    if (e.push) caps.push_back("push");
    nlohmann::json h = {{"origin", e.origin},
                        {"path", e.api_root.substr(e.origin.size())},
                        {"capabilities", caps},
                        {"ca_pem", e.tls.ca_pem},
                        {"client_cert", e.tls.client_cert},
                        {"client_key", e.tls.client_key},
                        {"skip_verify", !e.tls.verify},
                        {"headers", e.headers},
                        {"configured_by", e.configured_by}};
    // A helper that fails is reported only if the registry asks for a login.
    auto creds = oci::EndpointCredentials(setup.credentials, ref.registry, e);
    if (!creds.ok()) {
      h["credentials_error"] = creds.status().message();
    } else if (*creds) {
      h["username"] = (*creds)->username;
      h["secret"] = (*creds)->password;
      h["credentials_from"] = (*creds)->source;
    } else {
      h["credentials_from"] = setup.credentials.Describe(e.host);
    }
    hosts.push_back(std::move(h));
  }
  return nlohmann::json{{"registry", ref.registry}, {"hosts", std::move(hosts)}};
}

}  // namespace syspgo::node
