// SPDX-License-Identifier: Apache-2.0
#include "common/process.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/file_util.h"

extern char** environ;

namespace syspgo {

std::string ExitInfo::ToString() const {
  if (signaled) return std::string("killed by signal ") + ::strsignal(signal);
  return "exit code " + std::to_string(exit_code);
}

ExitInfo ExitInfoFromWaitStatus(int status) {
  ExitInfo info;
  if (WIFSIGNALED(status)) {
    info.signaled = true;
    info.signal = WTERMSIG(status);
  } else {
    info.exit_code = WEXITSTATUS(status);
  }
  return info;
}

namespace {

// fork + exec for what posix_spawn cannot do (PR_SET_PDEATHSIG, a held
// start). Between fork and exec the child only makes async-signal-safe
// calls; an exec failure reaches the parent as an errno through a
// close-on-exec pipe (`report`, read by the caller).
struct Forked {
  pid_t pid;
  UniqueFd gate;    // write end: a byte lets the child exec (held only)
  UniqueFd report;  // read end: the exec errno, EOF on success
};

Result<Forked> ForkExec(char* const* argv, char* const* envp, const SpawnOptions& options) {
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd report_read = UniqueFd::Adopt(report[0]);
  UniqueFd report_write = UniqueFd::Adopt(report[1]);
  int gate[2] = {-1, -1};
  if (options.held && ::pipe2(gate, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd gate_read = UniqueFd::Adopt(gate[0]);
  UniqueFd gate_write = UniqueFd::Adopt(gate[1]);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus(errno, "fork");
  if (pid == 0) {
    if (options.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent is already gone
    }
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (options.new_process_group) ::setpgid(0, 0);
    if (options.held) {
      ::close(gate[1]);  // EOF when the parent's end goes: never started
      char go = 0;
      ssize_t n;
      do {
        n = ::read(gate[0], &go, 1);
      } while (n < 0 && errno == EINTR);
      if (n != 1) ::_exit(127);
      ::close(gate[0]);
    }
    int in = options.stdin_fd;
    if (options.null_stdin) in = ::open("/dev/null", O_RDONLY);
    if (in >= 0) ::dup2(in, 0);
    if (options.stdout_fd >= 0) ::dup2(options.stdout_fd, 1);
    if (options.stderr_fd >= 0) ::dup2(options.stderr_fd, 2);
    ::execvpe(argv[0], argv, envp);
    int err = errno;
    ssize_t ignored = ::write(report[1], &err, sizeof(err));
    (void)ignored;
    ::_exit(127);
  }
  report_write.Reset();
  return Forked{pid, std::move(gate_write), std::move(report_read)};
}

// The exec errno the child reported on `report` (0: it executed).
int ReadExecError(int report) {
  int err = 0;
  ssize_t n;
  do {
    n = ::read(report, &err, sizeof(err));
  } while (n < 0 && errno == EINTR);
  return n == sizeof(err) ? err : 0;
}

}  // namespace

Result<Subprocess> Subprocess::Spawn(const std::vector<std::string>& argv,
                                     const SpawnOptions& options) {
  if (argv.empty()) return InvalidArgument("spawn: empty command");
  if (options.die_with_parent || options.held) {
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    if (options.env) {
      for (const auto& e : *options.env) cenv.push_back(const_cast<char*>(e.c_str()));
      cenv.push_back(nullptr);
    }
    ASSIGN_OR_RETURN(Forked child,
                     ForkExec(cargv.data(), options.env ? cenv.data() : environ, options));
    if (options.held) {
      return Subprocess(child.pid, std::move(child.gate), std::move(child.report), argv[0]);
    }
    if (int err = ReadExecError(child.report.get())) {
      int status;
      while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
      }
      return ErrnoStatus(err, "run", argv[0]);
    }
    return Subprocess(child.pid);
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
  }
  posix_spawnattr_setflags(&attr, flags);
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);

  if (options.null_stdin) {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  } else if (options.stdin_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, options.stdin_fd, 0);
  }
  if (options.stdout_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, options.stdout_fd, 1);
  }
  if (options.stderr_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, options.stderr_fd, 2);
  }

  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  char** envp = environ;
  if (options.env) {
    for (const auto& e : *options.env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    envp = cenv.data();
  }
  pid_t pid = -1;
  int err = ::posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return ErrnoStatus(err, "run", argv[0]);
  return Subprocess(pid);
}

Subprocess::~Subprocess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      gate_(std::move(other.gate_)),
      report_(std::move(other.report_)),
      program_(std::move(other.program_)) {}

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this != &other) {
    Subprocess dying(std::exchange(pid_, std::exchange(other.pid_, -1)), std::move(gate_),
                     std::move(report_), std::move(program_));
    gate_ = std::move(other.gate_);
    report_ = std::move(other.report_);
    program_ = std::move(other.program_);
  }
  return *this;
}

Status Subprocess::Start() {
  if (!gate_.valid()) return Status::Ok();
  // A child that died before it was started has closed its end: the write
  // fails with EPIPE, and the SIGPIPE it raises is taken back here rather
  // than left to end a program that does not ignore it.
  sigset_t pipe_only, before;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_only, &before);
  const char go = 1;
  ssize_t n;
  do {
    n = ::write(gate_.get(), &go, 1);
  } while (n < 0 && errno == EINTR);
  const int write_err = errno;
  if (n < 0 && write_err == EPIPE) {
    const struct timespec now = {0, 0};
    while (::sigtimedwait(&pipe_only, nullptr, &now) < 0 && errno == EINTR) {
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  gate_.Reset();
  if (n != 1) return ErrnoStatus(write_err, "start a held child");
  const int err = ReadExecError(report_.get());
  report_.Reset();
  if (err == 0) return Status::Ok();
  ASSIGN_OR_RETURN(ExitInfo ignored, Wait());
  (void)ignored;
  return ErrnoStatus(err, "run", program_);
}

Result<ExitInfo> Subprocess::Wait() {
  if (pid_ <= 0) return Internal("wait: no child process");
  int status;
  for (;;) {
    if (::waitpid(pid_, &status, 0) >= 0) break;
    if (errno != EINTR) return ErrnoStatus(errno, "waitpid");
  }
  pid_ = -1;
  return ExitInfoFromWaitStatus(status);
}

Result<std::optional<ExitInfo>> Subprocess::TryWait() {
  if (pid_ <= 0) return Internal("wait: no child process");
  int status;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r < 0) return ErrnoStatus(errno, "waitpid");
  if (r == 0) return std::optional<ExitInfo>();
  pid_ = -1;
  return std::optional<ExitInfo>(ExitInfoFromWaitStatus(status));
}

Result<ExitInfo> Subprocess::WaitFor(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (std::chrono::steady_clock::now() < deadline) {
    ASSIGN_OR_RETURN(std::optional<ExitInfo> done, TryWait());
    if (done) return *done;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  RETURN_IF_ERROR(Signal(SIGKILL));
  return Wait();
}

Status Subprocess::Signal(int sig) {
  if (pid_ <= 0) return Status::Ok();
  if (::kill(pid_, sig) != 0 && errno != ESRCH) {
    return ErrnoStatus(errno, "kill", std::to_string(pid_));
  }
  return Status::Ok();
}

Result<CommandOutput> RunCommand(const std::vector<std::string>& argv, const SpawnOptions& base) {
  ASSIGN_OR_RETURN(Pipe pipe, Pipe::Create());
  SpawnOptions options = base;
  options.stdout_fd = pipe.write_end.get();
  options.stderr_fd = pipe.write_end.get();
  if (options.stdin_fd < 0) options.null_stdin = true;
  ASSIGN_OR_RETURN(Subprocess child, Subprocess::Spawn(argv, options));
  pipe.write_end.Reset();
  CommandOutput out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(pipe.read_end.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.output.size() < (1u << 20)) out.output.append(buf, n);
  }
  ASSIGN_OR_RETURN(out.exit, child.Wait());
  return out;
}

Status RunCommandOk(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(CommandOutput out, RunCommand(argv));
  if (out.exit.success()) return Status::Ok();
  std::string tail =
      out.output.size() > 2000 ? out.output.substr(out.output.size() - 2000) : out.output;
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return Internal(argv[0] + " " + (argv.size() > 1 ? argv[1] : "") + " failed (" +
                  out.exit.ToString() + "): " + tail);
}

}  // namespace syspgo
