// SPDX-License-Identifier: Apache-2.0
#include "oci/registry_client.h"

#include <fcntl.h>

#include <nlohmann/json.hpp>
#include <cctype>
#include <thread>

#include "common/base64.h"
#include "common/sha256.h"
#include "common/unique_fd.h"

namespace syspgo::oci {
namespace {

bool IsRetryableStatus(long status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

// The registry's own error text ({"errors":[{"code":..,"message":..}]}).
std::string RegistryErrorText(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "";
  auto errors = j.find("errors");
  if (errors == j.end() || !errors->is_array()) return "";
  std::string out;
  for (const auto& e : *errors) {
    if (!e.is_object()) continue;
    if (!out.empty()) out += "; ";
    if (auto c = e.find("code"); c != e.end() && c->is_string()) {
      out += c->get<std::string>();
    }
    if (auto m = e.find("message"); m != e.end() && m->is_string()) {
      out += ": " + m->get<std::string>();
    }
  }
  return out;
}

// "repo:tag" or "repo@sha256:..." as references are written.
std::string RefText(const std::string& repository, const std::string& reference) {
  return repository + (reference.rfind("sha256:", 0) == 0 ? "@" : ":") + reference;
}

}  // namespace

// Percent-encodes all but RFC 3986 unreserved characters and '/'.
std::string QueryEscape(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

Status RegistryHealth::Admit(const std::string& host) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(host);
  if (it == hosts_.end() || std::chrono::steady_clock::now() >= it->second.until) {
    return Status::Ok();
  }
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(
      it->second.until - std::chrono::steady_clock::now());
  return Unavailable(host + " stopped answering (" + it->second.why +
                     "); not asking it again for " + std::to_string(left.count() + 1) + " s");
}

void RegistryHealth::Stalled(const std::string& host, const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = hosts_[host];
  s.quiet = s.quiet.count() == 0 ? first_quiet_ : std::min(s.quiet * 2, max_quiet_);
  s.until = std::chrono::steady_clock::now() + s.quiet;
  s.why = why;
}

void RegistryHealth::Answered(const std::string& host) {
  std::lock_guard<std::mutex> lock(mu_);
  hosts_.erase(host);
}

Status StatusFromReply(const std::string& what, const HttpResponse& r) {
  std::string text = RegistryErrorText(r.body);
  if (text.empty() && r.status == 400 &&
      r.body.find("HTTP request to an HTTPS server") != std::string::npos) {
    text =
        "the registry speaks TLS: drop --insecure-registry for it (give its CA in "
        "certs.d, or --tls-verify=false, instead)";
  }
  std::string message =
      what + ": HTTP " + std::to_string(r.status) + (text.empty() ? "" : " (" + text + ")");
  if (r.status == 404) return NotFound(message);
  if (r.status == 401 || r.status == 403) return PermissionDenied(message);
  if (IsRetryableStatus(r.status)) return Unavailable(message);
  return Status(StatusCode::kInvalidArgument, message);
}

RegistryClient::RegistryClient(std::string registry, std::vector<RegistryEndpoint> endpoints,
                               RegistryOptions options, HttpClient http, TransferCounters* counters)
    : registry_(std::move(registry)),
      endpoints_(std::move(endpoints)),
      options_(std::move(options)),
      http_(std::move(http)),
      counters_(counters),
      basic_auth_(endpoints_.size(), false),
      creds_(endpoints_.size()),
      creds_looked_up_(endpoints_.size(), false) {}

Result<std::optional<Credentials>> EndpointCredentials(const CredentialStore& credentials,
                                                       const std::string& registry,
                                                       const RegistryEndpoint& endpoint) {
  ASSIGN_OR_RETURN(std::optional<Credentials> found, credentials.Lookup(endpoint.host));
  // The registry under another name (hosts.toml's server): the login for
  // the name the user wrote. A mirror never gets the registry's login.
  if (!found && endpoint.host != registry && !endpoint.mirror) {
    ASSIGN_OR_RETURN(found, credentials.Lookup(registry));
  }
  return found;
}

Result<RegistryClient> RegistryClient::Create(const std::string& registry,
                                              const RegistryOptions& options,
                                              TransferCounters* counters) {
  if (options.tokens == nullptr) {
    return InvalidArgument("registry client needs a token cache");
  }
  ASSIGN_OR_RETURN(std::vector<RegistryEndpoint> endpoints,
                   ResolveRegistryEndpoints(registry, options.hosts));
  std::optional<HttpClient> idle;
  if (options.connections) idle = options.connections->Take(registry);
  if (idle) {
    idle->Rebind(options.http, options.cancel);
  } else {
    ASSIGN_OR_RETURN(HttpClient made, HttpClient::Create(options.http, options.cancel));
    idle.emplace(std::move(made));
  }
  return RegistryClient(registry, std::move(endpoints), options, std::move(*idle), counters);
}

RegistryClient::~RegistryClient() {
  if (options_.connections && http_.valid()) {
    options_.connections->Give(registry_, std::move(http_));
  }
}

std::vector<size_t> RegistryClient::EndpointsFor(Use use) const {
  std::vector<size_t> out;
  if (use == Use::kPush) {
    // A push goes to one place, as containerd's: the first endpoint with
    // the push capability, else the registry itself. A blob a mirror has
    // says nothing about the registry pushed to, so nothing hands over.
    for (size_t i = 0; i + 1 < endpoints_.size(); ++i) {
      if (endpoints_[i].push) return {i};
    }
    return {endpoints_.size() - 1};
  }
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const RegistryEndpoint& ep = endpoints_[i];
    const bool serves = use == Use::kPull ? ep.pull : use == Use::kResolve ? ep.resolve : ep.push;
    // The registry itself is always asked last, whatever hosts.toml says
    // of its capabilities, so that a pull never has nowhere to go.
    if (serves || i + 1 == endpoints_.size()) out.push_back(i);
  }
  return out;
}

std::string RegistryClient::AuthHeader(const std::string& scope, size_t ep) {
  if (auto token = options_.tokens->Get(endpoints_[ep].origin + " " + scope)) {
    return "Authorization: Bearer " + *token;
  }
  if (basic_auth_[ep] && creds_[ep]) {
    return "Authorization: Basic " +
           Base64Encode(creds_[ep]->username + ":" + creds_[ep]->password);
  }
  return "";
}

Status RegistryClient::Refused(const std::string& what, const HttpResponse& reply, size_t ep) {
  const RegistryEndpoint& e = endpoints_[ep];
  std::string who;
  if (creds_[ep]) {
    who = "credentials" +
          (creds_[ep]->username.empty() ? std::string(" (an identity token)")
                                        : " for user '" + creds_[ep]->username + "'") +
          " from " + creds_[ep]->source;
  } else if (!creds_looked_up_[ep]) {
    who = "sent without credentials (the registry had not asked for a login)";
  } else if (options_.credentials) {
    who = "no credentials: " + options_.credentials->Describe(e.host);
  } else {
    who = "no credentials";
  }
  const std::string verb = reply.status == 403 ? "refused access" : "rejected the login";
  std::string text = RegistryErrorText(reply.body);
  return PermissionDenied("registry " + e.host + " " + verb + " (HTTP " +
                          std::to_string(reply.status) + (text.empty() ? "" : ", " + text) +
                          ") to " + what + "; " + who);
}

Status RegistryClient::Authenticate(const HttpResponse& reply, const std::string& scope,
                                    size_t ep) {
  const RegistryEndpoint& e = endpoints_[ep];
  std::string header = reply.Header("www-authenticate");
  if (header.empty()) {
    return PermissionDenied(e.origin + " answered 401 without a challenge");
  }
  ASSIGN_OR_RETURN(std::vector<AuthChallenge> challenges, ParseWwwAuthenticate(header));
  if (!creds_looked_up_[ep] && options_.credentials) {
    ASSIGN_OR_RETURN(creds_[ep], EndpointCredentials(*options_.credentials, registry_, e));
    creds_looked_up_[ep] = true;
  }
  const std::optional<Credentials>& creds = creds_[ep];
  for (const AuthChallenge& c : challenges) {
    if (c.scheme == "basic") {
      if (!creds) {
        return PermissionDenied("registry " + e.host + " requires a login and there are " +
                                (options_.credentials ? options_.credentials->Describe(e.host)
                                                      : std::string("no credentials")));
      }
      basic_auth_[ep] = true;
      return Status::Ok();
    }
    if (c.scheme != "bearer") continue;
    if (c.params.count("realm") == 0) {
      return PermissionDenied("bearer challenge from " + e.origin + " names no realm");
    }
    // The challenge's own scope wins when it names one.
    std::string want = scope;
    if (auto s = c.params.find("scope"); s != c.params.end()) want = s->second;
    HttpRequest token_req;
    token_req.url = TokenRequestUrl(c, want);
    token_req.tls = &e.tls;
    if (creds) {
      token_req.headers.push_back("Authorization: Basic " +
                                  Base64Encode(creds->username + ":" + creds->password));
    }
    if (counters_) counters_->requests++;
    ASSIGN_OR_RETURN(HttpResponse token_reply, http_.Perform(token_req));
    if (token_reply.status == 401 || token_reply.status == 403) {
      return Refused("a token from " + c.params.at("realm"), token_reply, ep);
    }
    if (token_reply.status != 200) {
      return StatusFromReply("token request to " + c.params.at("realm"), token_reply);
    }
    ASSIGN_OR_RETURN(std::string token, ParseTokenResponse(token_reply.body));
    options_.tokens->Put(e.origin + " " + scope, std::move(token));
    return Status::Ok();
  }
  return PermissionDenied("registry " + e.host +
                          " asked for an authentication scheme we do not "
                          "support: " +
                          header);
}

Result<HttpResponse> RegistryClient::Send(HttpRequest request, const std::string& scope,
                                          size_t ep) {
  const RegistryEndpoint& e = endpoints_[ep];
  const std::string path = request.url;
  // An absolute URL (an upload's Location) is used as is.
  if (path.rfind("http://", 0) != 0 && path.rfind("https://", 0) != 0) {
    request.url = e.api_root + path;
  }
  request.tls = &e.tls;
  request.headers.insert(request.headers.end(), e.headers.begin(), e.headers.end());
  const size_t base_headers = request.headers.size();
  for (int round = 0; round < 2; ++round) {
    last_failure_ = TransportFailure::kNone;
    quiet_ = false;
    if (options_.health) {
      Status admitted = options_.health->Admit(e.origin);
      if (!admitted.ok()) {
        quiet_ = true;
        return admitted;
      }
    }
    request.headers.resize(base_headers);
    std::string auth = AuthHeader(scope, ep);
    if (!auth.empty()) request.headers.push_back(auth);
    if (counters_) counters_->requests++;
    auto performed = http_.Perform(request);
    if (!performed.ok()) {
      last_failure_ = http_.last_failure();
      return performed.status();
    }
    if (options_.health) options_.health->Answered(e.origin);
    HttpResponse reply = std::move(*performed);
    if (reply.status != 401 || round == 1) return reply;
    // The cached token may have expired: drop it and answer the challenge.
    options_.tokens->Drop(e.origin + " " + scope);
    Status authenticated = Authenticate(reply, scope, ep);
    if (!authenticated.ok()) {
      last_failure_ = http_.last_failure();  // of the token request, if it failed
      return authenticated;
    }
  }
  return Internal("unreachable");
}

bool RegistryClient::Sleep(int attempt) {
  auto delay = options_.backoff_base * (1 << std::min(attempt, 6));
  auto deadline = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < deadline) {
    if (options_.cancel && options_.cancel->cancelled()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

bool RegistryClient::Retryable(const Status& failed, bool progressed, size_t ep) {
  if (failed.code() != StatusCode::kUnavailable || quiet_) return false;
  switch (last_failure_) {
    case TransportFailure::kPermanent:
      return false;
    case TransportFailure::kStalled:
      // A registry that sends nothing will not start on a retry: it is left
      // alone for a while (by every client of the health record). One that
      // stalled mid-transfer may be resumed once more.
      if (!progressed && options_.health) {
        options_.health->Stalled(endpoints_[ep].origin, failed.message());
      }
      return progressed;
    case TransportFailure::kNone:  // a retryable reply (5xx from the token service)
      return true;
    case TransportFailure::kTransient:
      return true;
  }
  return true;
}

Result<HttpResponse> RegistryClient::SendWithRetryOn(const HttpRequest& request,
                                                     const std::string& scope, size_t ep) {
  Status last;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    if (attempt > 0) {
      if (counters_) counters_->retries++;
      if (options_.log) {
        options_.log->Info("retrying " + endpoints_[ep].api_root + request.url + " (" +
                           last.message() + ")");
      }
      if (!Sleep(attempt - 1)) return Cancelled("cancelled");
    }
    auto reply = Send(request, scope, ep);
    if (!reply.ok()) {
      if (!Retryable(reply.status(), /*progressed=*/false, ep)) return reply.status();
      last = reply.status();
      continue;
    }
    if (IsRetryableStatus(reply->status)) {
      last = StatusFromReply(request.method + " " + endpoints_[ep].api_root + request.url, *reply);
      continue;
    }
    if (reply->status == 401 || reply->status == 403) {
      return Refused(request.method + " " + request.url, *reply, ep);
    }
    return reply;
  }
  return last.WithContext("giving up after " + std::to_string(options_.max_attempts) + " attempts");
}

Result<HttpResponse> RegistryClient::SendWithRetry(const HttpRequest& request,
                                                   const std::string& scope, Use use) {
  const std::vector<size_t> eps = EndpointsFor(use);
  for (size_t k = 0; k < eps.size(); ++k) {
    const size_t ep = eps[k];
    auto reply = SendWithRetryOn(request, scope, ep);
    if (k + 1 == eps.size()) return reply;
    // A mirror hands over when it fails, lacks the object or refuses us;
    // never when we were cancelled or ran out of time.
    if (reply.ok() && (reply->status < 400 || reply->status == 416)) return reply;
    if (!reply.ok() && (reply.status().code() == StatusCode::kCancelled ||
                        reply.status().code() == StatusCode::kDeadlineExceeded)) {
      return reply;
    }
    if (options_.log) {
      options_.log->Info(
          "mirror " + endpoints_[ep].origin + " did not serve " + request.url + " (" +
          (reply.ok() ? "HTTP " + std::to_string(reply->status) : reply.status().message()) +
          "); asking the next");
    }
  }
  return Internal("no endpoint");  // EndpointsFor is never empty
}

Result<FetchedManifest> RegistryClient::GetManifest(const std::string& repository,
                                                    const std::string& reference) {
  HttpRequest req;
  req.url = "/" + repository + "/manifests/" + reference;
  req.headers.push_back("Accept: " + ManifestAcceptHeader());
  req.max_body = 4 << 20;  // the distribution spec's manifest size limit
  const Use use = reference.rfind("sha256:", 0) == 0 ? Use::kPull : Use::kResolve;
  ASSIGN_OR_RETURN(HttpResponse reply, SendWithRetry(req, RepositoryScope(repository, false), use));
  if (reply.status != 200) {
    return StatusFromReply("manifest " + registry_ + "/" + RefText(repository, reference), reply);
  }
  FetchedManifest out;
  out.media_type = reply.Header("content-type");
  out.digest = Digest::Of(reply.body);
  if (counters_) counters_->bytes += static_cast<int64_t>(reply.body.size());
  if (reference.rfind("sha256:", 0) == 0 && out.digest.ToString() != reference) {
    return Corruption("manifest " + repository + "@" + reference +
                      ": digest mismatch, content hashes to " + out.digest.ToString());
  }
  std::string claimed = reply.Header("docker-content-digest");
  if (!claimed.empty() && claimed != out.digest.ToString() && claimed.rfind("sha256:", 0) == 0) {
    return Corruption("manifest " + RefText(repository, reference) +
                      ": digest mismatch, server says " + claimed + " but content hashes to " +
                      out.digest.ToString());
  }
  out.body = std::move(reply.body);
  return out;
}

Result<std::optional<ImageIndex>> RegistryClient::GetReferrers(const std::string& repository,
                                                               const Digest& subject,
                                                               const std::string& artifact_type) {
  HttpRequest req;
  req.url = "/" + repository + "/referrers/" + subject.ToString();
  if (!artifact_type.empty()) {
    req.url += "?artifactType=" + QueryEscape(artifact_type);
  }
  req.headers.push_back("Accept: " + std::string(media_type::kOciIndex));
  req.max_body = 4 << 20;
  ASSIGN_OR_RETURN(HttpResponse reply,
                   SendWithRetry(req, RepositoryScope(repository, false), Use::kPull));
  // A registry without the API answers 404 (or 405 / 400 from its router).
  if (reply.status == 404 || reply.status == 405 || reply.status == 400) {
    return std::optional<ImageIndex>();
  }
  if (reply.status != 200) {
    return StatusFromReply("referrers of " + repository + "@" + subject.ToString(), reply);
  }
  if (counters_) counters_->bytes += static_cast<int64_t>(reply.body.size());
  ASSIGN_OR_RETURN(ImageIndex index, ParseImageIndex(reply.body));
  return std::optional<ImageIndex>(std::move(index));
}

Status RegistryClient::FetchBlob(const std::string& repository, const Digest& digest,
                                 int64_t offset, const BodySink& sink, int64_t length) {
  if (length == 0) return Status::Ok();
  const bool bounded = length > 0;
  int64_t delivered = 0;
  HttpRequest req;
  req.url = "/" + repository + "/blobs/" + digest.ToString();
  if (bounded) req.range_end = offset + length - 1;
  req.sink = [&](std::span<const char> chunk) -> Status {
    // A server that ignores range_end sends more: keep what was asked and
    // end the transfer (a compliant one ends it itself, keeping the
    // connection alive).
    bool excess = bounded && delivered + static_cast<int64_t>(chunk.size()) > length;
    if (excess) chunk = chunk.first(static_cast<size_t>(length - delivered));
    RETURN_IF_ERROR(sink(chunk));
    delivered += static_cast<int64_t>(chunk.size());
    if (counters_) counters_->bytes += static_cast<int64_t>(chunk.size());
    if (excess) return Cancelled("range complete");
    return Status::Ok();
  };
  const std::string scope = RepositoryScope(repository, false);
  const std::vector<size_t> eps = EndpointsFor(Use::kPull);
  Status last;
  for (size_t k = 0; k < eps.size(); ++k) {
    const size_t ep = eps[k];
    last = FetchBlobFrom(ep, req, digest, offset, bounded, length, delivered, scope);
    if (last.ok() || k + 1 == eps.size()) return last;
    // A mirror hands over (at the first byte not yet delivered) when it
    // fails, lacks the blob or refuses us.
    const StatusCode code = last.code();
    if (code != StatusCode::kUnavailable && code != StatusCode::kNotFound &&
        code != StatusCode::kPermissionDenied && code != StatusCode::kInvalidArgument) {
      return last;
    }
    if (options_.log) {
      options_.log->Info("mirror " + endpoints_[ep].origin + " did not serve " + digest.ToString() +
                         " (" + last.message() + "); asking the next");
    }
  }
  return last;
}

Status RegistryClient::FetchBlobFrom(size_t ep, HttpRequest& req, const Digest& digest,
                                     int64_t offset, bool bounded, int64_t length,
                                     int64_t& delivered, const std::string& scope) {
  Status last;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    if (attempt > 0) {
      if (counters_) counters_->retries++;
      if (options_.log) {
        options_.log->Info("resuming " + digest.ToString() + " at byte " +
                           std::to_string(offset + delivered) + " (" + last.message() + ")");
      }
      if (!Sleep(attempt - 1)) return Cancelled("cancelled");
    }
    int64_t start = offset + delivered;
    if (start > 0 || bounded) {
      req.range_start = start;
    } else {
      req.range_start.reset();
    }
    int64_t before = delivered;
    auto reply = Send(req, scope, ep);
    if (bounded && delivered == length) return Status::Ok();
    if (!reply.ok()) {
      if (!Retryable(reply.status(), delivered > before, ep)) return reply.status();
      last = reply.status();
      if (delivered > before) attempt = 0;  // progress made: fresh budget
      continue;
    }
    if (reply->status == 200 || reply->status == 206) {
      if (!bounded) return Status::Ok();
      return Corruption("blob " + digest.ToString() + ": range at " + std::to_string(offset) +
                        " returned " + std::to_string(delivered) + " of " + std::to_string(length) +
                        " bytes");
    }
    if (reply->status == 416 && start > 0) {
      return Corruption("blob " + digest.ToString() + " is shorter than expected (range from " +
                        std::to_string(start) + " not satisfiable)");
    }
    if (reply->status == 401 || reply->status == 403) {
      return Refused("blob " + digest.ToString(), *reply, ep);
    }
    Status st = StatusFromReply("blob " + endpoints_[ep].host + "/" + req.url.substr(1), *reply);
    if (!IsRetryableStatus(reply->status)) return st;
    last = st;
  }
  return last.WithContext("blob " + digest.ToString() + ": giving up after " +
                          std::to_string(options_.max_attempts) + " attempts");
}

Result<std::string> RegistryClient::FetchBlobRange(const std::string& repository,
                                                   const Digest& digest, int64_t offset,
                                                   int64_t length) {
  if (length <= 0) return std::string();
  std::string out;
  out.reserve(static_cast<size_t>(length));
  RETURN_IF_ERROR(FetchBlob(
      repository, digest, offset,
      [&](std::span<const char> chunk) -> Status {
        out.append(chunk.data(), chunk.size());
        return Status::Ok();
      },
      length));
  return out;
}

Result<std::string> RegistryClient::FetchSmallBlob(const std::string& repository,
                                                   const Descriptor& d) {
  if (d.size > (64 << 20)) {
    return InvalidArgument("blob " + d.digest.ToString() + " is too large (" +
                           std::to_string(d.size) + " bytes) to hold in memory");
  }
  std::string out;
  Status st = FetchBlob(repository, d.digest, 0, [&](std::span<const char> c) -> Status {
    if (out.size() + c.size() > static_cast<size_t>(d.size)) {
      return Corruption("blob " + d.digest.ToString() + " is larger than its " +
                        std::to_string(d.size) + "-byte descriptor");
    }
    out.append(c.data(), c.size());
    return Status::Ok();
  });
  RETURN_IF_ERROR(st);
  if (static_cast<int64_t>(out.size()) != d.size) {
    return Corruption("blob " + d.digest.ToString() + " has " + std::to_string(out.size()) +
                      " bytes, descriptor says " + std::to_string(d.size));
  }
  Digest actual = Digest::Of(out);
  if (actual != d.digest) {
    return Corruption("blob " + d.digest.ToString() + ": digest mismatch, content hashes to " +
                      actual.ToString());
  }
  return out;
}

Result<bool> RegistryClient::HasBlob(const std::string& repository, const Digest& digest) {
  HttpRequest req;
  req.method = "HEAD";
  req.url = "/" + repository + "/blobs/" + digest.ToString();
  ASSIGN_OR_RETURN(HttpResponse reply,
                   SendWithRetry(req, RepositoryScope(repository, true), Use::kPush));
  if (reply.status == 200) return true;
  if (reply.status == 404) return false;
  return StatusFromReply("HEAD blob " + digest.ToString(), reply);
}

Status RegistryClient::Upload(const std::string& repository, const Digest& digest,
                              HttpRequest put) {
  const std::string scope = RepositoryScope(repository, true);
  HttpRequest post;
  post.method = "POST";
  post.url = "/" + repository + "/blobs/uploads/";
  const size_t ep = EndpointsFor(Use::kPush).front();
  ASSIGN_OR_RETURN(HttpResponse started, SendWithRetryOn(post, scope, ep));
  if (started.status != 202) {
    return StatusFromReply("start upload to " + repository, started);
  }
  std::string location = started.Header("location");
  if (location.empty()) {
    return Corruption("upload to " + repository + ": no Location in reply");
  }
  if (location.rfind("http://", 0) != 0 && location.rfind("https://", 0) != 0) {
    location = endpoints_[ep].origin + location;
  }
  put.method = "PUT";
  put.url = location + (location.find('?') == std::string::npos ? "?" : "&") +
            "digest=" + digest.ToString();
  put.headers.push_back("Content-Type: application/octet-stream");
  ASSIGN_OR_RETURN(HttpResponse done, Send(put, scope, ep));
  if (done.status != 201) {
    return StatusFromReply("upload blob " + digest.ToString(), done);
  }
  return Status::Ok();
}

Status RegistryClient::PushBlob(const std::string& repository, const Digest& digest,
                                const std::string& content) {
  ASSIGN_OR_RETURN(bool exists, HasBlob(repository, digest));
  if (exists) return Status::Ok();
  HttpRequest put;
  put.body = content;
  return Upload(repository, digest, std::move(put));
}

Status RegistryClient::PushBlobFromFile(const std::string& repository, const Digest& digest,
                                        int64_t size, const std::string& path) {
  ASSIGN_OR_RETURN(bool exists, HasBlob(repository, digest));
  if (exists) return Status::Ok();
  ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open(path, O_RDONLY));
  HttpRequest put;
  put.body_fd = fd.get();
  put.body_size = size;
  return Upload(repository, digest, std::move(put));
}

Result<Digest> RegistryClient::PushManifest(const std::string& repository,
                                            const std::string& reference,
                                            std::string_view media_type, const std::string& body,
                                            std::string* oci_subject) {
  HttpRequest put;
  put.method = "PUT";
  put.url = "/" + repository + "/manifests/" + reference;
  put.headers.push_back("Content-Type: " + std::string(media_type));
  put.body = body;
  ASSIGN_OR_RETURN(HttpResponse reply,
                   SendWithRetry(put, RepositoryScope(repository, true), Use::kPush));
  if (reply.status != 201) {
    return StatusFromReply("push manifest " + RefText(repository, reference), reply);
  }
  Digest digest = Digest::Of(body);
  std::string claimed = reply.Header("docker-content-digest");
  if (!claimed.empty() && claimed != digest.ToString()) {
    return Corruption("registry stored manifest as " + claimed + " but it hashes to " +
                      digest.ToString());
  }
  if (oci_subject != nullptr) *oci_subject = reply.Header("oci-subject");
  return digest;
}

}  // namespace syspgo::oci
