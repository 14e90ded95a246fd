// SPDX-License-Identifier: Apache-2.0
#include "oci/idle_connections.h"

#include <algorithm>

namespace syspgo::oci {

void IdleConnections::TakeExpiredLocked(std::vector<Idle>& idle, std::vector<Idle>& expired) {
  const auto now = std::chrono::steady_clock::now();
  auto fresh = std::stable_partition(idle.begin(), idle.end(),
                                     [&](const Idle& i) { return now - i.since <= max_idle_; });
  expired.insert(expired.end(), std::make_move_iterator(fresh),
                 std::make_move_iterator(idle.end()));
  idle.erase(fresh, idle.end());
}

std::optional<HttpClient> IdleConnections::Take(const std::string& registry) {
  std::optional<HttpClient> out;
  std::vector<Idle> expired;  // closed outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = idle_.find(registry);
    if (it != idle_.end()) {
      TakeExpiredLocked(it->second, expired);
      auto warmest =
          std::max_element(it->second.begin(), it->second.end(), [](const Idle& a, const Idle& b) {
            return a.client.bytes_received() < b.client.bytes_received();
          });
      if (warmest != it->second.end()) {
        out.emplace(std::move(warmest->client));
        it->second.erase(warmest);
      }
      if (it->second.empty()) idle_.erase(it);
    }
    (out ? reused_ : missed_)++;
  }
  return out;
}

void IdleConnections::Give(const std::string& registry, HttpClient client) {
  if (!client.valid()) return;
  std::vector<Idle> dropped;  // closed outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Idle>& idle = idle_[registry];
  TakeExpiredLocked(idle, dropped);
  idle.push_back(Idle{std::move(client), std::chrono::steady_clock::now()});
  if (idle.size() > max_per_registry_) {
    auto coldest = std::min_element(idle.begin(), idle.end(), [](const Idle& a, const Idle& b) {
      return a.client.bytes_received() < b.client.bytes_received();
    });
    dropped.push_back(std::move(*coldest));
    idle.erase(coldest);
  }
}

size_t IdleConnections::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [registry, idle] : idle_) n += idle.size();
  return n;
}

int64_t IdleConnections::reused() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reused_;
}

int64_t IdleConnections::missed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return missed_;
}

}  // namespace syspgo::oci
