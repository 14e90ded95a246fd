// SPDX-License-Identifier: Apache-2.0
#include "oci/registry_hosts.h"

#include <limits.h>
#include <openssl/x509.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <toml++/toml.h>

#include "common/file_util.h"
#include "oci/reference.h"

namespace syspgo::oci {
namespace {

std::string Resolve(const std::string& dir, const std::string& path) {
  return path.empty() || path[0] == '/' ? path : JoinPath(dir, path);
}

Status AppendCa(const std::string& file, TlsSettings& tls) {
  auto pem = ReadFileToString(file);
  if (!pem.ok()) return pem.status().WithContext("CA certificate for a registry");
  if (pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return InvalidArgument("CA certificate " + file + " holds no PEM certificate");
  }
  tls.ca_pem += *pem;
  if (!tls.ca_pem.empty() && tls.ca_pem.back() != '\n') tls.ca_pem += '\n';
  return Status::Ok();
}

// "scheme://host[:port][/path]" split; the scheme defaults to https.
struct ParsedUrl {
  std::string scheme, host, path;
};
Result<ParsedUrl> ParseHostUrl(std::string url, const std::string& where) {
  ParsedUrl out;
  out.scheme = "https";
  if (size_t p = url.find("://"); p != std::string::npos) {
    out.scheme = url.substr(0, p);
    url = url.substr(p + 3);
  }
  if (out.scheme != "http" && out.scheme != "https") {
    return InvalidArgument(where + ": '" + out.scheme + "' is not http or https");
  }
  if (size_t slash = url.find('/'); slash != std::string::npos) {
    out.path = url.substr(slash);
    url.resize(slash);
  }
  while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
  if (url.empty()) return InvalidArgument(where + ": no host in the URL");
  out.host = url;
  return out;
}

void SetUrl(RegistryEndpoint& ep, const ParsedUrl& url, bool override_path) {
  ep.origin = url.scheme + "://" + url.host;
  ep.host = url.host;
  ep.api_root = ep.origin + url.path + (override_path ? "" : "/v2");
}

// The docker layout: *.crt are CAs, NAME.cert + NAME.key a client pair.
Status ReadDockerCertsDir(const std::string& dir, TlsSettings& tls) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string path = JoinPath(dir, name);
    if (name.ends_with(".crt")) {
      RETURN_IF_ERROR(AppendCa(path, tls));
    } else if (name.ends_with(".cert")) {
      const std::string key = path.substr(0, path.size() - 5) + ".key";
      if (!PathExists(key)) {
        return InvalidArgument("client certificate " + path + " has no key beside it (" + key +
                               ")");
      }
      tls.client_cert = path;
      tls.client_key = key;
    }
  }
  return Status::Ok();
}

// The fields a server or a [host."..."] table may carry.
Status ReadHostFields(const toml::table& t, const std::string& dir, const std::string& where,
                      RegistryEndpoint& ep) {
  if (const toml::node* caps = t.get("capabilities")) {
    const toml::array* a = caps->as_array();
    if (a == nullptr) return InvalidArgument(where + ": capabilities is not an array");
    ep.pull = ep.resolve = ep.push = false;
    for (const toml::node& c : *a) {
      auto v = c.value<std::string>();
      if (!v) return InvalidArgument(where + ": a capability is not a string");
      if (*v == "pull")
        ep.pull = true;
      else if (*v == "resolve")
        ep.resolve = true;
      else if (*v == "push")
        ep.push = true;
      else
        return InvalidArgument(where + ": unknown capability '" + *v + "'");
    }
  }
  if (const toml::node* ca = t.get("ca")) {
    std::vector<std::string> files;
    if (auto s = ca->value<std::string>()) {
      files.push_back(*s);
    } else if (const toml::array* a = ca->as_array()) {
      for (const toml::node& f : *a) {
        auto v = f.value<std::string>();
        if (!v) return InvalidArgument(where + ": ca holds a non-string");
        files.push_back(*v);
      }
    } else {
      return InvalidArgument(where + ": ca is neither a path nor a list of paths");
    }
    for (const std::string& f : files) RETURN_IF_ERROR(AppendCa(Resolve(dir, f), ep.tls));
  }
  if (const toml::node* client = t.get("client")) {
    // "cert" (key inside), ["cert", "key"]... or [["cert", "key"], ...]:
    // the first pair is used.
    std::string cert, key;
    if (auto s = client->value<std::string>()) {
      cert = *s;
    } else if (const toml::array* a = client->as_array(); a && !a->empty()) {
      const toml::node& first = (*a)[0];
      if (const toml::array* pair = first.as_array()) {
        if (pair->empty()) return InvalidArgument(where + ": client pair is empty");
        cert = (*pair)[0].value_or(std::string());
        if (pair->size() > 1) key = (*pair)[1].value_or(std::string());
      } else {
        cert = first.value_or(std::string());
      }
    } else {
      return InvalidArgument(where + ": client is neither a path nor a list");
    }
    if (cert.empty()) return InvalidArgument(where + ": client names no certificate");
    ep.tls.client_cert = Resolve(dir, cert);
    ep.tls.client_key = key.empty() ? "" : Resolve(dir, key);
    for (const std::string& f : {ep.tls.client_cert, ep.tls.client_key}) {
      if (!f.empty() && !PathExists(f)) {
        return InvalidArgument(where + ": client certificate file " + f + " does not exist");
      }
    }
  }
  if (const toml::node* skip = t.get("skip_verify")) {
    auto v = skip->value<bool>();
    if (!v) return InvalidArgument(where + ": skip_verify is not a boolean");
    ep.tls.verify = !*v;
  }
  if (const toml::node* headers = t.get("header")) {
    const toml::table* h = headers->as_table();
    if (h == nullptr) return InvalidArgument(where + ": header is not a table");
    for (const auto& [name, value] : *h) {
      if (auto s = value.value<std::string>()) {
        ep.headers.push_back(std::string(name.str()) + ": " + *s);
      } else if (const toml::array* a = value.as_array()) {
        for (const toml::node& v : *a) {
          ep.headers.push_back(std::string(name.str()) + ": " + v.value_or(std::string()));
        }
      } else {
        return InvalidArgument(where + ": header " + std::string(name.str()) + " is not a string");
      }
    }
  }
  return Status::Ok();
}

bool OverridePath(const toml::table& t) { return t["override_path"].value_or(false); }

}  // namespace

std::vector<std::string> DefaultCertsDirs() {
  return {"/etc/containerd/certs.d", "/etc/docker/certs.d"};
}

std::vector<std::string> CaFilesFromEnvironment() {
  // The system's own bundle (what many environments set these to) is in
  // every TLS store already (oci/http.cc): not read again as extra CAs.
  char system_bundle[PATH_MAX];
  const bool have_system = ::realpath(X509_get_default_cert_file(), system_bundle) != nullptr;
  std::vector<std::string> out;
  for (const char* name : {"SSL_CERT_FILE", "CURL_CA_BUNDLE"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    char real[PATH_MAX];
    if (have_system && ::realpath(v, real) != nullptr && std::strcmp(real, system_bundle) == 0) {
      continue;
    }
    out.emplace_back(v);
  }
  return out;
}

Result<std::vector<RegistryEndpoint>> ParseHostsToml(const std::string& text,
                                                     const std::string& dir,
                                                     const std::string& name,
                                                     const std::string& default_server) {
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return InvalidArgument(name + ":" + std::to_string(where.line) + ":" +
                           std::to_string(where.column) + ": " + std::string(e.description()));
  }
  std::vector<RegistryEndpoint> out;
  // Mirrors, in the order they appear in the file.
  if (const toml::table* hosts = root["host"].as_table()) {
    std::vector<std::pair<toml::source_position, std::string>> order;
    for (const auto& [url, node] : *hosts)
      order.emplace_back(node.source().begin, std::string(url.str()));
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
      return a.first.line != b.first.line ? a.first.line < b.first.line
                                          : a.first.column < b.first.column;
    });
    for (const auto& [pos, url] : order) {
      const toml::table* t = (*hosts)[url].as_table();
      const std::string where = name + ": [host.\"" + url + "\"]";
      if (t == nullptr) return InvalidArgument(where + " is not a table");
      RegistryEndpoint ep;
      ep.mirror = true;
      ep.configured_by = name;
      ASSIGN_OR_RETURN(ParsedUrl parsed, ParseHostUrl(url, where));
      SetUrl(ep, parsed, OverridePath(*t));
      RETURN_IF_ERROR(ReadHostFields(*t, dir, where, ep));
      out.push_back(std::move(ep));
    }
  }
  // The registry itself.
  RegistryEndpoint server;
  server.push = true;
  server.configured_by = name;
  std::string server_url = default_server;
  if (const toml::node* s = root.get("server")) {
    auto v = s->value<std::string>();
    if (!v) return InvalidArgument(name + ": server is not a string");
    server_url = *v;
  }
  ASSIGN_OR_RETURN(ParsedUrl parsed, ParseHostUrl(server_url, name + ": server"));
  SetUrl(server, parsed, OverridePath(root));
  RETURN_IF_ERROR(ReadHostFields(root, dir, name, server));
  // A [host."URL"] section for the server's own URL (Harbor's and many
  // vendors' examples: `server = "https://H"` and [host."https://H"] with
  // its ca) configures the registry itself, not a mirror of it: its
  // settings go to the server endpoint, which is asked once. Its
  // capabilities are the server's (push included: it is the registry).
  for (auto it = out.begin(); it != out.end();) {
    if (it->api_root != server.api_root) {
      ++it;
      continue;
    }
    server.pull = server.pull || it->pull;
    server.resolve = server.resolve || it->resolve;
    if (!it->tls.ca_pem.empty()) server.tls.ca_pem += it->tls.ca_pem;
    if (!it->tls.client_cert.empty()) {
      server.tls.client_cert = it->tls.client_cert;
      server.tls.client_key = it->tls.client_key;
    }
    server.tls.verify = server.tls.verify && it->tls.verify;
    server.headers.insert(server.headers.end(), it->headers.begin(), it->headers.end());
    it = out.erase(it);
  }
  out.push_back(std::move(server));
  return out;
}

Result<std::vector<RegistryEndpoint>> ResolveRegistryEndpoints(
    const std::string& registry, const RegistryHostsOptions& options) {
  ImageReference ref;
  ref.registry = registry;
  const std::string host = ref.RegistryHost();
  bool plain = IsLoopbackRegistry(host);
  for (const std::string& h : options.insecure_hosts) plain |= (h == registry || h == host);

  std::vector<RegistryEndpoint> out;
  const std::vector<std::string> dirs =
      options.certs_dirs.empty() ? DefaultCertsDirs() : options.certs_dirs;
  bool configured = false;
  for (const std::string& base : dirs) {
    for (const std::string& name : {registry, host, std::string("_default")}) {
      const std::string dir = JoinPath(base, name);
      if (!PathExists(dir)) continue;
      const std::string toml_path = JoinPath(dir, "hosts.toml");
      if (PathExists(toml_path)) {
        ASSIGN_OR_RETURN(std::string text, ReadFileToString(toml_path));
        // A configured server without a scheme is TLS; the default server
        // keeps the plain-HTTP rules for loopback and --insecure-registry.
        const std::string default_server = (plain ? "http://" : "https://") + host;
        ASSIGN_OR_RETURN(out, ParseHostsToml(text, dir, toml_path, default_server));
      } else if (name != "_default") {
        RegistryEndpoint server;
        server.push = true;
        server.configured_by = dir;
        // Certificates for the host mean it speaks TLS.
        SetUrl(server, ParsedUrl{"https", host, ""}, false);
        RETURN_IF_ERROR(ReadDockerCertsDir(dir, server.tls));
        out.push_back(std::move(server));
      } else {
        continue;
      }
      configured = true;
      break;
    }
    if (configured) break;
  }
  if (!configured) {
    RegistryEndpoint server;
    server.push = true;
    SetUrl(server, ParsedUrl{plain ? "http" : "https", host, ""}, false);
    out.push_back(std::move(server));
  }
  for (RegistryEndpoint& ep : out) {
    if (!options.tls_verify) ep.tls.verify = false;
    for (const std::string& f : options.extra_ca_files) RETURN_IF_ERROR(AppendCa(f, ep.tls));
  }
  return out;
}

}  // namespace syspgo::oci
