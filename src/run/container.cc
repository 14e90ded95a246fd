// SPDX-License-Identifier: Apache-2.0
#include "run/container.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <random>
#include <thread>

#include "common/clock.h"
#include "common/file_lock.h"
#include "common/file_util.h"

namespace syspgo::run {
namespace {

std::string NewContainerId() {
  std::random_device rd;
  std::uniform_int_distribution<uint32_t> dist;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "syspgo-%08x%04x", dist(rd), dist(rd) & 0xffff);
  return buf;
}

std::string RunDir(const std::string& state_root) { return JoinPath(state_root, "run"); }
std::string RuncRoot(const std::string& state_root) { return JoinPath(state_root, "runc"); }

}  // namespace

Container::Container(std::string id, std::string dir, std::string runc,
                     const std::string& state_root, const Logger* log)
    : id_(std::move(id)),
      dir_(std::move(dir)),
      rootfs_(JoinPath(dir_, "rootfs")),
      runc_(std::move(runc), RuncRoot(state_root)),
      log_(log) {}

Container::~Container() {
  Status st = Destroy();
  if (!st.ok() && log_) log_->Warning("cleaning up container " + id_ + ": " + st.message());
}

Result<std::unique_ptr<Container>> Container::Prepare(const ContainerOptions& options,
                                                      const oci::LocalImage& image,
                                                      const Logger* log) {
  RETURN_IF_ERROR(MakeDirs(RunDir(options.state_root), 0700));
  RETURN_IF_ERROR(MakeDirs(RuncRoot(options.state_root), 0700));
  std::string id = NewContainerId();
  std::string dir = JoinPath(RunDir(options.state_root), id);
  if (::mkdir(dir.c_str(), 0700) != 0) return ErrnoStatus(errno, "mkdir", dir);
  std::unique_ptr<Container> c(new Container(id, dir, options.runc, options.state_root, log));
  ASSIGN_OR_RETURN(c->lock_, UniqueFd::Open(JoinPath(dir, "lock"), O_RDWR | O_CREAT, 0600));
  if (::flock(c->lock_.get(), LOCK_EX) != 0) return ErrnoStatus(errno, "lock", dir);
  for (const char* sub : {"upper", "work", "rootfs"}) {
    std::string p = JoinPath(dir, sub);
    if (::mkdir(p.c_str(), 0755) != 0) return ErrnoStatus(errno, "mkdir", p);
  }
  std::string lower;
  for (auto it = image.layer_paths.rbegin(); it != image.layer_paths.rend(); ++it) {
    if (!lower.empty()) lower += ":";
    lower += *it;
  }
  std::string data = "lowerdir=" + lower + ",upperdir=" + JoinPath(dir, "upper") +
                     ",workdir=" + JoinPath(dir, "work");
  if (data.size() >= 4096) {
    return InvalidArgument("image has too many layers for one overlay mount (" +
                           std::to_string(image.layer_paths.size()) + ")");
  }
  ASSIGN_OR_RETURN(c->rootfs_mount_, Mount::Create("overlay", c->rootfs_, "overlay", 0, data));
  ASSIGN_OR_RETURN(ContainerSpec spec,
                   MakeContainerSpec(image.config, options.command, options.entrypoint, options.env,
                                     c->rootfs_));
  spec.cgroups_path = "/syspgo/" + id;
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, "config.json"), RuntimeSpecJson(spec), 0600,
                                  /*durable=*/false));
  return c;
}

Status Container::Create() {
  // The container's init is reparented to us when `runc create` exits, so we
  // can reap it and read its exit code.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return ErrnoStatus(errno, "prctl(PR_SET_CHILD_SUBREAPER)");
  }
  ASSIGN_OR_RETURN(Pipe out, Pipe::Create());
  ASSIGN_OR_RETURN(Pipe err, Pipe::Create());
  created_ = true;  // a failed create may leave runc state behind
  ASSIGN_OR_RETURN(init_pid_, runc_.Create(id_, dir_, out.write_end.get(), err.write_end.get()));
  stdout_read_ = std::move(out.read_end);
  stderr_read_ = std::move(err.read_end);
  long fd = ::syscall(SYS_pidfd_open, init_pid_, 0);
  if (fd < 0) return ErrnoStatus(errno, "pidfd_open", std::to_string(init_pid_));
  init_pidfd_ = UniqueFd::Adopt(static_cast<int>(fd));
  return Status::Ok();
}

Status Container::Start() { return runc_.Start(id_); }

Result<std::optional<ExitInfo>> Container::PollExit() {
  if (exit_) return exit_;
  if (init_pid_ <= 0) return std::optional<ExitInfo>();
  int status;
  pid_t r = ::waitpid(init_pid_, &status, WNOHANG);
  if (r < 0) {
    if (errno == ECHILD) {
      // Not our child (no subreaper?): all we can tell is that it is gone.
      if (::kill(init_pid_, 0) != 0 && errno == ESRCH) {
        exit_ = ExitInfo{};
        exit_->signaled = true;
        exit_->signal = 0;
      }
      return exit_;
    }
    return ErrnoStatus(errno, "waitpid", std::to_string(init_pid_));
  }
  if (r == init_pid_) exit_ = ExitInfoFromWaitStatus(status);
  // Reap any other orphan that was reparented to us; init may exit between
  // the two calls, so its status can arrive here too.
  pid_t other;
  while ((other = ::waitpid(-1, &status, WNOHANG)) > 0) {
    if (other == init_pid_ && !exit_) exit_ = ExitInfoFromWaitStatus(status);
  }
  return exit_;
}

Status Container::Forward(int from, int to, LineMatcher* matcher, bool* eof, bool* matched) {
  char buf[65536];
  ssize_t n = ::read(from, buf, sizeof(buf));
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return Status::Ok();
    return ErrnoStatus(errno, "read container output");
  }
  if (n == 0) {
    *eof = true;
    return Status::Ok();
  }
  WriteAll(to, std::string_view(buf, static_cast<size_t>(n)), "output").IgnoreError();
  if (matcher && matcher->Feed(std::string_view(buf, static_cast<size_t>(n)))) {
    *matched = true;
  }
  return Status::Ok();
}

Result<WaitOutcome> Container::Wait(const WaitOptions& options, const CancelToken& cancel) {
  const auto start = SteadyClock::now();
  const auto deadline = start + options.timeout;
  const ReadyCondition& cond = options.condition;
  WaitOutcome outcome;
  std::optional<LineMatcher> out_matcher, err_matcher;
  if (cond.kind == ReadyCondition::kLog) {
    out_matcher.emplace(cond.regex);
    err_matcher.emplace(cond.regex);
  }
  UniqueFd rootfs_fd;
  if (cond.kind == ReadyCondition::kFile) {
    ASSIGN_OR_RETURN(rootfs_fd, UniqueFd::Open(rootfs_, O_PATH | O_DIRECTORY));
  }
  bool out_eof = false, err_eof = false;
  auto mark_ready = [&] {
    if (!outcome.ready) {
      outcome.ready = true;
      outcome.ready_seconds = SecondsSince(start);
    }
  };
  const bool polls = cond.kind == ReadyCondition::kTcp || cond.kind == ReadyCondition::kFile ||
                     static_cast<bool>(options.ready_probe);
  // One look at the polled conditions (tcp, file, the caller's probe).
  auto poll_ready = [&] {
    if (options.ready_probe && options.ready_probe()) mark_ready();
    if (!options.probe_replaces_polling &&
        ((cond.kind == ReadyCondition::kTcp && TcpPortAccepts(cond.port)) ||
         (cond.kind == ReadyCondition::kFile && PathExistsInRoot(rootfs_fd.get(), cond.path)))) {
      mark_ready();
    }
  };
  for (;;) {
    if (cancel.cancelled()) {
      // An interrupt can come from whoever saw the port answer before we
      // looked: look once more, so a start that was ready is reported so.
      if (!outcome.ready && !exit_ && options.keep_running) poll_ready();
      Stop(std::chrono::seconds(2)).IgnoreError();
      if (outcome.ready && options.keep_running) {
        outcome.interrupted = true;
        return outcome;
      }
      return Cancelled("interrupted; container " + id_ + " stopped");
    }
    if (!outcome.ready && !exit_) {
      poll_ready();
      if (SteadyClock::now() > deadline) {
        Stop(std::chrono::seconds(2)).IgnoreError();
        return DeadlineExceeded(
            "container did not become ready (" + cond.ToString() + ") within " +
            std::to_string(static_cast<double>(options.timeout.count()) / 1000.0) + " s");
      }
    }
    if (outcome.ready && cond.kind != ReadyCondition::kExit && !options.keep_running) {
      return outcome;
    }
    if (exit_ && out_eof && err_eof) break;

    struct pollfd fds[3];
    int nfds = 0;
    int out_idx = -1, err_idx = -1;
    if (!out_eof) {
      out_idx = nfds;
      fds[nfds++] = {stdout_read_.get(), POLLIN, 0};
    }
    if (!err_eof) {
      err_idx = nfds;
      fds[nfds++] = {stderr_read_.get(), POLLIN, 0};
    }
    if (!exit_) fds[nfds++] = {init_pidfd_.get(), POLLIN, 0};
    int timeout_ms = (polls && !outcome.ready) ? 2 : 50;
    int r = ::poll(fds, static_cast<nfds_t>(nfds), timeout_ms);
    if (r < 0 && errno != EINTR) return ErrnoStatus(errno, "poll");
    if (r > 0) {
      bool matched = false;
      if (out_idx >= 0 && fds[out_idx].revents) {
        RETURN_IF_ERROR(Forward(stdout_read_.get(), options.stdout_fd,
                                out_matcher ? &*out_matcher : nullptr, &out_eof, &matched));
      }
      if (err_idx >= 0 && fds[err_idx].revents) {
        RETURN_IF_ERROR(Forward(stderr_read_.get(), options.stderr_fd,
                                err_matcher ? &*err_matcher : nullptr, &err_eof, &matched));
      }
      if (matched) mark_ready();
    }
    if (!exit_) {  // waitpid(WNOHANG) is cheap; the pidfd only wakes us
      ASSIGN_OR_RETURN(std::optional<ExitInfo> exited, PollExit());
      if (exited) {
        outcome.exit = exited;
        if (cond.kind == ReadyCondition::kExit && exited->success()) mark_ready();
        if (!outcome.ready && cond.kind != ReadyCondition::kExit) {
          // Drain what it said before reporting.
          while (!out_eof || !err_eof) {
            bool m = false;
            if (!out_eof)
              RETURN_IF_ERROR(
                  Forward(stdout_read_.get(), options.stdout_fd, nullptr, &out_eof, &m));
            if (!err_eof)
              RETURN_IF_ERROR(
                  Forward(stderr_read_.get(), options.stderr_fd, nullptr, &err_eof, &m));
          }
          return Unavailable("container exited (" + exited->ToString() + ") before it was ready (" +
                             cond.ToString() + ")");
        }
      }
    }
  }
  return outcome;
}

Status Container::Stop(std::chrono::milliseconds grace) {
  if (!created_ || exit_ || init_pid_ <= 0) return Status::Ok();
  runc_.Kill(id_, SIGTERM).IgnoreError();
  auto deadline = SteadyClock::now() + grace;
  while (SteadyClock::now() < deadline) {
    ASSIGN_OR_RETURN(std::optional<ExitInfo> done, PollExit());
    if (done) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  runc_.Kill(id_, SIGKILL, /*all=*/true).IgnoreError();
  if (init_pid_ > 0) ::kill(init_pid_, SIGKILL);
  for (int i = 0; i < 500; ++i) {
    ASSIGN_OR_RETURN(std::optional<ExitInfo> done, PollExit());
    if (done) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Internal("container " + id_ + " did not exit after SIGKILL");
}

Status Container::Destroy() {
  Status result;
  if (created_) {
    if (!exit_) Stop(std::chrono::seconds(1)).IgnoreError();
    Status st = runc_.Delete(id_);
    if (!st.ok()) result = st;
    created_ = false;
  }
  stdout_read_.Reset();
  stderr_read_.Reset();
  init_pidfd_.Reset();
  if (Status st = rootfs_mount_.Unmount(); !st.ok() && result.ok()) result = st;
  if (!dir_.empty() && result.ok()) {
    result = RemoveTree(dir_);
    if (result.ok()) dir_.clear();
  }
  lock_.Reset();
  return result;
}

void CleanupStaleContainers(const std::string& state_root, const std::string& runc,
                            const Logger* log) {
  auto entries = ListDir(RunDir(state_root));
  if (!entries.ok()) return;
  Runc r(runc, RuncRoot(state_root));
  for (const std::string& id : *entries) {
    std::string dir = JoinPath(RunDir(state_root), id);
    const TriedLock lock = TryLockFile(JoinPath(dir, "lock"));
    if (lock.held()) continue;  // alive
    if (log) log->Info("removing stale container " + id);
    // A runc of the dead process may still be finishing: try a few times.
    Status st;
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
      st = r.Delete(id);
      if (st.ok()) st = UnmountIfMounted(JoinPath(dir, "rootfs"));
      if (st.ok()) st = RemoveTree(dir);
      if (st.ok()) break;
    }
    if (!st.ok() && log) log->Warning("stale container " + id + ": " + st.message());
  }
}

}  // namespace syspgo::run
