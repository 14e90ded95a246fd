// SPDX-License-Identifier: Apache-2.0
// File: tests/support/http_test_server.h
//
// A small real HTTP/1.1 server on 127.0.0.1 for tests that need a peer which
// misbehaves on purpose: drops a connection mid-body, ignores Range, answers
// 5xx, asks for tokens. Keep-alive, one thread per connection, bounded by the
// test's lifetime (the destructor stops and joins everything).
#ifndef SYSPGO_TESTS_SUPPORT_HTTP_TEST_SERVER_H_
#define SYSPGO_TESTS_SUPPORT_HTTP_TEST_SERVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace syspgo::testing {

struct TestRequest {
  std::string method;
  std::string target;                          // path and query
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  int connection = 0;  // which connection it came on: 1 for the first accepted, ...
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct TestResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Send only this many body bytes, then close the connection.
  int64_t drop_after = -1;
  // Send this many body bytes, then hold the connection open, sending
  // nothing, until the server stops (a stalled transfer).
  int64_t stall_after = -1;
};

class HttpTestServer {
 public:
  using Handler = std::function<TestResponse(const TestRequest&)>;
  explicit HttpTestServer(Handler handler);
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Closes the listening socket and every connection: the server "dies".
  void Stop();
  int requests() const { return requests_.load(); }
  // Connections accepted so far.
  int connections() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(connections_.size());
  }

 private:
  void AcceptLoop();
  void Serve(int fd, int index);

  Handler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> connections_;  // guarded by mu_
  std::vector<int> connection_fds_;       // guarded by mu_
};

// The body bytes a "Range: bytes=a-b" header asks of a `size`-byte body, as
// [start, end) (whole body when absent or malformed).
std::pair<int64_t, int64_t> RangeOf(const TestRequest& request, int64_t size);

}  // namespace syspgo::testing

#endif  // SYSPGO_TESTS_SUPPORT_HTTP_TEST_SERVER_H_
