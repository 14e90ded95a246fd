// SPDX-License-Identifier: Apache-2.0
// The registry client and the puller against a real HTTP server on 127.0.0.1
// that misbehaves on purpose. No root needed.
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "common/base64.h"
#include "common/file_util.h"
#include "oci/compression.h"
#include "oci/puller.h"
#include "oci/registry_client.h"
#include "support/http_test_server.h"
#include "support/test_images.h"

namespace syspgo::oci {
namespace {

using syspgo::testing::HttpTestServer;
using syspgo::testing::RangeOf;
using syspgo::testing::TestRequest;
using syspgo::testing::TestResponse;

std::string Blob(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131) ^ (i >> 9));
  return s;
}

TestResponse ServeRange(const TestRequest& req, const std::string& body) {
  TestResponse r;
  auto [start, end] = RangeOf(req, static_cast<int64_t>(body.size()));
  if (!req.Header("range").empty()) {
    r.status = 206;
    r.headers.push_back({"Content-Range", "bytes " + std::to_string(start) + "-" +
                                              std::to_string(end - 1) + "/" +
                                              std::to_string(body.size())});
  }
  r.body = body.substr(static_cast<size_t>(start), static_cast<size_t>(end - start));
  return r;
}

// A registry that accepts the request and sends nothing back.
TestResponse Silent(const TestRequest&) {
  TestResponse r;
  r.body = "never sent";
  r.stall_after = 0;
  return r;
}

struct Client {
  TokenCache tokens;
  CredentialStore creds;
  RegistryOptions options;
  TransferCounters counters;
  explicit Client(int attempts = 5) {
    options.tokens = &tokens;
    options.credentials = &creds;
    options.max_attempts = attempts;
    options.backoff_base = std::chrono::milliseconds(5);
  }
  RegistryClient Make(const std::string& address) {
    auto c = RegistryClient::Create(address, options, &counters);
    EXPECT_TRUE(c.ok());
    return std::move(*c);
  }
};

Status Fetch(RegistryClient& c, const std::string& digest, std::string* out) {
  return c.FetchBlob("repo", *Digest::Parse(digest), 0, [&](std::span<const char> d) {
    out->append(d.data(), d.size());
    return Status::Ok();
  });
}

TEST(RegistryClientTest, ResumesWithRangeAfterDroppedConnection) {
  const std::string blob = Blob(1 << 20);
  const std::string digest = Digest::Of(blob).ToString();
  std::mutex mu;
  std::vector<std::string> ranges;
  std::atomic<int> calls{0};
  HttpTestServer server([&](const TestRequest& req) {
    std::lock_guard<std::mutex> lock(mu);
    ranges.push_back(req.Header("range"));
    TestResponse r = ServeRange(req, blob);
    if (calls++ == 0) r.drop_after = 300000;
    return r;
  });
  Client client;
  RegistryClient c = client.Make(server.address());
  std::string got;
  Status st = Fetch(c, digest, &got);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(got, blob);
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0], "");
  EXPECT_EQ(ranges[1], "bytes=300000-");
  EXPECT_EQ(client.counters.retries, 1);
}

TEST(RegistryClientTest, ServerThatIgnoresRangeStillYieldsTheRightBytes) {
  const std::string blob = Blob(500000);
  std::atomic<int> calls{0};
  HttpTestServer server([&](const TestRequest&) {
    TestResponse r;
    r.body = blob;  // always 200 with the whole body
    if (calls++ == 0) r.drop_after = 123457;
    return r;
  });
  Client client;
  RegistryClient c = client.Make(server.address());
  std::string got;
  ASSERT_TRUE(Fetch(c, Digest::Of(blob).ToString(), &got).ok());
  EXPECT_EQ(got, blob);
}

TEST(RegistryClientTest, RetriesServerErrors) {
  std::atomic<int> calls{0};
  HttpTestServer server([&](const TestRequest& req) {
    TestResponse r;
    if (calls++ < 2) {
      r.status = 503;
      return r;
    }
    return ServeRange(req, "payload");
  });
  Client client;
  RegistryClient c = client.Make(server.address());
  std::string got;
  ASSERT_TRUE(Fetch(c, Digest::Of("payload").ToString(), &got).ok());
  EXPECT_EQ(got, "payload");
  EXPECT_EQ(calls.load(), 3);
}

TEST(RegistryClientTest, GivesUpClearlyWhenTheRegistryDies) {
  const std::string blob = Blob(400000);
  auto server = std::make_unique<HttpTestServer>([&](const TestRequest& req) {
    TestResponse r = ServeRange(req, blob);
    r.drop_after = 1000;
    return r;
  });
  std::string address = server->address();
  Client client(3);
  RegistryClient c = client.Make(address);
  std::string got;
  std::atomic<bool> stopped{false};
  Status st = c.FetchBlob("repo", Digest::Of(blob), 0, [&](std::span<const char> d) {
    got.append(d.data(), d.size());
    if (!stopped.exchange(true)) server->Stop();  // dies mid-transfer
    return Status::Ok();
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  // The drop is retried (it made progress); the refused connection that
  // follows is not: it cannot succeed on retry.
  EXPECT_NE(st.message().find("connect"), std::string::npos) << st.message();
  EXPECT_EQ(client.counters.retries, 1);
  EXPECT_LT(got.size(), blob.size());
}

// Failures a retry cannot mend end at once: a refused connection (a
// wrong port, a registry that is down) and a name that does not resolve.
TEST(RegistryClientTest, RefusedConnectionAndUnknownHostAreNotRetried) {
  auto server = std::make_unique<HttpTestServer>([](const TestRequest&) { return TestResponse(); });
  const std::string address = server->address();
  server.reset();  // nothing listens there now
  Client client(5);
  client.options.backoff_base = std::chrono::milliseconds(500);  // a retry would show
  RegistryClient c = client.Make(address);
  const auto t0 = std::chrono::steady_clock::now();
  auto m = c.GetManifest("repo", "tag");
  EXPECT_EQ(m.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(client.counters.requests, 1);
  EXPECT_EQ(client.counters.retries, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(400));
  client.options.hosts.insecure_hosts = {"no-such-host.invalid:5000"};
  RegistryClient unknown = client.Make("no-such-host.invalid:5000");
  auto u = unknown.GetManifest("repo", "tag");
  EXPECT_EQ(u.status().code(), StatusCode::kUnavailable) << u.status().ToString();
  EXPECT_EQ(client.counters.retries, 0);
}

// A registry that accepts the request and then sends nothing: the request
// fails after the stall timeout, is not retried, and the registry is not
// asked again during its quiet period (other clients of the same health
// record fail at once too).
TEST(RegistryClientTest, HungRegistryCostsOneStall) {
  HttpTestServer server(Silent);
  Client client(5);
  RegistryHealth health(std::chrono::seconds(30));
  client.options.health = &health;
  client.options.http.stall_timeout = std::chrono::seconds(1);
  RegistryClient c = client.Make(server.address());
  const auto t0 = std::chrono::steady_clock::now();
  auto m = c.GetManifest("repo", "tag");
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(m.status().code(), StatusCode::kUnavailable) << m.status().ToString();
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::milliseconds(3000));
  EXPECT_EQ(server.requests(), 1);
  RegistryClient other = client.Make(server.address());
  const auto t1 = std::chrono::steady_clock::now();
  auto again = other.FetchSmallBlob("repo", Descriptor{"x", Digest::Of("x"), 1, "", {}, {}});
  EXPECT_EQ(again.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(again.status().message().find("stopped answering"), std::string::npos)
      << again.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::milliseconds(100));
  EXPECT_EQ(server.requests(), 1) << "not asked again during the quiet period";
}

// A transfer that stalls after sending part of the blob is resumed where
// it stopped.
TEST(RegistryClientTest, StallAfterProgressIsResumed) {
  const std::string blob = Blob(300000);
  std::atomic<int> calls{0};
  HttpTestServer server([&](const TestRequest& req) {
    TestResponse r = ServeRange(req, blob);
    if (calls++ == 0) r.stall_after = 100000;
    return r;
  });
  Client client(3);
  RegistryHealth health;  // a stall after progress does not make it quiet
  client.options.health = &health;
  client.options.http.stall_timeout = std::chrono::seconds(1);
  RegistryClient c = client.Make(server.address());
  std::string got;
  Status st = c.FetchBlob("repo", Digest::Of(blob), 0, [&](std::span<const char> d) {
    got.append(d.data(), d.size());
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(got, blob);
  EXPECT_EQ(calls, 2);
}

// The start's deadline cuts a request short, and later ones fail at once.
TEST(RegistryClientTest, DeadlineBoundsEveryRequest) {
  HttpTestServer server(Silent);
  Client client(5);
  client.options.http.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  RegistryClient c = client.Make(server.address());
  auto m = c.GetManifest("repo", "tag");
  EXPECT_EQ(m.status().code(), StatusCode::kDeadlineExceeded) << m.status().ToString();
  // Cut at the deadline (give or take a loaded machine's scheduling).
  EXPECT_LT(std::chrono::steady_clock::now(),
            *client.options.http.deadline + std::chrono::milliseconds(1000));
  auto later = c.GetManifest("repo", "tag");
  EXPECT_EQ(later.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(server.requests(), 1);
}

// Clients made one after another through IdleConnections go out on one
// connection; without it each opens its own. Of two idle connections, the
// one that has carried more bytes is taken first; one idle too long is
// closed instead.
TEST(IdleConnectionsTest, ClientsTakeOverTheWarmestOpenConnection) {
  const std::string big = Blob(1 << 20), small = Blob(100);
  const std::string big_digest = Digest::Of(big).ToString();
  const std::string small_digest = Digest::Of(small).ToString();
  std::mutex mu;
  std::vector<std::pair<std::string, int>> seen;  // (target, connection)
  HttpTestServer server([&](const TestRequest& req) {
    {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back({req.target, req.connection});
    }
    return ServeRange(req, req.target.find(big_digest) != std::string::npos ? big : small);
  });
  auto connection_of_last = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.back().second;
  };
  {
    Client own;
    for (int i = 0; i < 2; ++i) {
      RegistryClient c = own.Make(server.address());
      std::string out;
      ASSERT_TRUE(Fetch(c, small_digest, &out).ok());
    }
    EXPECT_EQ(server.connections(), 2) << "a connection of its own each";
  }
  IdleConnections idle;
  Client shared;
  shared.options.connections = &idle;
  int big_connection = 0;
  {
    RegistryClient a = shared.Make(server.address());
    RegistryClient b = shared.Make(server.address());
    std::string out;
    ASSERT_TRUE(Fetch(a, big_digest, &out).ok());
    big_connection = connection_of_last();
    out.clear();
    ASSERT_TRUE(Fetch(b, small_digest, &out).ok());
    EXPECT_NE(connection_of_last(), big_connection);
  }
  EXPECT_EQ(server.connections(), 4);
  EXPECT_EQ(idle.size(), 2u) << "both given back";
  for (int i = 0; i < 3; ++i) {
    RegistryClient c = shared.Make(server.address());
    std::string out;
    ASSERT_TRUE(Fetch(c, small_digest, &out).ok());
    EXPECT_EQ(connection_of_last(), big_connection) << "the warmest, every time";
  }
  EXPECT_EQ(server.connections(), 4) << "no new connection";
  EXPECT_EQ(idle.reused(), 3);
  EXPECT_EQ(idle.missed(), 2);
  // Another registry name does not get them.
  RegistryClient other = shared.Make("localhost:" + std::to_string(server.port()));
  EXPECT_EQ(idle.missed(), 3);

  // Idle too long: closed, not handed out.
  IdleConnections brief(8, std::chrono::milliseconds(50));
  shared.options.connections = &brief;
  {
    RegistryClient c = shared.Make(server.address());
    std::string out;
    ASSERT_TRUE(Fetch(c, small_digest, &out).ok());
  }
  EXPECT_EQ(brief.size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  {
    RegistryClient c = shared.Make(server.address());
    std::string out;
    ASSERT_TRUE(Fetch(c, small_digest, &out).ok());
  }
  EXPECT_EQ(brief.reused(), 0);
  EXPECT_EQ(server.connections(), 6);
}

// A connection the server closed while it was idle: the client that takes
// it gets its answer all the same, on a new connection.
TEST(IdleConnectionsTest, AConnectionTheServerClosedIsReplaced) {
  const std::string body = Blob(1000);
  const std::string digest = Digest::Of(body).ToString();
  std::atomic<int> served{0};
  HttpTestServer server([&](const TestRequest& req) {
    TestResponse r = ServeRange(req, body);
    // The first answer whole, then the server closes that connection.
    if (served++ == 0) r.drop_after = static_cast<int64_t>(r.body.size());
    return r;
  });
  IdleConnections idle;
  Client shared;
  shared.options.connections = &idle;
  for (int i = 0; i < 2; ++i) {
    RegistryClient c = shared.Make(server.address());
    std::string out;
    ASSERT_TRUE(Fetch(c, digest, &out).ok());
    EXPECT_EQ(out, body);
  }
  EXPECT_EQ(idle.reused(), 1);
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(shared.counters.retries, 0) << "curl reconnects before sending";
}

TEST(HttpTest, ContentRangeParsing) {
  EXPECT_EQ(ParseContentRangeStart("bytes 0-99/100"), 0);
  EXPECT_EQ(ParseContentRangeStart("bytes 100-199/*"), 100);
  EXPECT_EQ(ParseContentRangeStart("bytes 5-5/6"), 5);
  for (const char* bad :
       {"", "bytes", "bytes -5/10", "bytes 5-/10", "bytes 5-4/10", "bytes 5-10/10", "bytes 1-2",
        "items 1-2/3", "bytes 1-2/", "bytes x-2/3", "bytes 99999999999999999999-1/2"}) {
    EXPECT_FALSE(ParseContentRangeStart(bad).has_value()) << bad;
  }
}

TEST(RegistryClientTest, NotFoundIsNotRetried) {
  HttpTestServer server([&](const TestRequest&) {
    TestResponse r;
    r.status = 404;
    r.body = R"({"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]})";
    return r;
  });
  Client client;
  RegistryClient c = client.Make(server.address());
  std::string got;
  Status st = Fetch(c, Digest::Of("x").ToString(), &got);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_NE(st.message().find("BLOB_UNKNOWN"), std::string::npos);
  EXPECT_EQ(server.requests(), 1);
}

TEST(RegistryClientTest, BearerTokenFlowWithBasicCredentials) {
  const std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:)" +
      std::string(64, 'a') + R"(","size":2},"layers":[]})";
  std::atomic<int> token_requests{0};
  std::string realm;
  HttpTestServer server([&](const TestRequest& req) {
    TestResponse r;
    if (req.target.rfind("/token", 0) == 0) {
      token_requests++;
      if (req.Header("authorization") != "Basic " + Base64Encode("alice:secret") ||
          req.target.find("scope=repository%3Arepo%3Apull") == std::string::npos) {
        r.status = 401;
        return r;
      }
      r.body = R"({"token":"good-token"})";
      return r;
    }
    if (req.Header("authorization") != "Bearer good-token") {
      r.status = 401;
      r.headers.push_back({"WWW-Authenticate", "Bearer realm=\"" + realm + "\",service=\"test\""});
      return r;
    }
    r.headers.push_back({"Content-Type", "application/vnd.oci.image.manifest.v1+json"});
    r.body = manifest;
    return r;
  });
  realm = "http://" + server.address() + "/token";
  Client client;
  client.creds.Add(server.address(), {"alice", "secret"});
  RegistryClient c = client.Make(server.address());
  for (int i = 0; i < 2; ++i) {
    auto m = c.GetManifest("repo", "latest");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->body, manifest);
    EXPECT_EQ(m->digest, Digest::Of(manifest));
  }
  EXPECT_EQ(token_requests.load(), 1);  // cached for the second request
}

TEST(RegistryClientTest, BasicAuthNeedsCredentials) {
  HttpTestServer server([&](const TestRequest& req) {
    TestResponse r;
    if (req.Header("authorization") != "Basic " + Base64Encode("bob:pw")) {
      r.status = 401;
      r.headers.push_back({"WWW-Authenticate", "Basic realm=\"registry\""});
      return r;
    }
    return ServeRange(req, "data");
  });
  Client without;
  RegistryClient c1 = without.Make(server.address());
  std::string got;
  Status st = Fetch(c1, Digest::Of("data").ToString(), &got);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("credentials"), std::string::npos);
  Client with;
  with.creds.Add(server.address(), {"bob", "pw"});
  RegistryClient c2 = with.Make(server.address());
  ASSERT_TRUE(Fetch(c2, Digest::Of("data").ToString(), &got).ok());
  EXPECT_EQ(got, "data");
}

TEST(RegistryClientTest, ManifestDigestIsChecked) {
  HttpTestServer server([&](const TestRequest& req) {
    TestResponse r;
    r.body = R"({"schemaVersion":2})";
    if (req.target.find("/manifests/latest") != std::string::npos) {
      r.headers.push_back({"Docker-Content-Digest", "sha256:" + std::string(64, 'f')});
    }
    return r;
  });
  Client client;
  RegistryClient c = client.Make(server.address());
  auto by_digest = c.GetManifest("repo", "sha256:" + std::string(64, 'b'));
  ASSERT_FALSE(by_digest.ok());
  EXPECT_EQ(by_digest.status().code(), StatusCode::kCorruption);
  auto by_tag = c.GetManifest("repo", "latest");
  ASSERT_FALSE(by_tag.ok());
  EXPECT_NE(by_tag.status().message().find("digest mismatch"), std::string::npos);
}

// hosts.toml mirrors: asked first, in order; one that lacks the blob or
// dies mid-transfer hands over to the next at the first byte not yet
// delivered; the registry itself is asked last; pushes skip mirrors.
TEST(RegistryClientTest, MirrorsAreAskedFirstAndHandOverExactly) {
  const std::string blob = Blob(400000);
  const std::string digest = Digest::Of(blob).ToString();
  std::mutex mu;
  std::vector<std::string> log;  // "who method target range", guarded by mu
  auto record = [&](const char* who, const TestRequest& req) {
    std::lock_guard<std::mutex> lock(mu);
    log.push_back(std::string(who) + " " + req.method + " " + req.target + " " +
                  req.Header("range") + " " + req.Header("x-mirror-token"));
  };
  HttpTestServer empty([&](const TestRequest& req) {
    record("empty", req);
    TestResponse r;
    r.status = 404;
    return r;
  });
  std::atomic<int> dying_calls{0};
  HttpTestServer dying([&](const TestRequest& req) {
    record("dying", req);
    TestResponse r = ServeRange(req, blob);
    // 100000 bytes, then it dies for good (every later reply is cut at once).
    r.drop_after = dying_calls++ == 0 ? 100000 : 0;
    return r;
  });
  HttpTestServer origin([&](const TestRequest& req) {
    record("origin", req);
    if (req.method == "HEAD") {
      TestResponse r;
      r.status = 200;
      return r;
    }
    return ServeRange(req, blob);
  });
  auto made = TempDir::Create("/tmp", "syspgo-mirrors-");
  ASSERT_TRUE(made.ok());
  TempDir certs = std::move(*made);
  const std::string host = origin.address();
  ASSERT_TRUE(MakeDirs(JoinPath(certs.path(), host)).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(certs.path(), host + "/hosts.toml"),
                              "server = \"http://" + host +
                                  "\"\n"
                                  "[host.\"http://" +
                                  empty.address() +
                                  "\"]\n"
                                  "  capabilities = [\"pull\", \"resolve\"]\n"
                                  "  [host.\"http://" +
                                  empty.address() +
                                  "\".header]\n"
                                  "    x-mirror-token = \"t1\"\n"
                                  "[host.\"http://" +
                                  dying.address() +
                                  "/prefix\"]\n"
                                  "  capabilities = [\"pull\"]\n",
                              0644)
                  .ok());
  Client client(2);
  client.options.hosts.certs_dirs = {certs.path()};
  RegistryClient c = client.Make(host);
  ASSERT_EQ(c.endpoints().size(), 3u);
  std::string got;
  Status st = Fetch(c, digest, &got);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(got, blob);
  const std::string path = "/v2/repo/blobs/" + digest;
  // The empty mirror once (a 404 is not retried); the dying one: the first
  // request, and (its budget of 2 renewed by that progress) one resume that
  // brings nothing; then the registry, from the first byte not yet had.
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0], "empty GET " + path + "  t1");
  EXPECT_EQ(log[1], "dying GET /prefix" + path + "  ");
  EXPECT_EQ(log[2], "dying GET /prefix" + path + " bytes=100000- ");
  EXPECT_EQ(log[3], "origin GET " + path + " bytes=100000- ");
  // A push goes to the registry only.
  log.clear();
  auto has = c.HasBlob("repo", *Digest::Parse(digest));
  ASSERT_TRUE(has.ok()) << has.status().ToString();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].rfind("origin HEAD ", 0), 0u);
}

TEST(RegistryClientTest, PlainHttpOnlyForLoopbackOrInsecure) {
  Client client;
  auto remote = RegistryClient::Create("registry.example.com", client.options);
  ASSERT_TRUE(remote.ok());
  EXPECT_EQ(remote->base_url(), "https://registry.example.com");
  client.options.hosts.insecure_hosts = {"registry.example.com"};
  auto insecure = RegistryClient::Create("registry.example.com", client.options);
  EXPECT_EQ(insecure->base_url(), "http://registry.example.com");
  EXPECT_EQ(RegistryClient::Create("127.0.0.1:5000", client.options)->base_url(),
            "http://127.0.0.1:5000");
}

// A one-layer image served by the test server, for pulls.
struct FakeImage {
  std::string layer, config, manifest;
  Digest layer_digest, config_digest, manifest_digest;
  explicit FakeImage(size_t file_size) {
    oci::TarEntry e = syspgo::testing::FileEntry("data/file", static_cast<int64_t>(file_size));
    e.uid = ::geteuid();
    e.gid = ::getegid();
    std::string tar = syspgo::testing::MakeTar({e}, {Blob(file_size)});
    auto w = NewCompressingWriter(
        Compression::kGzip,
        [&](std::span<const char> c) {
          layer.append(c.data(), c.size());
          return Status::Ok();
        },
        1);
    (*w)->Write({tar.data(), tar.size()}).IgnoreError();
    (*w)->Finish().IgnoreError();
    layer_digest = Digest::Of(layer);
    ImageConfig c;
    c.diff_ids = {Digest::Of(tar)};
    config = SerializeImageConfig(c);
    config_digest = Digest::Of(config);
    ImageManifest m;
    m.media_type = std::string(media_type::kOciManifest);
    m.config = {std::string(media_type::kOciConfig),
                config_digest,
                static_cast<int64_t>(config.size()),
                "",
                std::nullopt,
                {}};
    m.layers = {{std::string(media_type::kOciLayerGzip),
                 layer_digest,
                 static_cast<int64_t>(layer.size()),
                 "",
                 std::nullopt,
                 {}}};
    manifest = SerializeImageManifest(m);
    manifest_digest = Digest::Of(manifest);
  }
  TestResponse Serve(const TestRequest& req) const {
    if (req.target.find("/manifests/") != std::string::npos) {
      TestResponse r;
      r.headers.push_back({"Content-Type", std::string(media_type::kOciManifest)});
      r.body = manifest;
      return r;
    }
    if (req.target.find(config_digest.ToString()) != std::string::npos) {
      return ServeRange(req, config);
    }
    return ServeRange(req, layer);
  }
};

// Pulls reference into a store at root, without progress output.
Result<LocalImage> PullInto(const std::string& root, const RegistryOptions& registry,
                            const std::string& reference, PullStats* stats = nullptr) {
  ASSIGN_OR_RETURN(LayerStore store, LayerStore::Open(root));
  Puller puller(&store, registry, nullptr);
  PullOptions options;
  options.progress = false;
  ASSIGN_OR_RETURN(ImageReference ref, ImageReference::Parse(reference));
  return puller.Pull(ref, options, stats);
}

bool StoreHoldsNothingOf(const std::string& root, const FakeImage& image) {
  auto layers = ListDir(JoinPath(root, "layers/sha256"));
  auto sessions = ListDir(JoinPath(root, "tmp"));
  return !PathExists(JoinPath(root, "blobs/sha256/" + image.layer_digest.hex)) && layers.ok() &&
         layers->empty() && sessions.ok() && sessions->empty();
}

TEST(PullerTest, PullSurvivesADroppedConnection) {
  FakeImage image(3 << 20);
  std::atomic<int> layer_calls{0};
  HttpTestServer server([&](const TestRequest& req) {
    TestResponse r = image.Serve(req);
    if (req.target.find(image.layer_digest.hex) != std::string::npos && layer_calls++ == 0) {
      r.drop_after = static_cast<int64_t>(image.layer.size() / 3);
    }
    return r;
  });
  auto dir = TempDir::Create("/tmp", "puller-test-");
  ASSERT_TRUE(dir.ok());
  Client client;
  const std::string ref = server.address() + "/repo:tag";
  PullStats stats;
  auto pulled = PullInto(dir->path(), client.options, ref, &stats);
  ASSERT_TRUE(pulled.ok()) << pulled.status().ToString();
  EXPECT_EQ(stats.layers_fetched, 1);
  EXPECT_EQ(stats.retries, 1);
  auto content = ReadFileToString(JoinPath(pulled->layer_paths[0], "data/file"));
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, Blob(3 << 20));
  EXPECT_TRUE(PathExists(JoinPath(dir->path(), "blobs/sha256/" + image.layer_digest.hex)));
  // A second pull moves no layer bytes.
  PullStats again;
  ASSERT_TRUE(PullInto(dir->path(), client.options, ref, &again).ok());
  EXPECT_EQ(again.layers_fetched, 0);
  EXPECT_EQ(again.layers_local, 1);
}

TEST(PullerTest, RegistryDyingMidLayerLeavesNothingInTheStore) {
  FakeImage image(3 << 20);
  std::unique_ptr<HttpTestServer> server;
  std::atomic<bool> killed{false};
  server = std::make_unique<HttpTestServer>([&](const TestRequest& req) {
    TestResponse r = image.Serve(req);
    if (req.target.find(image.layer_digest.hex) != std::string::npos) {
      r.drop_after = static_cast<int64_t>(image.layer.size() / 2);
      if (!killed.exchange(true)) {
        // Stop accepting: every retry finds the registry gone.
        std::thread([&] { server->Stop(); }).detach();
      }
    }
    return r;
  });
  std::string address = server->address();
  auto dir = TempDir::Create("/tmp", "puller-test-");
  ASSERT_TRUE(dir.ok());
  Client client(3);
  auto pulled = PullInto(dir->path(), client.options, address + "/repo:tag");
  ASSERT_FALSE(pulled.ok());
  EXPECT_EQ(pulled.status().code(), StatusCode::kUnavailable) << pulled.status().ToString();
  EXPECT_TRUE(StoreHoldsNothingOf(dir->path(), image));
  // Join the stopper before `server` goes away.
  server->Stop();
}

TEST(PullerTest, CorruptLayerBytesAreRejected) {
  FakeImage image(1 << 20);
  std::string bad = image.layer;
  bad[bad.size() / 2] ^= 1;
  HttpTestServer server([&](const TestRequest& req) {
    if (req.target.find(image.layer_digest.hex) != std::string::npos) return ServeRange(req, bad);
    return image.Serve(req);
  });
  auto dir = TempDir::Create("/tmp", "puller-test-");
  ASSERT_TRUE(dir.ok());
  Client client;
  auto pulled = PullInto(dir->path(), client.options, server.address() + "/repo:tag");
  ASSERT_FALSE(pulled.ok());
  EXPECT_EQ(pulled.status().code(), StatusCode::kCorruption);
  EXPECT_NE(pulled.status().message().find("digest mismatch"), std::string::npos)
      << pulled.status().message();
  EXPECT_TRUE(StoreHoldsNothingOf(dir->path(), image));
}

}  // namespace
}  // namespace syspgo::oci
