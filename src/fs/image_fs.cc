// SPDX-License-Identifier: Apache-2.0
#define FUSE_USE_VERSION 312
#include "fs/image_fs.h"

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/file_util.h"
#include "common/mount.h"

namespace syspgo::fs {

struct ImageFs::Ops {
  static ImageFs& Self(fuse_req_t req) { return *static_cast<ImageFs*>(fuse_req_userdata(req)); }

  static void Init(void* userdata, fuse_conn_info* conn) {
    auto& self = *static_cast<ImageFs*>(userdata);
    for (unsigned cap : {FUSE_CAP_READDIRPLUS, FUSE_CAP_CACHE_SYMLINKS}) {
      if (conn->capable & cap) conn->want |= cap;
    }
    // A listing is followed by stats of its names (Python's importer does
    // it): readdirplus answers both at once, always.
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    // The image never changes: nothing may drop pushed pages.
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    conn->max_readahead = std::min(conn->max_readahead, self.options_.max_readahead);
    self.no_open_ = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
  }

  static void FillEntry(const ImageFs& self, size_t entry, fuse_entry_param* e) {
    *e = {};
    e->ino = self.tree_->InodeOf(entry);
    e->generation = 1;
    e->attr = self.tree_->Stat(self.tree_->EntryOf(e->ino).value_or(entry));
    e->attr_timeout = self.options_.cache_timeout_s;
    e->entry_timeout = self.options_.cache_timeout_s;
  }

  static void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    ImageFs& self = Self(req);
    ++self.counters_.lookups;
    fuse_entry_param e{};
    if (auto entry = self.tree_->Lookup(parent, name)) {
      FillEntry(self, *entry, &e);
    } else if (!self.tree_->EntryOf(parent)) {
      fuse_reply_err(req, ENOENT);
      return;
    } else {
      ++self.counters_.negative_lookups;
      e.ino = 0;  // a negative entry the kernel keeps for entry_timeout
      e.entry_timeout = self.options_.cache_timeout_s;
    }
    fuse_reply_entry(req, &e);
  }

  static void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    ImageFs& self = Self(req);
    ++self.counters_.getattrs;
    auto entry = self.tree_->EntryOf(ino);
    if (!entry) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    struct stat st = self.tree_->Stat(*entry);
    fuse_reply_attr(req, &st, self.options_.cache_timeout_s);
  }

  static void ReadLink(fuse_req_t req, fuse_ino_t ino) {
    ImageFs& self = Self(req);
    ++self.counters_.readlinks;
    auto entry = self.tree_->EntryOf(ino);
    const auto& entries = self.tree_->metadata().entries;
    if (!entry || entries[*entry].type != rtimage::EntryType::kSymlink) {
      fuse_reply_err(req, entry ? EINVAL : ENOENT);
      return;
    }
    fuse_reply_readlink(req, entries[*entry].symlink_target.c_str());
  }

  static void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    ImageFs& self = Self(req);
    ++self.counters_.opens;
    if ((fi->flags & O_ACCMODE) != O_RDONLY) {
      fuse_reply_err(req, EROFS);
    } else if (self.no_open_) {
      fuse_reply_err(req, ENOSYS);  // no more opens; the page cache is kept
    } else if (!self.tree_->EntryOf(ino)) {
      fuse_reply_err(req, ENOENT);
    } else {
      fi->keep_cache = 1;
      fuse_reply_open(req, fi);
    }
  }

  static void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    ImageFs& self = Self(req);
    if (self.no_open_) {
      fuse_reply_err(req, ENOSYS);
    } else if (!self.tree_->EntryOf(ino)) {
      fuse_reply_err(req, ENOENT);
    } else {
      fi->keep_cache = 1;
      fi->cache_readdir = 1;
      fuse_reply_open(req, fi);
    }
  }

  static void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    ImageFs& self = Self(req);
    auto entry = self.tree_->EntryOf(ino);
    const auto& entries = self.tree_->metadata().entries;
    if (!entry || entries[*entry].type != rtimage::EntryType::kRegular) {
      fuse_reply_err(req, entry ? EISDIR : ENOENT);
      return;
    }
    const uint32_t content = entries[*entry].content;
    if (content == rtimage::kNoContent || off < 0) {
      fuse_reply_buf(req, nullptr, 0);
      return;
    }
    try {
      auto bytes = self.data_->Read(content, static_cast<uint64_t>(off), size);
      if (!bytes.ok()) {
        fuse_reply_err(req, EIO);
        return;
      }
      fuse_reply_buf(req, bytes->data(), bytes->size());
    } catch (...) {
      fuse_reply_err(req, ENOMEM);
    }
  }

  static void ReadDirCommon(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
    ImageFs& self = Self(req);
    ++self.counters_.readdirs;
    auto dir = self.tree_->EntryOf(ino);
    const auto& entries = self.tree_->metadata().entries;
    if (!dir || entries[*dir].type != rtimage::EntryType::kDirectory) {
      fuse_reply_err(req, dir ? ENOTDIR : ENOENT);
      return;
    }
    try {
      const auto& kids = self.tree_->Children(*dir);
      std::string buf(size, '\0');
      size_t used = 0;
      // Offsets: 0 ".", 1 "..", 2.. the children; an entry's offset is the
      // next one's.
      for (size_t i = static_cast<size_t>(std::max<off_t>(off, 0)); i < kids.size() + 2; ++i) {
        size_t entry = i == 0 ? *dir : i == 1 ? self.tree_->ParentOf(*dir) : kids[i - 2];
        std::string name = i == 0 ? "." : i == 1 ? ".." : std::string(self.tree_->NameOf(entry));
        size_t n;
        if (plus) {
          fuse_entry_param e;
          FillEntry(self, entry, &e);
          n = fuse_add_direntry_plus(req, buf.data() + used, size - used, name.c_str(), &e,
                                     static_cast<off_t>(i + 1));
        } else {
          struct stat st = self.tree_->Stat(entry);
          n = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st,
                                static_cast<off_t>(i + 1));
        }
        if (n > size - used) break;
        used += n;
      }
      fuse_reply_buf(req, buf.data(), used);
    } catch (...) {
      fuse_reply_err(req, ENOMEM);
    }
  }
  static void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    ReadDirCommon(req, ino, size, off, false);
  }
  static void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    ReadDirCommon(req, ino, size, off, true);
  }

  // getxattr and listxattr: `value` is the answer; size 0 asks for its size.
  static void ReplyXattr(fuse_req_t req, size_t size, const std::string& value) {
    if (size == 0) {
      fuse_reply_xattr(req, value.size());
    } else if (size < value.size()) {
      fuse_reply_err(req, ERANGE);
    } else {
      fuse_reply_buf(req, value.data(), value.size());
    }
  }
  // The entry's xattrs, or an errno to answer with instead.
  static const rtimage::Entry* XattrEntry(fuse_req_t req, fuse_ino_t ino) {
    ImageFs& self = Self(req);
    ++self.counters_.xattr_requests;
    if (!self.has_xattrs_) {
      fuse_reply_err(req, ENOSYS);  // the kernel stops asking
      return nullptr;
    }
    auto entry = self.tree_->EntryOf(ino);
    if (!entry) {
      fuse_reply_err(req, ENOENT);
      return nullptr;
    }
    return &self.tree_->metadata().entries[*entry];
  }
  static void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    const rtimage::Entry* e = XattrEntry(req, ino);
    if (e == nullptr) return;
    for (const rtimage::Xattr& x : e->xattrs) {
      if (x.name == name) {
        ReplyXattr(req, size, x.value);
        return;
      }
    }
    fuse_reply_err(req, ENODATA);
  }
  static void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    const rtimage::Entry* e = XattrEntry(req, ino);
    if (e == nullptr) return;
    std::string names;
    for (const rtimage::Xattr& x : e->xattrs) names.append(x.name).push_back('\0');
    ReplyXattr(req, size, names);
  }

  static void StatFs(fuse_req_t req, fuse_ino_t) {
    ImageFs& self = Self(req);
    struct statvfs st {};
    st.f_bsize = 4096;
    st.f_frsize = 4096;
    st.f_blocks = (self.tree_->metadata().RegularBytes() + 4095) / 4096;
    st.f_files = self.tree_->size();
    st.f_namemax = 255;
    fuse_reply_statfs(req, &st);
  }
};

// ---- LookupHelper

namespace {

// Async-signal-safe loops for the forked helper.
bool ReadExact(int fd, void* buf, size_t n) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool WriteExact(int fd, const void* buf, size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t r = ::write(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

[[noreturn]] void HelperMain(pid_t parent, int requests, int answers) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0);
  if (::dup2(requests, 0) < 0 || ::dup2(answers, 1) < 0) ::_exit(1);
  ::close_range(3, ~0U, 0);  // above all, not /dev/fuse
  static char path[8192];
  for (;;) {
    uint32_t len;
    if (!ReadExact(0, &len, sizeof(len)) || len >= sizeof(path)) ::_exit(0);
    if (!ReadExact(0, path, len)) ::_exit(0);
    path[len] = '\0';
    struct stat st;
    int32_t err = ::lstat(path, &st) == 0 ? 0 : errno;
    if (!WriteExact(1, &err, sizeof(err))) ::_exit(0);
  }
}

}  // namespace

Result<LookupHelper> LookupHelper::Start() {
  int requests[2], answers[2];
  if (::pipe2(requests, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  if (::pipe2(answers, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(requests[0]);
    ::close(requests[1]);
    return ErrnoStatus(err, "pipe2");
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) HelperMain(parent, requests[0], answers[1]);
  ::close(requests[0]);
  ::close(answers[1]);
  LookupHelper h;
  h.requests_ = UniqueFd::Adopt(requests[1]);
  h.answers_ = UniqueFd::Adopt(answers[0]);
  if (pid < 0) return ErrnoStatus(errno, "fork");
  h.pid_ = pid;
  return h;
}

LookupHelper::LookupHelper(LookupHelper&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      requests_(std::move(other.requests_)),
      answers_(std::move(other.answers_)) {}

LookupHelper& LookupHelper::operator=(LookupHelper&& other) noexcept {
  if (this != &other) {
    Close();
    pid_ = std::exchange(other.pid_, -1);
    requests_ = std::move(other.requests_);
    answers_ = std::move(other.answers_);
  }
  return *this;
}

LookupHelper::~LookupHelper() { Close(); }

void LookupHelper::Close() {
  requests_.Reset();  // the helper sees end of file and exits
  answers_.Reset();
  if (pid_ > 0) {
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
}

Status LookupHelper::Lookup(const std::string& path) {
  if (pid_ <= 0) return FailedPrecondition("the lookup helper is not running");
  const uint32_t len = static_cast<uint32_t>(path.size());
  int32_t err = 0;
  if (!WriteExact(requests_.get(), &len, sizeof(len)) ||
      !WriteExact(requests_.get(), path.data(), path.size()) ||
      !ReadExact(answers_.get(), &err, sizeof(err))) {
    return Unavailable("the lookup helper is gone");
  }
  if (err != 0) return ErrnoStatus(err, "stat through the mount", path);
  return Status::Ok();
}

namespace {

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops ops{};
  ops.init = ImageFs::Ops::Init;
  ops.lookup = ImageFs::Ops::Lookup;
  ops.getattr = ImageFs::Ops::GetAttr;
  ops.readlink = ImageFs::Ops::ReadLink;
  ops.open = ImageFs::Ops::Open;
  ops.read = ImageFs::Ops::Read;
  ops.opendir = ImageFs::Ops::OpenDir;
  ops.readdir = ImageFs::Ops::ReadDir;
  ops.readdirplus = ImageFs::Ops::ReadDirPlus;
  ops.getxattr = ImageFs::Ops::GetXattr;
  ops.listxattr = ImageFs::Ops::ListXattr;
  ops.statfs = ImageFs::Ops::StatFs;
  return ops;
}();

}  // namespace

ImageFs::ImageFs(const ImageTree* tree, FileData* data, std::string dir, ImageFsOptions options,
                 const Logger* log)
    : tree_(tree), data_(data), dir_(std::move(dir)), options_(options), log_(log) {}

Result<std::unique_ptr<ImageFs>> ImageFs::Mount(const ImageTree* tree, FileData* data,
                                                const std::string& dir,
                                                const ImageFsOptions& options, const Logger* log) {
  std::unique_ptr<ImageFs> fs(new ImageFs(tree, data, dir, options, log));
  for (const rtimage::Entry& e : tree->metadata().entries) {
    if (!e.xattrs.empty()) fs->has_xattrs_ = true;
  }
  fs->looked_up_.assign(tree->metadata().contents.size(), false);
  std::vector<std::string> argv = {
      "syspgo", "-o", "ro,allow_other,default_permissions,fsname=syspgo,subtype=syspgo"};
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(cargv.size()), cargv.data());
  fs->session_ = fuse_session_new(&args, &kOps, sizeof(kOps), fs.get());
  fuse_opt_free_args(&args);
  if (fs->session_ == nullptr) return Internal("fuse_session_new failed");
  // Before /dev/fuse is opened: the helper must never hold it.
  ASSIGN_OR_RETURN(fs->lookups_, LookupHelper::Start());
  if (fuse_session_mount(fs->session_, dir.c_str()) != 0) {
    return Internal("mounting the FUSE file system at " + dir +
                    " failed (is /dev/fuse there and are we root?)");
  }
  fs->mounted_ = true;
  ImageFs* self = fs.get();
  fs->loop_ = std::thread([self] {
    // Signals are the main thread's.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    fuse_loop_config* config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(config, static_cast<unsigned>(self->options_.max_threads));
    fuse_loop_cfg_set_clone_fd(config, 0);
    fuse_session_loop_mt(self->session_, config);
    fuse_loop_cfg_destroy(config);
    std::lock_guard<std::mutex> lock(self->mu_);
    self->ended_ = true;
    self->ended_cv_.notify_all();
  });
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", dir);
  fs->dev_ = st.st_dev;
  return fs;
}

ImageFs::~ImageFs() {
  Status st = Unmount(std::chrono::seconds(5));
  if (!st.ok() && log_) log_->Warning(st.message());
}

Status ImageFs::Push(uint32_t content, uint64_t offset, std::string_view data) {
  const size_t entry = tree_->EntryOfContent(content);
  const std::string& path = tree_->metadata().entries[entry].path;
  const fuse_ino_t ino = tree_->InodeOf(entry);
  fuse_bufvec buf = FUSE_BUFVEC_INIT(data.size());
  buf.buf[0].mem = const_cast<char*>(data.data());
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!looked_up_[content] || attempt > 0) {
      RETURN_IF_ERROR(lookups_.Lookup(dir_ + path));
      looked_up_[content] = true;
    }
    int r = fuse_lowlevel_notify_store(session_, ino, static_cast<off_t>(offset), &buf,
                                       static_cast<fuse_buf_copy_flags>(0));
    if (r == 0) return Status::Ok();
    if (r != -ENOENT) return ErrnoStatus(-r, "notify_store", path);
    // The kernel forgot the inode: look it up again.
  }
  return ErrnoStatus(ENOENT, "notify_store", path);
}

bool ImageFs::WaitEnded(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return ended_cv_.wait_for(lock, timeout, [&] { return ended_.load(); });
}

Status ImageFs::AbortConnection() {
  const std::string connections = "/sys/fs/fuse/connections";
  const std::string abort = connections + "/" + std::to_string(minor(dev_)) + "/abort";
  if (!PathExists(abort) && PathExists(connections)) {
    ::mount("fusectl", connections.c_str(), "fusectl", 0, nullptr);  // may be mounted already
  }
  UniqueFd fd = UniqueFd::Adopt(::open(abort.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "open", abort);
  if (::write(fd.get(), "1", 1) != 1) return ErrnoStatus(errno, "write", abort);
  return Status::Ok();
}

Status ImageFs::Unmount(std::chrono::milliseconds wait) {
  if (session_ == nullptr) return Status::Ok();
  Status result;
  if (mounted_) {
    mounted_ = false;
    if (::umount2(dir_.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      result = ErrnoStatus(errno, "umount", dir_);
    }
  }
  lookups_ = LookupHelper();  // ends the helper
  if (!loop_.joinable()) {    // mounting failed before the loop started
    fuse_session_destroy(session_);
    session_ = nullptr;
    return result;
  }
  if (!WaitEnded(wait)) {
    if (log_) log_->Warning(dir_ + " is still in use; aborting its FUSE connection");
    Status st = AbortConnection();
    if (!st.ok() && log_) log_->Warning(st.message());
    if (!WaitEnded(std::chrono::seconds(10))) {
      // Never hang: leave the loop thread to the process's exit.
      loop_.detach();
      session_ = nullptr;
      return Internal("the FUSE loop of " + dir_ + " did not end");
    }
  }
  if (loop_.joinable()) loop_.join();
  fuse_session_destroy(session_);
  session_ = nullptr;
  return result;
}

std::vector<std::string> FuseMountPoints() {
  std::vector<std::string> out;
  for (MountInfo& m : ReadMountInfo()) {
    if (m.fstype.starts_with("fuse")) out.push_back(std::move(m.mount_point));
  }
  return out;
}

bool IsFuseMount(const std::string& dir) {
  for (const std::string& point : FuseMountPoints()) {
    if (point == dir) return true;
  }
  return false;
}

}  // namespace syspgo::fs
