// SPDX-License-Identifier: Apache-2.0
// File: oci/idle_connections.h
//
// The HTTP connections a process keeps open between registry clients. A
// client made for a registry takes an idle connection to it (a libcurl
// easy handle, with the open connections in its cache) instead of opening
// one, and gives it back when it ends: a start's blob streams go out on
// the connections its lookups opened, with no handshake and a TCP window
// already grown, and a long-lived process (a mount server, the
// snapshotter) pays no handshake for a registry it talked to recently.
//
// Of a registry's idle connections, a client takes the one that has
// received the most bytes (its window has grown the most). A connection
// idle for longer than max_idle is closed rather than handed out (servers
// close idle connections after a minute or so; curl would notice, at the
// cost of a failed reuse). Thread-safe; a connection serves one client at
// a time.
#ifndef SYSPGO_OCI_IDLE_CONNECTIONS_H_
#define SYSPGO_OCI_IDLE_CONNECTIONS_H_

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "oci/http.h"

namespace syspgo::oci {

class IdleConnections {
 public:
  explicit IdleConnections(size_t max_per_registry = 8,
                           std::chrono::milliseconds max_idle = std::chrono::seconds(90))
      : max_per_registry_(max_per_registry), max_idle_(max_idle) {}
  IdleConnections(const IdleConnections&) = delete;
  IdleConnections& operator=(const IdleConnections&) = delete;

  // The warmest idle connection of `registry`, or nullopt.
  std::optional<HttpClient> Take(const std::string& registry);
  // Keeps `client` for the next Take (the coldest one goes when there are
  // max_per_registry already).
  void Give(const std::string& registry, HttpClient client);
  // Idle connections kept now (all registries).
  size_t size() const;
  // How many Takes found one, and how many did not.
  int64_t reused() const;
  int64_t missed() const;

 private:
  struct Idle {
    HttpClient client;
    std::chrono::steady_clock::time_point since;
  };
  // Moves the connections idle too long from `idle` to `expired` (closed
  // by the caller once the lock is released).
  void TakeExpiredLocked(std::vector<Idle>& idle, std::vector<Idle>& expired);

  const size_t max_per_registry_;
  const std::chrono::milliseconds max_idle_;
  mutable std::mutex mu_;  // guards idle_, reused_, missed_
  std::map<std::string, std::vector<Idle>> idle_;
  int64_t reused_ = 0;
  int64_t missed_ = 0;
};

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_IDLE_CONNECTIONS_H_
