// SPDX-License-Identifier: Apache-2.0
#include "oci/http.h"

#include <curl/curl.h>
#include <dirent.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace syspgo::oci {
namespace {

// Per-transfer state the curl callbacks see. Owned by Perform()'s frame.
struct Transfer {
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  CURL* curl = nullptr;
  const CancelToken* cancel = nullptr;
  Status sink_status;    // first error from the sink or a body limit
  int64_t to_skip = -1;  // bytes to drop for a 200 to a ranged request
  bool body_to_sink = false;
  bool decided = false;  // body destination chosen for this response
  int64_t upload_left = 0;
  Status upload_status;
  // Stall detection: the transfer fails when no byte (header, body or
  // upload) moved for `stall` (curl's own low-speed limit averages over a
  // window of seconds, which a burst keeps above the limit long after the
  // peer went quiet).
  std::chrono::steady_clock::time_point last_data;
  std::chrono::milliseconds stall{0};
  bool stalled = false;
};

size_t HeaderCallback(char* data, size_t size, size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nitems;
  t->last_data = std::chrono::steady_clock::now();
  std::string line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.pop_back();
  }
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (after a redirect or 100-continue) starts.
    t->response->headers.clear();
    t->decided = false;
    size_t sp = line.find(' ');
    if (sp != std::string::npos) t->response->status = std::atol(line.c_str() + sp + 1);
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return n;
  std::string name = line.substr(0, colon);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t v = colon + 1;
  while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) ++v;
  t->response->headers.emplace(name, line.substr(v));
  return n;
}

size_t WriteCallback(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  t->last_data = std::chrono::steady_clock::now();
  const HttpRequest& req = *t->request;
  if (!t->decided) {
    t->decided = true;
    long status = t->response->status;
    t->body_to_sink = req.sink && status >= 200 && status < 300;
    t->to_skip = 0;
    if (req.range_start && *req.range_start > 0 && status == 200) {
      t->to_skip = *req.range_start;  // server ignored Range
    } else if (req.range_start && status == 206) {
      std::optional<int64_t> start = ParseContentRangeStart(t->response->Header("content-range"));
      if (start != *req.range_start) {
        t->sink_status = Corruption("server answered a range request for byte " +
                                    std::to_string(*req.range_start) + " with Content-Range '" +
                                    t->response->Header("content-range") + "'");
        return 0;
      }
    }
  }
  std::span<const char> chunk(data, n);
  if (t->to_skip > 0) {
    size_t drop = static_cast<size_t>(std::min<int64_t>(t->to_skip, n));
    t->to_skip -= drop;
    chunk = chunk.subspan(drop);
  }
  if (chunk.empty()) return n;
  if (t->body_to_sink) {
    Status st = req.sink(chunk);
    if (!st.ok()) {
      t->sink_status = st;
      return 0;  // aborts the transfer
    }
  } else {
    size_t limit = req.sink ? 64 * 1024 : req.max_body;  // error bodies: small
    if (t->response->body.size() + chunk.size() > limit) {
      if (!req.sink) {
        t->sink_status = Corruption("response body of " + req.url + " is larger than " +
                                    std::to_string(limit) + " bytes");
        return 0;
      }
      return n;  // keep the head of an error body only
    }
    t->response->body.append(chunk.data(), chunk.size());
  }
  return n;
}

size_t ReadCallback(char* buffer, size_t size, size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t want = std::min<int64_t>(size * nitems, t->upload_left);
  if (want == 0) return 0;
  ssize_t n;
  do {
    n = ::read(t->request->body_fd, buffer, want);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    t->upload_status =
        n < 0 ? ErrnoStatus(errno, "read upload body") : Corruption("upload body ended early");
    return CURL_READFUNC_ABORT;
  }
  t->upload_left -= n;
  t->last_data = std::chrono::steady_clock::now();
  return static_cast<size_t>(n);
}

// Called at least once a second, also while nothing moves.
int ProgressCallback(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->cancel && t->cancel->cancelled()) return 1;
  if (std::chrono::steady_clock::now() - t->last_data > t->stall) {
    t->stalled = true;
    return 1;
  }
  return 0;
}

constexpr std::chrono::milliseconds kDeadlineSlack{100};

TransportFailure Classify(CURLcode rc) {
  switch (rc) {
    case CURLE_OK:
      return TransportFailure::kNone;
    case CURLE_OPERATION_TIMEDOUT:
      return TransportFailure::kStalled;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
      return TransportFailure::kPermanent;
    default:
      return TransportFailure::kTransient;
  }
}

// Whether `dir` holds OpenSSL's hash links ("5ad8a5d6.0"): then a lookup
// there loads only the certificates a chain needs.
bool HasHashLinks(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name.size() >= 10 && name[8] == '.' &&
        name.substr(0, 8).find_first_not_of("0123456789abcdef") == std::string_view::npos) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

// The system's CAs, where OpenSSL's default paths put them ($SSL_CERT_DIR
// wins): its hashed directory, looked up per chain, when there is one;
// else the bundle file, parsed whole. ($SSL_CERT_FILE's certificates come
// with the extra ones: oci/registry_hosts.h reads them, as it does for
// curl, which ignores that variable.)
bool AddSystemCerts(X509_STORE* store) {
  const char* dir_env = std::getenv(X509_get_default_cert_dir_env());
  const std::string dirs = dir_env ? dir_env : X509_get_default_cert_dir();
  if (HasHashLinks(dirs.substr(0, dirs.find(':')))) {
    return X509_STORE_load_path(store, dirs.c_str()) == 1;
  }
  return X509_STORE_load_file(store, X509_get_default_cert_file()) == 1;
}

// The certificates a TLS connection is checked against: the system's
// (AddSystemCerts) and `extra_pem`, built once per process for each set of extra CAs and
// shared by every connection. Left to itself, curl parses the system's
// bundle (some 140 certificates) again for every connection: 300-600M
// instructions, tens of ms, each time (its own store cache is off when
// extra CAs come in memory). Null when extra_pem holds no certificate
// that parses (curl then reports the problem as before).
X509_STORE* SharedCertStore(const std::string& extra_pem) {
  // Only where curl's TLS is OpenSSL's (the SSL_CTX its callback gets).
  static const bool openssl = [] {
    const curl_version_info_data* v = curl_version_info(CURLVERSION_NOW);
    return v && v->ssl_version && std::string_view(v->ssl_version).starts_with("OpenSSL/");
  }();
  if (!openssl) return nullptr;
  static std::mutex mu;  // guards stores
  static std::map<std::string, X509_STORE*>* stores = new std::map<std::string, X509_STORE*>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = stores->find(extra_pem);
  if (it != stores->end()) return it->second;
  X509_STORE* store = X509_STORE_new();
  bool ok = store != nullptr && AddSystemCerts(store);
  if (ok && !extra_pem.empty()) {
    // Certificates only (PEM_X509_INFO_read_bio would try every block as
    // a key too, several times slower).
    BIO* bio = BIO_new_mem_buf(extra_pem.data(), static_cast<int>(extra_pem.size()));
    int added = 0;
    while (bio) {
      X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
      if (cert == nullptr) break;
      if (X509_STORE_add_cert(store, cert) == 1) ++added;
      X509_free(cert);
    }
    if (bio) BIO_free(bio);
    ok = added > 0;
  }
  ERR_clear_error();
  if (!ok) {
    if (store) X509_STORE_free(store);
    store = nullptr;
  }
  // Kept for the process's life (a handful of distinct CA sets at most).
  (*stores)[extra_pem] = store;
  return store;
}

CURLcode UseSharedStore(CURL*, void* ssl_ctx, void* store) {
  SSL_CTX_set1_cert_store(static_cast<SSL_CTX*>(ssl_ctx), static_cast<X509_STORE*>(store));
  return CURLE_OK;
}

}  // namespace

std::optional<int64_t> ParseContentRangeStart(std::string_view value) {
  if (!value.starts_with("bytes ")) return std::nullopt;
  value.remove_prefix(6);
  const size_t dash = value.find('-');
  const size_t slash = value.find('/');
  if (dash == 0 || dash == std::string_view::npos || slash == std::string_view::npos ||
      slash < dash + 2 || slash + 1 >= value.size()) {
    return std::nullopt;
  }
  auto number = [](std::string_view digits) -> std::optional<int64_t> {
    if (digits.empty() || digits.size() > 18) return std::nullopt;
    int64_t v = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    return v;
  };
  auto start = number(value.substr(0, dash));
  auto end = number(value.substr(dash + 1, slash - dash - 1));
  const std::string_view total = value.substr(slash + 1);
  if (!start || !end || *end < *start) return std::nullopt;
  if (total != "*") {
    auto size = number(total);
    if (!size || *end >= *size) return std::nullopt;
  }
  return start;
}

std::string HttpResponse::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

struct HttpClient::Impl {
  CURL* curl = nullptr;
  HttpOptions options;
  const CancelToken* cancel = nullptr;
  TransportFailure last_failure = TransportFailure::kNone;
  int64_t bytes_received = 0;
  ~Impl() {
    if (curl) curl_easy_cleanup(curl);
  }
};

void GlobalHttpInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;
HttpClient::~HttpClient() = default;

Result<HttpClient> HttpClient::Create(const HttpOptions& options, const CancelToken* cancel) {
  GlobalHttpInit();
  auto impl = std::make_unique<Impl>();
  impl->curl = curl_easy_init();
  if (impl->curl == nullptr) return Internal("curl_easy_init failed");
  impl->options = options;
  impl->cancel = cancel;
  return HttpClient(std::move(impl));
}

TransportFailure HttpClient::last_failure() const { return impl_->last_failure; }

void HttpClient::Rebind(const HttpOptions& options, const CancelToken* cancel) {
  impl_->options = options;
  impl_->cancel = cancel;
}

int64_t HttpClient::bytes_received() const { return impl_->bytes_received; }

Result<HttpResponse> HttpClient::Perform(const HttpRequest& request) {
  impl_->last_failure = TransportFailure::kNone;
  // What is left of the deadline bounds the whole transfer. Within
  // kDeadlineSlack of it, the deadline counts as passed (curl's clock may
  // end a transfer a little before ours says the deadline came).
  std::optional<long> left_ms;
  if (impl_->options.deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        *impl_->options.deadline - std::chrono::steady_clock::now());
    if (left <= kDeadlineSlack) {
      return DeadlineExceeded(request.method + " " + request.url + ": the time limit has passed");
    }
    left_ms = static_cast<long>(left.count());
  }
  CURL* curl = impl_->curl;
  curl_easy_reset(curl);  // keeps the connection cache
  HttpResponse response;
  Transfer t;
  t.request = &request;
  t.response = &response;
  t.curl = curl;
  t.cancel = impl_->cancel;
  t.stall = impl_->options.stall_timeout;
  if (request.method != "GET" && request.method != "HEAD") {
    // After an upload the registry may take a while to check what it got
    // (hashing a large blob) before it answers: not a stall.
    t.stall = std::max<std::chrono::milliseconds>(t.stall, std::chrono::seconds(120));
  }
  t.last_data = std::chrono::steady_clock::now();

  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  long connect_ms = static_cast<long>(impl_->options.connect_timeout.count()) * 1000;
  if (left_ms) {
    connect_ms = std::min(connect_ms, *left_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, *left_ms);
  }
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "syspgo/0.1");
  const bool verify = request.tls == nullptr || request.tls->verify;
  X509_STORE* store = verify && request.url.rfind("https://", 0) == 0
                          ? SharedCertStore(request.tls ? request.tls->ca_pem : std::string())
                          : nullptr;
  if (store) {
    // The process's store instead of curl's own file loads.
    curl_easy_setopt(curl, CURLOPT_CAINFO, nullptr);
    curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, UseSharedStore);
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, store);
  }
  if (const TlsSettings* tls = request.tls) {
    if (!tls->ca_pem.empty() && !store) {
      // Besides the system's store (CURLOPT_CAPATH stays as built).
      curl_blob blob{const_cast<char*>(tls->ca_pem.data()), tls->ca_pem.size(), CURL_BLOB_NOCOPY};
      curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (!tls->client_cert.empty())
      curl_easy_setopt(curl, CURLOPT_SSLCERT, tls->client_cert.c_str());
    if (!tls->client_key.empty()) curl_easy_setopt(curl, CURLOPT_SSLKEY, tls->client_key.c_str());
    if (!tls->verify) {
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
  }
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, HeaderCallback);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteCallback);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, ProgressCallback);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);

  struct curl_slist* headers = nullptr;
  for (const std::string& h : request.headers) {
    headers = curl_slist_append(headers, h.c_str());
  }
  std::string range;
  if (request.range_start) {
    range = "Range: bytes=" + std::to_string(*request.range_start) + "-";
    if (request.range_end) range += std::to_string(*request.range_end);
    headers = curl_slist_append(headers, range.c_str());
  }

  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.body_fd >= 0) {
    t.upload_left = request.body_size;
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadCallback);
    curl_easy_setopt(curl, CURLOPT_READDATA, &t);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body_size));
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    headers = curl_slist_append(headers, "Expect:");
  } else {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    headers = curl_slist_append(headers, "Expect:");
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_off_t body_bytes = 0;
  long header_bytes = 0;
  if (curl_easy_getinfo(curl, CURLINFO_SIZE_DOWNLOAD_T, &body_bytes) == CURLE_OK) {
    impl_->bytes_received += static_cast<int64_t>(body_bytes);
  }
  if (curl_easy_getinfo(curl, CURLINFO_HEADER_SIZE, &header_bytes) == CURLE_OK) {
    impl_->bytes_received += header_bytes;
  }
  char* effective = nullptr;
  curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective);
  if (effective) response.effective_url = effective;
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  if (code != 0) response.status = code;

  if (!t.sink_status.ok()) return t.sink_status;
  if (!t.upload_status.ok()) return t.upload_status;
  if (rc == CURLE_ABORTED_BY_CALLBACK && t.cancel && t.cancel->cancelled()) {
    return Cancelled(request.method + " " + request.url + ": cancelled");
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK && t.stalled) {
    impl_->last_failure = TransportFailure::kStalled;
    return Unavailable(request.method + " " + request.url + ": no data for " +
                       std::to_string(t.stall.count() / 1000) + " s");
  }
  if (rc != CURLE_OK) {
    std::string why = error[0] ? error : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT && impl_->options.deadline &&
        std::chrono::steady_clock::now() + kDeadlineSlack >= *impl_->options.deadline) {
      return DeadlineExceeded(request.method + " " + request.url + ": the time limit has passed (" +
                              why + ")");
    }
    impl_->last_failure = Classify(rc);
    if (rc == CURLE_PEER_FAILED_VERIFICATION) {
      why +=
          " (trust the registry's CA as its certs.d directory's ca.crt, e.g. "
          "/etc/containerd/certs.d/<host>/ca.crt, or skip the check with --tls-verify=false)";
    }
    return Unavailable(request.method + " " + request.url + ": " + why);
  }
  return response;
}

}  // namespace syspgo::oci
