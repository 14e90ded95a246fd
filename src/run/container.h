// SPDX-License-Identifier: Apache-2.0
// File: run/container.h
//
// One container started from an image in the LayerStore: its state directory
// (<state_root>/run/<id>/ with upper/, work/, the overlay mount rootfs/ and
// config.json), its runc lifecycle and its output. The Container owns all of
// it: destroying the object deletes the runc container, unmounts the root
// file system and removes the directory. A process that dies without doing
// so leaves its directory unlocked, and CleanupStaleContainers() (run at the
// next start) removes it.
//
// Threading: one thread drives a Container.
#ifndef SYSPGO_RUN_CONTAINER_H_
#define SYSPGO_RUN_CONTAINER_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/log.h"
#include "common/mount.h"
#include "common/process.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "oci/puller.h"
#include "run/bundle.h"
#include "run/readiness.h"
#include "run/runc.h"

namespace syspgo::run {

struct ContainerOptions {
  std::string state_root;  // e.g. /var/lib/syspgo
  std::string runc = "runc";
  std::vector<std::string> command;  // replaces the image's Cmd
  std::optional<std::vector<std::string>> entrypoint;
  std::vector<std::string> env;
};

// What happened after Start().
struct WaitOutcome {
  bool ready = false;
  double ready_seconds = 0;      // from Start() to readiness
  std::optional<ExitInfo> exit;  // when the container exited
  // keep_running: stopped by an interrupt after it was ready (the phases
  // are still reported; the caller exits as interrupted).
  bool interrupted = false;
};

struct WaitOptions {
  ReadyCondition condition;
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  // For tcp/file/log conditions: keep forwarding output until the container
  // exits, instead of returning at readiness.
  bool keep_running = false;
  int stdout_fd = 1;  // where the container's output goes
  int stderr_fd = 2;
  // When set, called every loop turn (every 2 ms); true means ready. With
  // probe_replaces_polling the built-in tcp/file polling is off (the tracer
  // takes the kernel's LISTEN event as the tcp condition).
  std::function<bool()> ready_probe;
  bool probe_replaces_polling = false;
};

class Container {
 public:
  static Result<std::unique_ptr<Container>> Prepare(const ContainerOptions& options,
                                                    const oci::LocalImage& image,
                                                    const Logger* log);
  ~Container();
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  const std::string& id() const { return id_; }
  const std::string& rootfs() const { return rootfs_; }
  // The container's init process, after Create().
  pid_t init_pid() const { return init_pid_; }

  // runc create (our process becomes the child subreaper so that the
  // container's init is our child), then runc start.
  Status Create();
  Status Start();
  // Forwards output and waits for the condition, the container's exit, the
  // timeout or cancellation (then the container is stopped).
  Result<WaitOutcome> Wait(const WaitOptions& options, const CancelToken& cancel);
  // SIGTERM, then SIGKILL to every process after `grace`.
  Status Stop(std::chrono::milliseconds grace);
  // Deletes, unmounts, removes the directory. Called by the destructor.
  Status Destroy();

 private:
  Container(std::string id, std::string dir, std::string runc, const std::string& state_root,
            const Logger* log);
  Result<std::optional<ExitInfo>> PollExit();
  Status Forward(int from, int to, LineMatcher* matcher, bool* eof, bool* matched);

  std::string id_;
  std::string dir_;
  std::string rootfs_;
  Runc runc_;
  const Logger* log_;
  UniqueFd lock_;  // flock on <dir>/lock while we own the container
  Mount rootfs_mount_;
  bool created_ = false;
  pid_t init_pid_ = -1;
  UniqueFd init_pidfd_;
  UniqueFd stdout_read_;
  UniqueFd stderr_read_;
  std::optional<ExitInfo> exit_;
};

// Removes containers left behind by syspgo processes that died.
void CleanupStaleContainers(const std::string& state_root, const std::string& runc,
                            const Logger* log);

}  // namespace syspgo::run

#endif  // SYSPGO_RUN_CONTAINER_H_
