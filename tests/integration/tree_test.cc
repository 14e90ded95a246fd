// SPDX-License-Identifier: Apache-2.0
// One tree for every mode: the image as `full` shows it (each layer
// unpacked alone, stacked by overlayfs) and as the lazy file system shows
// it (the runtime image builder's merge) agree on the edge cases of layer
// stacking, side by side; images other tools write (umoci) are read; and a
// runtime image can be built when the store had the layer in another
// compression.
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "integration/lazy_fs_fixture.h"

namespace syspgo::testing {
namespace {

oci::TarEntry HardLink(const std::string& name, const std::string& target) {
  return WithType(FileEntry(name, 0), oci::TarType::kHardLink, target);
}

class TreeTest : public LazyFsTest {
 protected:
  // What the edge cases should look like, checked on a tree root `at`.
  void ExpectEdgeCases(const std::string& at) {
    SCOPED_TRACE(at);
    auto text = [&](const std::string& rel) {
      auto t = ReadFileToString(JoinPath(at, rel));
      return t.ok() ? *t : "<" + t.status().message() + ">";
    };
    auto link = [&](const std::string& rel) {
      char buf[256];
      ssize_t n = ::readlink(JoinPath(at, rel).c_str(), buf, sizeof(buf));
      return n < 0 ? std::string("<not a symlink>") : std::string(buf, static_cast<size_t>(n));
    };
    auto exists = [&](const std::string& rel) {
      struct stat st;
      return ::lstat(JoinPath(at, rel).c_str(), &st) == 0;
    };
    auto mode = [&](const std::string& rel) {
      struct stat st {};
      ::lstat(JoinPath(at, rel).c_str(), &st);
      return st.st_mode;
    };
    // A symlinked parent in the same layer is followed inside the root.
    EXPECT_EQ(link("evil"), "/target");
    EXPECT_EQ(text("target/file"), "evil-file");  // (evil/file, seen from outside, is the host's)
    EXPECT_EQ(text("outside/f"), "esc") << "'..' stops at the root";
    // A symlink of a lower layer is not there when a layer is unpacked
    // alone: the layer's directory replaces it.
    EXPECT_TRUE(S_ISDIR(mode("lib")));
    EXPECT_EQ(text("lib/liby.so"), "y");
    EXPECT_FALSE(exists("lib/libx.so"));
    EXPECT_EQ(text("lib-real/libx.so"), "x");
    EXPECT_EQ(link("d"), "lib-real") << "a symlink over a lower directory";
    // An implied directory over a lower one merges, with its own mode.
    EXPECT_EQ(mode("m") & 07777, 0755u);
    EXPECT_EQ(text("m/lower"), "l");
    EXPECT_EQ(text("m/upper"), "u");
    EXPECT_EQ(text("f-over-d/y"), "y");
    EXPECT_TRUE(S_ISREG(mode("d-over-f")));
    EXPECT_FALSE(exists("wh/a"));
    EXPECT_EQ(text("wh/b"), "b");
    EXPECT_FALSE(exists("recreate/old")) << "a directory made over its whiteout is opaque";
    EXPECT_EQ(text("recreate/new"), "n");
    EXPECT_FALSE(exists("opq/lower"));
    EXPECT_EQ(text("opq/upper"), "u");
    EXPECT_EQ(text("xdir/child"), "c") << "trusted.overlay.* from a layer is not applied";
    EXPECT_FALSE(exists("cdev-wh")) << "a 0:0 character device is a whiteout";
    EXPECT_EQ(text("abs/name"), "abs");
    EXPECT_EQ(text("twice"), "22");
    EXPECT_EQ(text("hl2"), "evil-file") << "a hard link through a symlinked parent";
    struct stat st {};
    ASSERT_EQ(::stat(JoinPath(at, "hl2").c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 2u);
    EXPECT_FALSE(exists("upper-self-wh")) << "a whiteout hides its own layer's earlier entry";
  }
};

TEST_F(TreeTest, EdgeCasesOfStackingAreTheSameInEveryMode) {
  const std::string ref = registry().address() + "/tree/edges:1";
  std::vector<oci::TarEntry> l1 = {DirEntry("lib-real/"),
                                   FileEntry("lib-real/libx.so", 1),
                                   SymlinkEntry("lib", "lib-real"),
                                   DirEntry("d/", 0700),
                                   FileEntry("d/keep", 1),
                                   DirEntry("m/", 0700),
                                   FileEntry("m/lower", 1),
                                   FileEntry("f-over-d", 1),
                                   DirEntry("d-over-f/"),
                                   FileEntry("d-over-f/x", 1),
                                   DirEntry("wh/"),
                                   FileEntry("wh/a", 1),
                                   FileEntry("wh/b", 1),
                                   DirEntry("recreate/"),
                                   FileEntry("recreate/old", 1),
                                   DirEntry("opq/"),
                                   FileEntry("opq/lower", 1),
                                   DirEntry("xdir/"),
                                   FileEntry("xdir/child", 1),
                                   FileEntry("cdev-wh", 1)};
  std::string t1 = MakeTar(l1, {"", "x", "",  "", "k", "", "l", "f", "",  "x",
                                "", "a", "b", "", "o", "", "l", "",  "c", "w"});
  oci::TarEntry xdir = DirEntry("xdir/");
  xdir.xattrs["trusted.overlay.opaque"] = "y";
  xdir.xattrs["user.keep"] = "1";
  oci::TarEntry cdev = WithType(FileEntry("cdev-wh", 0), oci::TarType::kCharDevice);
  std::vector<oci::TarEntry> l2 = {DirEntry("/", 0750),  // as umoci writes the root
                                   SymlinkEntry("evil", "/target"),
                                   FileEntry("evil/file", 9),
                                   SymlinkEntry("esc", "../../../outside"),
                                   FileEntry("esc/f", 3),
                                   FileEntry("lib/liby.so", 1),
                                   SymlinkEntry("d", "lib-real"),
                                   FileEntry("m/upper", 1),
                                   DirEntry("f-over-d/"),
                                   FileEntry("f-over-d/y", 1),
                                   FileEntry("d-over-f", 1),
                                   FileEntry("wh/.wh.a", 0),
                                   FileEntry(".wh.recreate", 0),
                                   DirEntry("recreate/"),
                                   FileEntry("recreate/new", 1),
                                   FileEntry("opq/.wh..wh..opq", 0),
                                   FileEntry("opq/upper", 1),
                                   xdir,
                                   cdev,
                                   FileEntry("/abs/name", 3),
                                   FileEntry("twice", 1),
                                   FileEntry("twice", 2),
                                   HardLink("hl2", "evil/file"),
                                   FileEntry("upper-self-wh", 1),
                                   FileEntry(".wh.upper-self-wh", 0)};
  std::string t2 =
      MakeTar(l2, {"", "",  "evil-file", "",  "esc", "y", "",    "u", "",   "y", "f", "", "",
                   "", "n", "",          "u", "",    "",  "abs", "1", "22", "",  "s", ""});
  // The top layer names no root: the merged root is its implied one.
  std::string t3 = MakeTar({FileEntry("late", 4)}, {"late"});
  auto built =
      PushImage(ref, {{IntegrationEnv::Get().busybox_rootfs(), ""}, {"", t1}, {"", t2}, {"", t3}});
  ASSERT_TRUE(built.ok()) << built.status().ToString();

  // full: the layers as the store unpacks them, stacked by overlayfs.
  auto image = Pull(ref);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  const std::string merged = MountMerged(*image);
  ExpectEdgeCases(merged);

  // lazy: the builder's merge, through FUSE.
  const std::string out = Root("rt");
  auto report = Build(*image, out, {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  oci::Descriptor subject{
      image->manifest.media_type, image->manifest_digest, image->manifest_size, "", {}, {}};
  ASSERT_TRUE(rtimage::PushRuntimeImage(*client_, "tree/edges", subject, out).ok());
  const std::string mnt = Root("mnt");
  ASSERT_TRUE(MakeDirs(mnt).ok());
  std::string log;
  Subprocess daemon = SpawnMount({"--root", Root("node"), "--mode", "lazy", ref, mnt}, &log);
  ASSERT_TRUE(WaitForText(log, "mounted", daemon, seconds(30))) << FileText(log);
  ExpectEdgeCases(mnt);
  char value[8] = {};
  EXPECT_EQ(::getxattr(JoinPath(mnt, "xdir").c_str(), "user.keep", value, sizeof(value)), 1);
  EXPECT_LT(
      ::getxattr(JoinPath(mnt, "xdir").c_str(), "trusted.overlay.opaque", value, sizeof(value)), 0);

  // And every entry alike: type, mode, owner, times, targets, sizes,
  // links and bytes.
  std::map<std::string, MergedFile> want, got;
  Walk(merged, "", &want);
  Walk(mnt, "", &got);
  std::vector<std::string> only_full, only_lazy;
  for (const auto& [path, w] : want) {
    if (!got.count(path)) only_full.push_back(path);
  }
  for (const auto& [path, g] : got) {
    if (!want.count(path)) only_lazy.push_back(path);
  }
  EXPECT_TRUE(only_full.empty()) << "in full only: " << ::testing::PrintToString(only_full);
  EXPECT_TRUE(only_lazy.empty()) << "in lazy only: " << ::testing::PrintToString(only_lazy);
  for (const auto& [path, w] : want) {
    auto it = got.find(path);
    if (it == got.end()) continue;
    const struct stat& a = w.st;
    const struct stat& b = it->second.st;
    EXPECT_EQ(a.st_mode, b.st_mode) << path;
    EXPECT_EQ(a.st_uid, b.st_uid) << path;
    EXPECT_EQ(a.st_gid, b.st_gid) << path;
    EXPECT_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec) << path;
    EXPECT_EQ(w.symlink_target, it->second.symlink_target) << path;
    if (S_ISREG(a.st_mode)) {
      EXPECT_EQ(a.st_nlink, b.st_nlink) << path;
      EXPECT_EQ(FileBytes(JoinPath(merged, path.substr(1)), 0, a.st_size),
                FileBytes(JoinPath(mnt, path.substr(1)), 0, b.st_size))
          << path;
    }
  }
  ASSERT_NO_FATAL_FAILURE(UnmountDaemon(mnt, daemon, log));
}

// umoci (a mainstream OCI tool) writes the layer's root as "/" and every
// name absolute; syspgo reads its images in every mode.
TEST_F(TreeTest, UmociImagesRunInEveryMode) {
  if (::access("/usr/bin/umoci", X_OK) != 0) GTEST_SKIP() << "umoci is not installed";
  const std::string layout = Root("layout");
  const std::string ref = registry().address() + "/tree/umoci:1";
  const std::string rootfs = Root("umoci-rootfs");
  ASSERT_TRUE(RunCommandOk({"cp", "-a", IntegrationEnv::Get().busybox_rootfs(), rootfs}).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(rootfs, "hello"), "from umoci\n", 0644, false).ok());
  ASSERT_TRUE(RunCommandOk({"umoci", "init", "--layout", layout}).ok());
  ASSERT_TRUE(RunCommandOk({"umoci", "new", "--image", layout + ":1"}).ok());
  ASSERT_TRUE(RunCommandOk({"umoci", "insert", "--image", layout + ":1", rootfs, "/"}).ok());
  ASSERT_TRUE(RunCommandOk({"skopeo", "copy", "--dest-tls-verify=false", "oci:" + layout + ":1",
                            "docker://" + ref})
                  .ok());
  auto image = Pull(ref);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  const std::string out = Root("rt");
  ASSERT_TRUE(Build(*image, out, {}).ok());
  oci::Descriptor subject{
      image->manifest.media_type, image->manifest_digest, image->manifest_size, "", {}, {}};
  ASSERT_TRUE(rtimage::PushRuntimeImage(*client_, "tree/umoci", subject, out).ok());
  for (const char* mode : {"full", "lazy", "prefetch"}) {
    Ran r = Syspgo({"run", "--root", Root(std::string("node-") + mode), "--mode", mode, ref, "--",
                    "/bin/cat", "/hello"});
    EXPECT_TRUE(r.exit.success()) << mode << ": " << r.output;
    EXPECT_NE(r.output.find("from umoci"), std::string::npos) << mode << ": " << r.output;
  }
}

// The store has the layer unpacked from a gzip image; the zstd image with
// the same content (same diff_id) is built from its own compressed blob,
// which the build fetches.
TEST_F(TreeTest, RuntimeImageOfALayerPulledInAnotherCompression) {
  const std::string tar = MakeTar({FileEntry("same", 5)}, {"same\n"});
  const std::string gz = registry().address() + "/tree/compression:gz";
  const std::string zst = registry().address() + "/tree/compression:zst";
  ASSERT_TRUE(PushImage(gz, {{"", tar}}, oci::Compression::kGzip).ok());
  ASSERT_TRUE(PushImage(zst, {{"", tar}}, oci::Compression::kZstd).ok());
  const std::string root = Root("store");
  Ran pull = Syspgo({"pull", "--root", root, gz});
  ASSERT_TRUE(pull.exit.success()) << pull.output;
  Ran build = Syspgo({"image", "build", "--root", root, "--no-trace", "-o", Root("rt"), zst});
  EXPECT_TRUE(build.exit.success()) << build.output;
}

}  // namespace
}  // namespace syspgo::testing
