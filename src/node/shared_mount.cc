// SPDX-License-Identifier: Apache-2.0
#include "node/shared_mount.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/clock.h"
#include "common/file_lock.h"
#include "common/file_util.h"
#include "common/procfs.h"
#include "common/unix_socket.h"
#include "node/mount_server_protocol.h"
#include "oci/registry_client.h"

namespace syspgo::node {
namespace {

constexpr char kSharedDir[] = "shared";
constexpr char kLocksDir[] = "shared-locks";
constexpr auto kRefPoll = std::chrono::milliseconds(250);

std::string LockPath(const std::string& root, const std::string& hex) {
  return JoinPath(JoinPath(root, kLocksDir), hex);
}

bool ValidHolder(const std::string& name) {
  if (name.empty() || name.size() > 200 || name[0] == '.') return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

// A process reference "pid-<pid>-<start>" whose process is gone.
bool DeadProcessRef(const std::string& name) {
  unsigned long pid = 0;
  unsigned long long start = 0;
  if (std::sscanf(name.c_str(), "pid-%lu-%llu", &pid, &start) != 2) return false;
  return !SameTask(static_cast<pid_t>(pid), start);
}

// A server holds the directory's lock (until the directory is removed).
bool LockHeld(const std::string& dir) { return TryLockFile(JoinPath(dir, "lock")).held(); }

// Held by a live server: its lock is taken and its mount is there.
bool ServerLive(const std::string& dir) {
  return LockHeld(dir) && fs::IsFuseMount(JoinPath(dir, "mnt"));
}

// Takes the acquire lock of an image within `timeout`.
Result<UniqueFd> LockImage(const std::string& root, const std::string& hex,
                           std::chrono::milliseconds timeout) {
  RETURN_IF_ERROR(MakePrivateDir(JoinPath(root, kLocksDir)));
  auto fd =
      WaitForFileLock(LockPath(root, hex), LOCK_EX,
                      {.timeout = timeout, .waiting_for = "the shared mount of sha256:" + hex});
  if (fd.status().code() == StatusCode::kDeadlineExceeded) {
    return DeadlineExceeded("another syspgo is starting the shared mount of sha256:" + hex +
                            " and has not finished");
  }
  return fd;
}

struct Spawned {
  UniqueFd out;  // the server's stdout
};

// A pipe's read end with `input` in it, written whole (into the pipe's
// buffer, so that nothing waits for the reader) and closed.
Result<UniqueFd> InputPipe(std::string_view input) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  UniqueFd read_end = UniqueFd::Adopt(pipefd[0]), feed = UniqueFd::Adopt(pipefd[1]);
  const int capacity = ::fcntl(feed.get(), F_SETPIPE_SZ, static_cast<int>(input.size()));
  if (capacity < 0 || static_cast<size_t>(capacity) < input.size()) {
    return ResourceExhausted("the mount server's input does not fit a pipe");
  }
  RETURN_IF_ERROR(WriteAll(feed.get(), input, "the mount server's input"));
  return read_end;
}

// Starts argv detached (its own session; its parent exits at once, so it is
// nobody's child: it outlives us, and whoever reaps orphans reaps it).
// `input` (invalid: /dev/null) becomes its stdin.
Result<Spawned> SpawnDetached(const std::vector<std::string>& argv, const std::string& log_path,
                              UniqueFd input) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  UniqueFd read_end = UniqueFd::Adopt(pipefd[0]), write_end = UniqueFd::Adopt(pipefd[1]);
  UniqueFd log;
  if (!log_path.empty()) {
    log =
        UniqueFd::Adopt(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!log.valid()) return ErrnoStatus(errno, "open", log_path);
  }
  UniqueFd null = UniqueFd::Adopt(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null.valid()) return ErrnoStatus(errno, "open", "/dev/null");
  const int in_fd = input.valid() ? input.get() : null.get();
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const int err_fd = log.valid() ? log.get() : null.get();
  const std::string exec_failed = ErrorLine(Internal("cannot execute the mount server"));
  const pid_t child = ::fork();
  if (child < 0) return ErrnoStatus(errno, "fork");
  if (child == 0) {
    // Only async-signal-safe calls from here on.
    ::setsid();
    const pid_t grandchild = ::fork();
    if (grandchild != 0) ::_exit(grandchild < 0 ? 1 : 0);
    ::dup2(in_fd, 0);
    ::dup2(write_end.get(), 1);
    ::dup2(err_fd, 2);
    // Nothing else of ours (a daemon's sockets) goes with it.
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::execv(cargv[0], cargv.data());
    (void)!::write(1, exec_failed.data(), exec_failed.size());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Internal("fork of the mount server failed");
  write_end.Reset();
  return Spawned{std::move(read_end)};
}

// Reads the server's stdout until "mounted ..." (ok), "error ..." or EOF.
Status WaitMounted(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::string buf;
  while (true) {
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      const ServerLine said = ParseServerLine(line);
      if (said.kind == ServerLine::kMounted) return Status();
      if (said.kind == ServerLine::kError) return said.error;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return DeadlineExceeded("the mount server did not mount in time");
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoStatus(errno, "poll", "mount server");
    if (r == 0) continue;
    char chunk[4096];
    ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Internal("the mount server exited without mounting (see its log)");
    buf.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace

std::string SharedMountDir(const std::string& root, const oci::Digest& manifest) {
  return JoinPath(JoinPath(root, kSharedDir), manifest.hex);
}

std::string ProcessHolderName() {
  const pid_t pid = ::getpid();
  // With its start time, the pid names this process for good.
  auto start = ProcStartTime(pid);
  return "pid-" + std::to_string(pid) + "-" + std::to_string(start.ok() ? *start : 0);
}

// ---- MountStats

Result<MountStats> MountStats::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Corruption("mount statistics: not an object");
  MountStats s;
  try {
    s.mode = j.value("mode", "");
    s.registry_requests = j.value("registry_requests", int64_t{0});
    s.registry_bytes = j.value("registry_bytes", int64_t{0});
    s.locate_requests = j.value("locate_requests", int64_t{0});
    s.locate_bytes = j.value("locate_bytes", int64_t{0});
    s.fallback_requests = j.value("fallback_requests", int64_t{0});
    s.fallback_bytes = j.value("fallback_bytes", int64_t{0});
    s.misses = j.value("misses", int64_t{0});
    s.errors = j.value("errors", int64_t{0});
    s.references = j.value("references", int64_t{0});
    s.settled = j.value("settled", false);
    s.exit_unreferenced = j.value("exit_unreferenced", false);
    if (j.contains("fs")) s.fs = j["fs"];
  } catch (const nlohmann::json::exception& e) {
    return Corruption(std::string("mount statistics: ") + e.what());
  }
  return s;
}

nlohmann::json MountStats::ToJson() const {
  return {{"mode", mode},
          {"registry_requests", registry_requests},
          {"registry_bytes", registry_bytes},
          {"locate_requests", locate_requests},
          {"locate_bytes", locate_bytes},
          {"fallback_requests", fallback_requests},
          {"fallback_bytes", fallback_bytes},
          {"misses", misses},
          {"errors", errors},
          {"references", references},
          {"settled", settled},
          {"exit_unreferenced", exit_unreferenced},
          {"fs", fs}};
}

// ---- SharedMountServer

Result<std::unique_ptr<SharedMountServer>> SharedMountServer::Start(
    const std::string& root, LazyImage& lazy, fs::LazyMode mode, const LazyOptions& options,
    const RegistrySetup& setup, bool exit_unreferenced) {
  // Until the mount and its directory are in place, the store's garbage
  // collector waits (the caches it fills are then visibly in use).
  ASSIGN_OR_RETURN(UniqueFd gc_hold, oci::LayerStore::HoldAgainstGc(root, nullptr));
  std::unique_ptr<SharedMountServer> s(new SharedMountServer());
  s->root_ = root;
  s->key_ = lazy.image.manifest_digest.hex;
  s->exit_unreferenced_ = exit_unreferenced;
  s->mode_ = mode;
  s->locate_counters_ = &lazy.counters;
  RETURN_IF_ERROR(MakePrivateDir(JoinPath(root, kSharedDir)));
  s->dir_path_ = SharedMountDir(root, lazy.image.manifest_digest);
  ASSIGN_OR_RETURN(s->dir_, fs::MountDir::CreateAt(s->dir_path_));
  const std::string refs = JoinPath(s->dir_path_, "refs");
  RETURN_IF_ERROR(RemoveTree(refs));  // a dead server's
  if (::mkdir(refs.c_str(), 0700) != 0) return ErrnoStatus(errno, "mkdir", refs);
  RETURN_IF_ERROR(
      WriteFileAtomic(JoinPath(s->dir_path_, "config.json"), lazy.config_bytes, 0600, false));
  nlohmann::json source = {{"reference", lazy.image.reference.ToString()},
                           {"manifest_digest", lazy.image.manifest_digest.ToString()},
                           {"mode", std::string(fs::LazyModeName(mode))},
                           {"signed_by", lazy.signature ? lazy.signature->key_id : ""}};
  RETURN_IF_ERROR(
      WriteFileAtomic(JoinPath(s->dir_path_, "source.json"), source.dump() + "\n", 0600, false));
  if (fs::IsFuseMount(s->dir_.mnt())) {
    return FailedPrecondition(s->dir_.mnt() + " is a FUSE mount already");
  }
  ASSIGN_OR_RETURN(s->mounted_, MountLazyImage(lazy, mode, options, root, setup, s->dir_.mnt()));
  // The control socket: statistics for whoever uses the mount.
  const std::string sock = JoinPath(s->dir_path_, "control.sock");
  ASSIGN_OR_RETURN(s->control_, ListenPrivateUnixSocket(sock, 16, SOCK_NONBLOCK));
  ASSIGN_OR_RETURN(s->wake_, Pipe::Create());
  s->control_thread_ = std::thread([p = s.get()] { p->ControlLoop(); });
  return s;
}

void SharedMountServer::StopControl() {
  stop_control_.store(true);
  if (wake_.write_end.valid()) (void)!::write(wake_.write_end.get(), "x", 1);
  if (control_thread_.joinable()) control_thread_.join();
}

SharedMountServer::~SharedMountServer() {
  StopControl();
  if (mounted_) (void)mounted_->Stop();
}

void SharedMountServer::ControlLoop() {
  while (!stop_control_.load()) {
    pollfd p[2] = {{control_.get(), POLLIN, 0}, {wake_.read_end.get(), POLLIN, 0}};
    if (::poll(p, 2, 1000) <= 0 || !(p[0].revents & POLLIN)) continue;
    UniqueFd conn = UniqueFd::Adopt(::accept4(control_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    // The request is a line: "stats", or "check" (a reference was dropped:
    // look at the references now). Either gets the statistics.
    pollfd q{conn.get(), POLLIN, 0};
    if (::poll(&q, 1, 1000) > 0) {
      char buf[64];
      const ssize_t n = ::read(conn.get(), buf, sizeof(buf));
      if (n >= 5 && std::string_view(buf, 5) == "check") check_now_.store(true);
    }
    (void)WriteAll(conn.get(), std::string_view(Stats().ToJson().dump()), "control socket");
  }
}

MountStats SharedMountServer::Stats() const {
  if (!mounted_) return final_stats_;
  MountStats s;
  s.mode = std::string(fs::LazyModeName(mode_));
  s.fs = mounted_->Stats();
  s.locate_requests = locate_counters_->requests.load();
  s.locate_bytes = locate_counters_->bytes.load();
  const nlohmann::json& j = s.fs;
  s.fallback_requests = j["fallback"]["requests"].get<int64_t>();
  s.fallback_bytes = j["fallback"]["bytes"].get<int64_t>();
  s.registry_requests = s.locate_requests + s.fallback_requests;
  s.registry_bytes = s.locate_bytes + s.fallback_bytes;
  if (j.contains("page_cache")) {
    s.registry_requests += j["page_cache"]["requests"].get<int64_t>();
    s.registry_bytes += j["page_cache"]["bytes"].get<int64_t>();
  }
  s.misses = j["fuse"]["misses"].get<int64_t>();
  s.errors = j["fuse"]["errors"].get<int64_t>();
  auto refs = ListDir(JoinPath(dir_path_, "refs"));
  s.references = refs.ok() ? static_cast<int64_t>(refs->size()) : 0;
  s.settled = mounted_->WaitSettled(std::chrono::milliseconds(0));
  s.exit_unreferenced = exit_unreferenced_;
  return s;
}

bool SharedMountServer::Unreferenced() {
  const std::string refs = JoinPath(dir_path_, "refs");
  auto names = ListDir(refs);
  if (!names.ok()) return false;
  size_t live = 0;
  for (const std::string& name : *names) {
    if (DeadProcessRef(name)) {
      ::unlink(JoinPath(refs, name).c_str());
    } else {
      ++live;
    }
  }
  return live == 0;
}

Status SharedMountServer::Serve(const CancelToken& cancel,
                                const std::function<void()>& on_settled) {
  bool settled = false;
  auto next_check = SteadyClock::now() + kRefPoll;
  UniqueFd ending_lock;  // held from deciding to end until the directory is gone
  while (!cancel.cancelled() && !mounted_->ended()) {
    if (!settled && mounted_->WaitSettled(std::chrono::milliseconds(0))) {
      settled = true;
      if (on_settled) on_settled();
    }
    if (exit_unreferenced_ && (SteadyClock::now() >= next_check || check_now_.exchange(false))) {
      next_check = SteadyClock::now() + kRefPoll;
      if (Unreferenced()) {
        auto lock = LockImage(root_, key_, std::chrono::milliseconds(0));
        if (lock.ok() && Unreferenced()) {
          ending_lock = std::move(*lock);
          break;
        }
      }
    }
    mounted_->WaitEnded(std::chrono::milliseconds(20));
  }
  StopControl();
  Status st = mounted_->Stop();
  final_stats_ = Stats();
  mounted_.reset();
  { fs::MountDir gone = std::move(dir_); }  // unmounted above; removes the directory
  return st;
}

// ---- MountRef

MountRef& MountRef::operator=(MountRef&& other) noexcept {
  if (this != &other) {
    Release();
    mnt_ = std::move(other.mnt_);
    control_ = std::move(other.control_);
    ref_path_ = std::exchange(other.ref_path_, std::string());
    signed_by_ = std::move(other.signed_by_);
    image_ = std::move(other.image_);
    mode_ = other.mode_;
    started_ = other.started_;
  }
  return *this;
}

MountRef::~MountRef() { Release(); }

namespace {

// Asks the server at control socket `control` for its statistics; with
// "check", it also looks at its references at once.
Result<std::string> AskServer(const std::string& control, std::string_view request) {
  ASSIGN_OR_RETURN(UnixAddress addr, UnixSocketAddress(control));
  UniqueFd fd = UniqueFd::Adopt(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus(errno, "socket", control);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr.addr), sizeof(addr.addr)) != 0) {
    return ErrnoStatus(errno, "connect", control);
  }
  RETURN_IF_ERROR(WriteAll(fd.get(), request, control));
  std::string reply;
  char buf[8192];
  while (true) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return DeadlineExceeded("no statistics from " + control);
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "read", control);
    if (n == 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  return reply;
}

// Drops the reference at ref_path; when it was the last one, has the
// server end now and waits (up to `wait`) until it has unmounted, so that
// the caller leaves nothing behind.
void DropReference(const std::string& ref_path, const std::string& control,
                   std::chrono::milliseconds wait) {
  ::unlink(ref_path.c_str());
  const std::string dir = DirName(DirName(ref_path));
  auto names = ListDir(DirName(ref_path));
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    if (!DeadProcessRef(name)) return;  // still in use
  }
  auto reply = AskServer(control, "check\n");
  if (!reply.ok()) return;
  auto j = nlohmann::json::parse(*reply, nullptr, false);
  // A server started to stay (`syspgo mount --shared` by hand) stays.
  if (!j.is_object() || !j.value("exit_unreferenced", false)) return;
  const auto deadline = SteadyClock::now() + wait;
  while (LockHeld(dir) && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

void MountRef::Release() {
  if (!ref_path_.empty()) DropReference(ref_path_, control_, std::chrono::seconds(5));
  ref_path_.clear();
}

Result<MountStats> MountRef::Stats() const {
  ASSIGN_OR_RETURN(std::string reply, AskServer(control_, "stats\n"));
  auto j = nlohmann::json::parse(reply, nullptr, false);
  if (j.is_discarded()) return Corruption("statistics from " + control_ + ": not JSON");
  return MountStats::FromJson(j);
}

// ---- SharedMounts

Result<MountRef> SharedMounts::Acquire(const oci::ImageReference& ref,
                                       const rtimage::TrustDecision& decision,
                                       const AcquireOptions& options,
                                       oci::TransferCounters* counters) const {
  if (decision.accept == rtimage::Acceptance::kNone) {
    return rtimage::NotUsed(decision).WithContext(ref.ToString());
  }
  ASSIGN_OR_RETURN(oci::RegistryClient client,
                   oci::RegistryClient::Create(ref.registry, setup_->options, counters));
  ASSIGN_OR_RETURN(oci::ResolvedManifest resolved, oci::ResolveImageManifest(client, ref));
  return AcquireResolved(ref, resolved, decision, options);
}

Result<MountRef> SharedMounts::AcquireResolved(const oci::ImageReference& ref,
                                               const oci::ResolvedManifest& resolved,
                                               const rtimage::TrustDecision& decision,
                                               const AcquireOptions& options) const {
  if (decision.accept == rtimage::Acceptance::kNone) {
    return rtimage::NotUsed(decision).WithContext(ref.ToString());
  }
  const oci::Digest& manifest_digest = resolved.descriptor.digest;
  const std::string holder = options.holder.empty() ? ProcessHolderName() : options.holder;
  if (!ValidHolder(holder)) return InvalidArgument("bad reference name: " + holder);
  RETURN_IF_ERROR(MakePrivateDir(JoinPath(root_, kSharedDir)));
  const std::string dir = SharedMountDir(root_, manifest_digest);
  ASSIGN_OR_RETURN(UniqueFd lock, LockImage(root_, manifest_digest.hex, options.timeout));
  MountRef mref;
  if (!ServerLive(dir)) {
    // A dead server's mount and directory first.
    if (PathExists(dir)) fs::RemoveStaleMountDir(dir, setup_ ? &setup_->log : nullptr);
    if (options.binary.empty()) return InvalidArgument("no mount server binary");
    std::vector<std::string> argv = {options.binary,    "mount",
                                     "--shared",        "--exit-unreferenced",
                                     "--expect-digest", manifest_digest.ToString()};
    if (options.mode) {
      argv.insert(argv.end(), {"--mode", std::string(fs::LazyModeName(*options.mode))});
    }
    argv.insert(argv.end(), options.server_args.begin(), options.server_args.end());
    // The manifest this start has checked, and its tokens for the
    // repository, go with it: the server does not fetch the manifest
    // again (it checks it against the digest) and needs no token round
    // trip of its own.
    UniqueFd input;
    std::map<std::string, std::string> tokens;
    if (setup_) tokens = setup_->tokens.ForScope(oci::RepositoryScope(ref.repository, false));
    if (const std::string handoff = ManifestHandoff(resolved.fetched, tokens); !handoff.empty()) {
      auto pipe = InputPipe(handoff);
      if (pipe.ok()) {
        input = std::move(*pipe);
        argv.push_back("--manifest-stdin");
      } else if (setup_) {
        setup_->log.Debug("the mount server fetches the manifest itself: " +
                          pipe.status().message());
      }
    }
    argv.push_back(ref.ToString());
    ASSIGN_OR_RETURN(Spawned server, SpawnDetached(argv, options.server_log, std::move(input)));
    RETURN_IF_ERROR(WaitMounted(server.out.get(), options.timeout));
    mref.started_ = true;
  }
  ASSIGN_OR_RETURN(std::string source_text, ReadFileToString(JoinPath(dir, "source.json")));
  auto source = nlohmann::json::parse(source_text, nullptr, false);
  if (!source.is_object()) return Corruption(JoinPath(dir, "source.json") + ": not JSON");
  const std::string mode = source.value("mode", "");
  const std::string signed_by = source.value("signed_by", "");
  if (options.mode && mode != fs::LazyModeName(*options.mode)) {
    return FailedPrecondition("the node's shared mount of " + manifest_digest.ToString() +
                              " is in mode " + mode);
  }
  if (mode != "rtimage" && mode != "lazy") {
    return FailedPrecondition("the node's mount of " + manifest_digest.ToString() + " in mode " +
                              mode + " is not shared");
  }
  if (decision.accept == rtimage::Acceptance::kSigned) {
    bool trusted = false;
    for (const auto& key : decision.keys) trusted = trusted || key.id() == signed_by;
    if (!trusted) {
      return FailedPrecondition(
          "the node's shared mount of " + manifest_digest.ToString() + " serves a runtime image " +
          (signed_by.empty() ? "nobody signed" : "signed by " + signed_by) + ", which " +
          decision.source + " does not trust for " + ref.ToString());
    }
  }
  const std::string refs = JoinPath(dir, "refs");
  mref.ref_path_ = JoinPath(refs, holder);
  RETURN_IF_ERROR(WriteFileAtomic(mref.ref_path_, ref.ToString() + "\n", 0600, false));
  ASSIGN_OR_RETURN(std::string config, ReadFileToString(JoinPath(dir, "config.json")));
  mref.mnt_ = JoinPath(dir, "mnt");
  mref.control_ = JoinPath(dir, "control.sock");
  mref.signed_by_ = signed_by;
  mref.mode_ = mode == "lazy" ? fs::LazyMode::kLazy : fs::LazyMode::kRuntimeImage;
  oci::LocalImage& image = mref.image_;
  image.reference = ref;
  image.manifest_digest = manifest_digest;
  image.manifest_size = resolved.descriptor.size;
  image.manifest = resolved.manifest;
  ASSIGN_OR_RETURN(image.config, oci::ParseImageConfig(config));
  image.layer_paths = {mref.mnt_};
  if (!options.holder.empty()) mref.Keep();
  return mref;
}

Status SharedMounts::Release(const oci::Digest& manifest, const std::string& holder) const {
  if (!ValidHolder(holder)) return InvalidArgument("bad reference name: " + holder);
  const std::string dir = SharedMountDir(root_, manifest);
  const std::string path = JoinPath(JoinPath(dir, "refs"), holder);
  if (PathExists(path)) DropReference(path, JoinPath(dir, "control.sock"), std::chrono::seconds(5));
  // A server that died (killed, crashed) leaves its mount and directory:
  // with its last reference gone, nobody will start it again.
  if (PathExists(dir) && !LockHeld(dir)) {
    auto names = ListDir(JoinPath(dir, "refs"));
    bool referenced = false;
    if (names.ok()) {
      for (const std::string& name : *names) referenced = referenced || !DeadProcessRef(name);
    }
    auto lock = LockImage(root_, manifest.hex, std::chrono::milliseconds(0));
    if (!referenced && lock.ok() && !LockHeld(dir)) {
      fs::RemoveStaleMountDir(dir, setup_ ? &setup_->log : nullptr);
    }
  }
  return Status();
}

bool SharedMounts::Live(const oci::Digest& manifest) const {
  return ServerLive(SharedMountDir(root_, manifest));
}

bool SharedMounts::HasReference(const oci::Digest& manifest, const std::string& holder) const {
  return ValidHolder(holder) &&
         PathExists(JoinPath(JoinPath(SharedMountDir(root_, manifest), "refs"), holder));
}

std::vector<std::pair<std::string, std::string>> SharedMounts::References() const {
  std::vector<std::pair<std::string, std::string>> out;
  auto names = ListDir(JoinPath(root_, kSharedDir));
  if (!names.ok()) return out;
  for (const std::string& hex : *names) {
    auto refs = ListDir(JoinPath(JoinPath(JoinPath(root_, kSharedDir), hex), "refs"));
    if (!refs.ok()) continue;
    for (const std::string& r : *refs) out.push_back({hex, r});
  }
  return out;
}

Result<MountStats> SharedMounts::Stats(const oci::Digest& manifest) const {
  ASSIGN_OR_RETURN(std::string reply,
                   AskServer(JoinPath(SharedMountDir(root_, manifest), "control.sock"), "stats\n"));
  auto j = nlohmann::json::parse(reply, nullptr, false);
  if (j.is_discarded()) return Corruption("statistics of " + manifest.ToString() + ": not JSON");
  return MountStats::FromJson(j);
}

void SharedMounts::CleanupStale(const Logger* log) const {
  const std::string parent = JoinPath(root_, kSharedDir);
  auto names = ListDir(parent);
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    // Only while nobody is starting or ending this image's server.
    auto lock = LockImage(root_, name, std::chrono::milliseconds(0));
    if (!lock.ok()) continue;
    const std::string dir = JoinPath(parent, name);
    const TriedLock dir_lock = TryLockFile(JoinPath(dir, "lock"));
    if (dir_lock.held()) continue;  // served
    if (log) log->Info("removing the shared mount left by a dead server: " + dir);
    fs::RemoveStaleMountDir(dir, log);
  }
}

}  // namespace syspgo::node
