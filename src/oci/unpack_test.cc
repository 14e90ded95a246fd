// SPDX-License-Identifier: Apache-2.0
#include "oci/unpack.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/file_util.h"

namespace syspgo::oci {
namespace {

struct Item {
  TarEntry entry;
  std::string data;
};

Item File(std::string name, std::string data, uint32_t mode = 0644) {
  TarEntry e;
  e.name = std::move(name);
  e.type = TarType::kRegular;
  e.size = static_cast<int64_t>(data.size());
  e.mode = mode;
  e.uid = ::geteuid();
  e.gid = ::getegid();
  e.mtime_sec = 1600000000;
  return {e, std::move(data)};
}

Item Dir(std::string name, uint32_t mode = 0755) {
  Item i = File(std::move(name), "", mode);
  i.entry.type = TarType::kDirectory;
  return i;
}

Item Link(std::string name, std::string target, TarType type = TarType::kSymlink) {
  Item i = File(std::move(name), "", 0777);
  i.entry.type = type;
  i.entry.linkname = std::move(target);
  return i;
}

std::string Tar(const std::vector<Item>& items) {
  std::string out;
  TarWriter w([&](std::span<const char> c) {
    out.append(c.data(), c.size());
    return Status::Ok();
  });
  for (const Item& i : items) {
    EXPECT_TRUE(w.WriteHeader(i.entry).ok());
    if (!i.data.empty()) {
      EXPECT_TRUE(w.WriteData({i.data.data(), i.data.size()}).ok());
    }
  }
  EXPECT_TRUE(w.Finish().ok());
  return out;
}

class UnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp", "unpack-test-");
    ASSERT_TRUE(dir.ok());
    base_ = std::move(*dir);
    root_ = JoinPath(base_.path(), "root");
    outside_ = JoinPath(base_.path(), "outside");
    ASSERT_TRUE(MakeDirs(root_).ok());
    ASSERT_TRUE(MakeDirs(outside_).ok());
  }
  Status Unpack(const std::vector<Item>& items) {
    std::string tar = Tar(items);
    StringReader src(tar);
    return UnpackTarStream(&src, root_, &stats_);
  }
  // Everything under base_ except root_/ and the empty outside_/.
  bool NothingOutside() {
    auto top = ListDir(base_.path());
    auto out = ListDir(outside_);
    return top.ok() && top->size() == 2 && out.ok() && out->empty() && !PathExists("/tmp/escape") &&
           !PathExists("/abs");
  }
  std::string Read(const std::string& rel) {
    auto s = ReadFileToString(JoinPath(root_, rel));
    return s.ok() ? *s : "<" + s.status().message() + ">";
  }

  TempDir base_;
  std::string root_, outside_;
  UnpackStats stats_;
};

TEST(SanitizeTest, CleansAndRefuses) {
  EXPECT_EQ(*SanitizeEntryPath("./a//b/./c/"), "a/b/c");
  EXPECT_EQ(*SanitizeEntryPath("./"), "");
  EXPECT_EQ(SanitizeEntryPath("../escape").status().code(), StatusCode::kPermissionDenied);
  EXPECT_FALSE(SanitizeEntryPath("a/../../escape").ok());
  EXPECT_FALSE(SanitizeEntryPath("/../escape").ok());
  EXPECT_EQ(*SanitizeEntryPath("a/.."), "");
  EXPECT_EQ(*SanitizeEntryPath("a/../b"), "b");
  // umoci writes the root as "/" and names as absolute paths.
  EXPECT_EQ(*SanitizeEntryPath("/"), "");
  EXPECT_EQ(*SanitizeEntryPath("/abs/inside"), "abs/inside");
  EXPECT_EQ(*SanitizeEntryPath("//abs//x/"), "abs/x");
  EXPECT_EQ(*SanitizeEntryPath("a/..b/c.."), "a/..b/c..");
}

TEST_F(UnpackTest, FilesDirsSymlinksHardlinksModesTimes) {
  ASSERT_TRUE(Unpack({Dir("./etc/", 0750), File("etc/conf", "x=1\n", 0640),
                      File("bin/tool", "#!/bin/sh\n", 04755), Link("etc/link", "conf"),
                      Link("etc/hard", "etc/conf", TarType::kHardLink)})
                  .ok());
  EXPECT_EQ(Read("etc/conf"), "x=1\n");
  EXPECT_EQ(Read("etc/link"), "x=1\n");
  struct stat st, st2;
  ASSERT_EQ(::stat(JoinPath(root_, "etc").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_mtime, 1600000000);  // set after its children were written
  ASSERT_EQ(::stat(JoinPath(root_, "bin/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  EXPECT_EQ(st.st_mtime, 1600000000);
  ASSERT_EQ(::stat(JoinPath(root_, "etc/hard").c_str(), &st2), 0);
  ASSERT_EQ(::stat(JoinPath(root_, "etc/conf").c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, st2.st_ino);
  EXPECT_EQ(stats_.files, 2);
  EXPECT_EQ(stats_.hardlinks, 1);
  EXPECT_EQ(stats_.symlinks, 1);
}

TEST_F(UnpackTest, LaterEntryReplacesEarlier) {
  Status st = Unpack({File("a", "old"), File("a", "new"), Dir("d"), File("d/x", "1"),
                      File("d", "now a file"), Link("s", "a"), File("s", "plain")});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Read("a"), "new");
  EXPECT_EQ(Read("d"), "now a file");
  struct stat info;
  ASSERT_EQ(::lstat(JoinPath(root_, "s").c_str(), &info), 0);
  EXPECT_TRUE(S_ISREG(info.st_mode));
}

TEST_F(UnpackTest, RefusesDotDotEntries) {
  Status st = Unpack({File("../escape", "evil")});
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  st = Unpack({File("a/../../outside/escape", "evil")});
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(NothingOutside());
}

TEST_F(UnpackTest, AbsoluteEntriesLandInsideTheRoot) {
  // umoci's layers: the root named "/", then absolute names.
  Status st = Unpack({Dir("/", 0750), Dir("/abs/"), File("/abs/inside", "ok")});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(NothingOutside());
  EXPECT_EQ(Read("abs/inside"), "ok");
  struct stat info;
  ASSERT_EQ(::stat(root_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0750u);
  st = Unpack({File("/../escape", "evil")});
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(NothingOutside());
}

TEST_F(UnpackTest, SymlinkToRootCannotCarryAFileOut) {
  // "escape" points at the host's / (and at ../outside); entries through
  // them must land inside the root, as they would in the container.
  Status st =
      Unpack({Link("escape", "/"), File("escape/tmp/escape", "evil"), Link("up", "../../outside"),
              File("up/escape", "evil2"), Link("abs", outside_), File("abs/escape", "evil3")});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(NothingOutside());
  EXPECT_EQ(Read("tmp/escape"), "evil");
  EXPECT_EQ(Read("outside/escape"), "evil2");
  EXPECT_EQ(Read(outside_.substr(1) + "/escape"), "evil3");
}

TEST_F(UnpackTest, HardLinkCannotReachOutside) {
  ASSERT_TRUE(WriteFileAtomic(JoinPath(outside_, "secret"), "s").ok());
  Status st = Unpack({Link("steal", "../outside/secret", TarType::kHardLink)});
  EXPECT_FALSE(st.ok());
  st = Unpack({Link("up", "../../outside"), Link("steal", "up/secret", TarType::kHardLink)});
  EXPECT_FALSE(st.ok());  // resolved in root: no such target
  EXPECT_FALSE(PathExists(JoinPath(root_, "steal")));
}

TEST_F(UnpackTest, FinalSymlinkIsNeverFollowed) {
  ASSERT_TRUE(Unpack({Link("f", outside_ + "/victim"), File("f", "replaced")}).ok());
  EXPECT_FALSE(PathExists(JoinPath(outside_, "victim")));
  EXPECT_EQ(Read("f"), "replaced");
}

TEST_F(UnpackTest, MissingParentsAreCreated) {
  ASSERT_TRUE(Unpack({File("deep/er/file", "x")}).ok());
  EXPECT_EQ(Read("deep/er/file"), "x");
}

TEST_F(UnpackTest, FileThroughAFileIsCorruption) {
  Status st = Unpack({File("a", "x"), File("a/b", "y")});
  EXPECT_FALSE(st.ok());
}

TEST_F(UnpackTest, WhiteoutsBecomeOverlayForm) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "whiteouts need CAP_MKNOD and trusted.* xattrs (run as root)";
  }
  ASSERT_TRUE(Unpack({File("a/keep", "1"), File("a/.wh.gone", ""), File("b/.wh..wh..opq", ""),
                      File("b/new", "2"), File(".wh..wh..plnk", "")})
                  .ok());
  struct stat st;
  ASSERT_EQ(::lstat(JoinPath(root_, "a/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  char v[4];
  ssize_t n = ::getxattr(JoinPath(root_, "b").c_str(), "trusted.overlay.opaque", v, sizeof(v));
  ASSERT_EQ(n, 1);
  EXPECT_EQ(v[0], 'y');
  EXPECT_EQ(Read("b/new"), "2");
  EXPECT_FALSE(PathExists(JoinPath(root_, ".wh..wh..plnk")));
  EXPECT_EQ(stats_.whiteouts, 2);
}

TEST_F(UnpackTest, OwnersDevicesAndXattrs) {
  if (::geteuid() != 0) GTEST_SKIP() << "owners and device nodes need root";
  Item f = File("owned", "x");
  f.entry.uid = 1234;
  f.entry.gid = 5678;
  f.entry.xattrs["user.k"] = "v";
  Item dev = File("null", "", 0666);
  dev.entry.type = TarType::kCharDevice;
  dev.entry.devmajor = 1;
  dev.entry.devminor = 3;
  Item fifo = File("pipe", "", 0600);
  fifo.entry.type = TarType::kFifo;
  ASSERT_TRUE(Unpack({f, dev, fifo}).ok());
  struct stat st;
  ASSERT_EQ(::stat(JoinPath(root_, "owned").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  char v[4];
  EXPECT_EQ(::getxattr(JoinPath(root_, "owned").c_str(), "user.k", v, sizeof(v)), 1);
  ASSERT_EQ(::lstat(JoinPath(root_, "null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  ASSERT_EQ(::lstat(JoinPath(root_, "pipe").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

}  // namespace
}  // namespace syspgo::oci
