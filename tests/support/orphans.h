// SPDX-License-Identifier: Apache-2.0
// File: support/orphans.h
//
// Shared mount servers (node/shared_mount.h) are started detached: nobody's
// child, reaped by init. PID 1 on the test machines reaps no orphans, so a
// test that starts them makes itself their subreaper and reaps them.
#ifndef SYSPGO_TESTS_SUPPORT_ORPHANS_H_
#define SYSPGO_TESTS_SUPPORT_ORPHANS_H_

#include <dirent.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace syspgo::testing {

// Orphaned descendants become our children.
inline void AdoptOrphans() { ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

// Our children named `comm`, with their state letter.
inline std::vector<std::pair<pid_t, char>> ChildrenNamed(const std::string& comm) {
  std::vector<std::pair<pid_t, char>> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    if (!f) continue;
    char name[64] = {0};
    char state = 0;
    int ppid = 0;
    const int n = std::fscanf(f, "%*d (%63[^)]) %c %d", name, &state, &ppid);
    std::fclose(f);
    if (n == 3 && ppid == ::getpid() && comm == name) out.push_back({pid, state});
  }
  ::closedir(d);
  return out;
}

// Waits up to `timeout` for adopted mount servers ("syspgo") to exit and
// reaps them; returns how many still run.
inline size_t ReapAdoptedServers(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    size_t running = 0;
    for (auto [pid, state] : ChildrenNamed("syspgo")) {
      if (state == 'Z') {
        ::waitpid(pid, nullptr, WNOHANG);
      } else {
        ++running;
      }
    }
    if (running == 0 || std::chrono::steady_clock::now() >= deadline) return running;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace syspgo::testing

#endif  // SYSPGO_TESTS_SUPPORT_ORPHANS_H_
