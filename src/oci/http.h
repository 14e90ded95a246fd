// SPDX-License-Identifier: Apache-2.0
// File: oci/http.h
//
// A thin owner of one libcurl easy handle. One HttpClient serves one thread
// at a time; it keeps its connections open between requests (keep-alive
// reuse), and across users through oci/idle_connections.h.
#ifndef SYSPGO_OCI_HTTP_H_
#define SYSPGO_OCI_HTTP_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/cancel.h"
#include "common/status.h"

namespace syspgo::oci {

// Receives the body of a 2xx response, in order. An error aborts the transfer
// and is returned by Perform() as is.
using BodySink = std::function<Status(std::span<const char>)>;

// TLS for one request's host (oci/registry_hosts.h fills it).
struct TlsSettings {
  std::string ca_pem;       // PEM certificates trusted besides the system's
  std::string client_cert;  // PEM file: a client certificate to present
  std::string client_key;   // PEM file: its key
  bool verify = true;       // false: no peer or host name check (still TLS)
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // "Range: bytes=<range_start>-[<range_end>]" (inclusive end). When the
  // server ignores the range and answers 200, the client skips the first
  // range_start bytes itself, so the sink always sees the asked-for bytes.
  std::optional<int64_t> range_start;
  std::optional<int64_t> range_end;
  // Request body: in memory, or read from an fd (body_size bytes from its
  // current position).
  std::string body;
  int body_fd = -1;
  int64_t body_size = 0;
  BodySink sink;                     // if empty, the body is kept in HttpResponse::body
  size_t max_body = 64 << 20;        // limit for bodies kept in memory
  const TlsSettings* tls = nullptr;  // null: the system's CAs, verified
};

struct HttpResponse {
  long status = 0;
  // Lowercased header names; the last response's headers after redirects.
  std::multimap<std::string, std::string> headers;
  std::string body;  // when the request had no sink, or for non-2xx replies
  std::string effective_url;
  std::string Header(const std::string& lowercase_name) const;
};

struct HttpOptions {
  std::chrono::seconds connect_timeout{10};
  // A transfer during which no byte moves for this long fails (a stall);
  // after an upload (PUT, POST), 120 s at least: the registry may take a
  // while to check a large blob before it answers.
  std::chrono::seconds stall_timeout{10};
  // No request runs past this point (the start's --timeout): one that would
  // is cut at it, and later ones fail at once with kDeadlineExceeded.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

// How the last Perform() failed when no HTTP reply came.
enum class TransportFailure {
  kNone,
  kTransient,  // reset, refused mid-way, short reply: a retry may succeed
  kPermanent,  // cannot succeed on retry: DNS, refused connection, TLS
               // verification, bad URL
  kStalled,    // no data for the stall timeout: the peer hangs
};

// "bytes START-END/TOTAL" (TOTAL may be "*"): START, or nullopt when the
// value is not of that form.
std::optional<int64_t> ParseContentRangeStart(std::string_view value);

class HttpClient {
 public:
  // cancel may be null; when set, a cancelled token aborts transfers.
  static Result<HttpClient> Create(const HttpOptions& options, const CancelToken* cancel);
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;
  ~HttpClient();

  // Transport failures are kUnavailable ("GET <url>: <curl error>", see
  // last_failure()), a passed deadline kDeadlineExceeded; any HTTP status
  // is a successful Perform() (the caller judges it).
  Result<HttpResponse> Perform(const HttpRequest& request);
  TransportFailure last_failure() const;
  // The same handle (and the connections it holds open) for another user:
  // its options and cancellation from now on.
  void Rebind(const HttpOptions& options, const CancelToken* cancel);
  // Bytes of response bodies and headers received so far, all requests.
  int64_t bytes_received() const;
  // False for a moved-from client.
  bool valid() const { return impl_ != nullptr; }

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Initialise libcurl once per process, before any thread uses it.
void GlobalHttpInit();

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_HTTP_H_
