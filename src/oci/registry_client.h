// SPDX-License-Identifier: Apache-2.0
// File: oci/registry_client.h
//
// A client of one OCI distribution registry (one host). It speaks the
// distribution API (manifests, blobs, uploads), answers bearer and basic
// authentication challenges, and retries transient failures with backoff,
// resuming blob downloads with Range where they stopped. Failures that a
// retry cannot mend (DNS, a refused connection, TLS verification, 4xx) are
// not retried; a stall is retried only when the transfer had made
// progress, and marks the registry quiet in RegistryHealth.
//
// Threading: a RegistryClient is used by one thread at a time. Several
// clients of one pull share a TokenCache (thread-safe) so that a token is
// fetched once.
#ifndef SYSPGO_OCI_REGISTRY_CLIENT_H_
#define SYSPGO_OCI_REGISTRY_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/log.h"
#include "common/status.h"
#include "oci/auth.h"
#include "oci/http.h"
#include "oci/idle_connections.h"
#include "oci/manifest.h"
#include "oci/reference.h"
#include "oci/registry_hosts.h"

namespace syspgo::oci {

// What the clients of one command know about the registries they talk to:
// one that stalled (accepted a request and then sent nothing for the stall
// timeout) is not asked again for a quiet period, so that a hung registry
// costs one stall instead of one per request and retry. The period doubles
// with each stall (10 s, 20 s, ... 60 s); a request after it is let
// through, and an answer ends the quiet. Thread-safe.
class RegistryHealth {
 public:
  explicit RegistryHealth(std::chrono::milliseconds first_quiet = std::chrono::seconds(10),
                          std::chrono::milliseconds max_quiet = std::chrono::seconds(60))
      : first_quiet_(first_quiet), max_quiet_(max_quiet) {}
  // OK, or kUnavailable (saying since when and why) while `host` is quiet.
  Status Admit(const std::string& host);
  void Stalled(const std::string& host, const std::string& why);
  void Answered(const std::string& host);

 private:
  struct State {
    std::chrono::steady_clock::time_point until{};
    std::chrono::milliseconds quiet{0};
    std::string why;
  };
  std::chrono::milliseconds first_quiet_;
  std::chrono::milliseconds max_quiet_;
  std::mutex mu_;  // guards hosts_
  std::map<std::string, State> hosts_;
};

struct RegistryOptions {
  // Plain-HTTP hosts, certs.d directories, --tls-verify (oci/registry_hosts.h).
  RegistryHostsOptions hosts;
  const CredentialStore* credentials = nullptr;  // may be null
  TokenCache* tokens = nullptr;                  // required
  const CancelToken* cancel = nullptr;           // may be null
  const Logger* log = nullptr;                   // may be null
  RegistryHealth* health = nullptr;              // may be null
  // Where a client takes an open connection from and leaves its own when
  // it ends (oci/idle_connections.h); may be null: connections of its own.
  IdleConnections* connections = nullptr;
  HttpOptions http;
  int max_attempts = 5;
  std::chrono::milliseconds backoff_base{200};
};

// Counters a caller may read while transfers run.
struct TransferCounters {
  std::atomic<int64_t> requests{0};
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> retries{0};
};

struct FetchedManifest {
  std::string media_type;  // from Content-Type
  std::string body;
  Digest digest;  // sha256 of body, checked against the server's
};

// The credentials a client uses for `endpoint` of `registry` (as the user
// wrote it): the endpoint's own host's, and for the registry itself under
// another name also the registry's; never the registry's for a mirror.
Result<std::optional<Credentials>> EndpointCredentials(const CredentialStore& credentials,
                                                       const std::string& registry,
                                                       const RegistryEndpoint& endpoint);

class RegistryClient {
 public:
  // registry is the host as the user wrote it ("docker.io", "host:5000").
  static Result<RegistryClient> Create(const std::string& registry, const RegistryOptions& options,
                                       TransferCounters* counters = nullptr);
  RegistryClient(RegistryClient&&) noexcept = default;
  RegistryClient& operator=(RegistryClient&&) = delete;
  // Leaves its connections to options.connections, when set.
  ~RegistryClient();

  // GET /v2/<repo>/manifests/<reference>. When reference is a digest, the
  // body must hash to it; otherwise a Docker-Content-Digest header, if sent,
  // must match the body.
  Result<FetchedManifest> GetManifest(const std::string& repository, const std::string& reference);

  // Streams bytes [offset, offset+length) of a blob to sink (to the end of
  // the blob when length < 0), retrying transport errors and 5xx replies; a
  // retry resumes at the first byte the sink has not seen. A bounded range
  // that the blob cannot fill is Corruption. The bytes are NOT verified here
  // (see BlobVerifier).
  Status FetchBlob(const std::string& repository, const Digest& digest, int64_t offset,
                   const BodySink& sink, int64_t length = -1);
  // Bytes [offset, offset+length) of a blob: one Range request, resumed
  // where it stopped when the transfer fails.
  Result<std::string> FetchBlobRange(const std::string& repository, const Digest& digest,
                                     int64_t offset, int64_t length);
  // A whole small blob (configs, manifests by digest), verified against
  // descriptor digest and size.
  Result<std::string> FetchSmallBlob(const std::string& repository, const Descriptor& descriptor);

  Result<bool> HasBlob(const std::string& repository, const Digest& digest);
  // Monolithic upload (POST then PUT ?digest=), skipped when the blob exists.
  Status PushBlob(const std::string& repository, const Digest& digest, const std::string& content);
  Status PushBlobFromFile(const std::string& repository, const Digest& digest, int64_t size,
                          const std::string& path);
  // oci_subject (may be null) receives the OCI-Subject reply header: a
  // registry with the referrers API sets it when it indexed the subject.
  Result<Digest> PushManifest(const std::string& repository, const std::string& reference,
                              std::string_view media_type, const std::string& body,
                              std::string* oci_subject = nullptr);
  // GET /v2/<repo>/referrers/<subject>: the referrers index, or nullopt
  // when the registry has no referrers API (use the tag schema then).
  Result<std::optional<ImageIndex>> GetReferrers(const std::string& repository,
                                                 const Digest& subject,
                                                 const std::string& artifact_type);

  // The registry's own endpoint (after its mirrors): "https://host".
  const std::string& base_url() const { return endpoints_.back().origin; }
  const std::vector<RegistryEndpoint>& endpoints() const { return endpoints_; }

 private:
  enum class Use { kPull, kResolve, kPush };
  RegistryClient(std::string registry, std::vector<RegistryEndpoint> endpoints,
                 RegistryOptions options, HttpClient http, TransferCounters* counters);

  // Performs a request with authentication on endpoint `ep`: adds a cached
  // credential and answers one 401 challenge. request.url is the path
  // below the endpoint's API root ("/<repo>/blobs/<digest>"). `scope` is
  // the token scope to ask for.
  Result<HttpResponse> Send(HttpRequest request, const std::string& scope, size_t ep);
  // Send() with retries for transport failures and retryable statuses, on
  // the endpoints that serve `use` in order (mirrors first): a mirror that
  // fails or lacks the object hands over to the next.
  Result<HttpResponse> SendWithRetry(const HttpRequest& request, const std::string& scope, Use use);
  Result<HttpResponse> SendWithRetryOn(const HttpRequest& request, const std::string& scope,
                                       size_t ep);
  std::vector<size_t> EndpointsFor(Use use) const;
  Status Authenticate(const HttpResponse& challenge_response, const std::string& scope, size_t ep);
  std::string AuthHeader(const std::string& scope, size_t ep);
  // A 401/403 after the credentials were offered (or none were found),
  // naming the registry and where the credentials came from.
  Status Refused(const std::string& what, const HttpResponse& reply, size_t ep);
  bool Sleep(int attempt);
  // Send() once more after `failed`? A stall without progress is reported
  // to the health record.
  bool Retryable(const Status& failed, bool progressed, size_t ep);
  // FetchBlob's attempts on one endpoint; `delivered` carries across.
  Status FetchBlobFrom(size_t ep, HttpRequest& req, const Digest& digest, int64_t offset,
                       bool bounded, int64_t length, int64_t& delivered, const std::string& scope);
  Status Upload(const std::string& repository, const Digest& digest, HttpRequest put);

  std::string registry_;
  std::vector<RegistryEndpoint> endpoints_;  // mirrors, then the registry; never empty
  RegistryOptions options_;
  HttpClient http_;
  TransferCounters* counters_;
  std::vector<bool> basic_auth_;  // per endpoint: it asked for basic auth
  // Per endpoint: the credentials offered (looked up at the first challenge).
  std::vector<std::optional<Credentials>> creds_;
  std::vector<bool> creds_looked_up_;
  TransportFailure last_failure_ = TransportFailure::kNone;  // of Send()
  bool quiet_ = false;  // Send() was refused: the registry is quiet (RegistryHealth)
};

// A registry error reply turned into a Status naming the request.
Status StatusFromReply(const std::string& what, const HttpResponse& response);

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_REGISTRY_CLIENT_H_
