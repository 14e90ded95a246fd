// SPDX-License-Identifier: Apache-2.0
// The lazy root file system against the real things: docker-registry,
// FUSE, overlayfs, runc and the tracer, all through the syspgo binary
// (`syspgo mount`, `syspgo run --mode ...`), so that the daemon runs in a
// process of its own as it does for users. Every wait is bounded.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "integration/lazy_fs_fixture.h"

namespace syspgo::testing {
namespace {

// The FUSE tree is the image as overlayfs shows it; the traced ranges read
// through the mount after the push come from the page cache (no FUSE READ);
// every file's bytes equal the merged file's.
TEST_F(LazyFsTest, MountShowsTheMergedImageAndTracedRangesNeedNoRead) {
  const std::string ref = PushWithRuntimeImage("lazy/tree");
  ASSERT_FALSE(HasFailure());
  const std::string merged = MountMerged(image_);
  const std::string mnt = Root("mnt");
  ASSERT_TRUE(MakeDirs(mnt).ok());
  const std::string root = Root("node");

  // 1. rtimage mount: wait until every chunk is pushed, read the traced
  //    ranges, unmount, and count FUSE READs.
  std::string out;
  const std::string stats1 = Root("stats1.json");
  Subprocess daemon = SpawnMount({"--root", root, "--stats-json", stats1, ref, mnt}, &out);
  ASSERT_TRUE(WaitForText(out, "settled", daemon, seconds(60))) << FileText(out);
  EXPECT_NE(FileText(out).find("mode rtimage"), std::string::npos) << FileText(out);
  for (const rtimage::AccessedFile& f : SampleProfile().files) {
    std::string path = JoinPath(mnt, f.path.substr(1));
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // symlink, /proc
    for (const auto& [page, count] : f.pages) {
      const uint64_t offset = page * 4096;
      if (offset >= static_cast<uint64_t>(st.st_size)) continue;
      const uint64_t length = std::min<uint64_t>(count * 4096, st.st_size - offset);
      EXPECT_EQ(FileBytes(path, offset, length),
                FileBytes(JoinPath(merged, f.path.substr(1)), offset, length))
          << f.path << " at page " << page;
    }
  }
  ASSERT_NO_FATAL_FAILURE(UnmountDaemon(mnt, daemon, out));
  nlohmann::json s1 = Json(stats1);
  EXPECT_EQ(s1["fuse"]["reads"], 0) << s1.dump(2);
  EXPECT_EQ(s1["fallback"]["requests"], 0) << s1.dump(2);
  EXPECT_EQ(s1["page_cache"]["chunks_failed"], 0) << s1.dump(2);
  EXPECT_EQ(s1["page_cache"]["push_errors"], 0) << s1.dump(2);
  EXPECT_EQ(s1["page_cache"]["chunks_pushed"], s1["page_cache"]["chunks"]);
  EXPECT_LE(s1["page_cache"]["requests"].get<int>(), 2);

  // 2. Mounted again (chunks now local): the whole tree and every byte.
  const std::string stats2 = Root("stats2.json");
  Subprocess again = SpawnMount({"--root", root, "--stats-json", stats2, ref, mnt}, &out);
  ASSERT_TRUE(WaitForText(out, "settled", again, seconds(60))) << FileText(out);
  std::map<std::string, MergedFile> want, got;
  Walk(merged, "", &want);
  Walk(mnt, "", &got);
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [path, w] : want) {
    auto it = got.find(path);
    ASSERT_NE(it, got.end()) << path;
    const struct stat& a = w.st;
    const struct stat& b = it->second.st;
    EXPECT_EQ(a.st_mode, b.st_mode) << path;
    EXPECT_EQ(a.st_uid, b.st_uid) << path;
    EXPECT_EQ(a.st_gid, b.st_gid) << path;
    // "/" is in no layer's tar: its mtime is the unpacking's.
    if (path != "/") {
      EXPECT_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec) << path;
    }
    EXPECT_EQ(w.symlink_target, it->second.symlink_target) << path;
    if (S_ISCHR(a.st_mode) || S_ISBLK(a.st_mode)) {
      EXPECT_EQ(a.st_rdev, b.st_rdev) << path;
    }
    if (S_ISREG(a.st_mode)) {
      EXPECT_EQ(a.st_size, b.st_size) << path;
      EXPECT_EQ(a.st_nlink, b.st_nlink) << path;
      EXPECT_EQ(FileBytes(JoinPath(merged, path.substr(1)), 0, a.st_size),
                FileBytes(JoinPath(mnt, path.substr(1)), 0, b.st_size))
          << path;
    }
  }
  char value[16] = {};
  ssize_t n = getxattr(JoinPath(mnt, "data/big.bin").c_str(), "user.rtimage", value, sizeof(value));
  EXPECT_EQ(std::string(value, n > 0 ? n : 0), "yes");
  EXPECT_NE(access(JoinPath(mnt, "data/gone.txt").c_str(), F_OK), 0) << "whiteout applied";
  EXPECT_NE(access(JoinPath(mnt, "data/opaque/x").c_str(), F_OK), 0) << "opaque dir applied";
  EXPECT_EQ(FileBytes(JoinPath(mnt, "data/over"), 0, 3), "new");
  int fd = open(JoinPath(mnt, "data/new").c_str(), O_WRONLY | O_CREAT, 0644);
  EXPECT_LT(fd, 0) << "the mount is read-only";
  if (fd >= 0) close(fd);
  ASSERT_EQ(daemon.pid(), -1);
  ASSERT_TRUE(again.Signal(SIGTERM).ok());
  auto exit2 = again.WaitFor(seconds(30));
  ASSERT_TRUE(exit2.ok());
  EXPECT_TRUE(exit2->success()) << FileText(out);
  EXPECT_FALSE(fs::IsFuseMount(mnt));
  nlohmann::json s2 = Json(stats2);
  EXPECT_EQ(s2["page_cache"]["chunks_local"], s2["page_cache"]["chunks"]) << s2.dump(2);
  EXPECT_EQ(s2["page_cache"]["requests"], 0) << s2.dump(2);
  EXPECT_GT(s2["fallback"]["requests"].get<int>(), 0) << "untraced bytes came from the layers";
  EXPECT_EQ(s2["fuse"]["errors"], 0) << s2.dump(2);
}

// One traced command in all four modes: the same output; the rtimage start
// needs no fallback and few requests.
TEST_F(LazyFsTest, EveryModeGivesTheSameOutput) {
  const std::string ref = PushSampleImage("lazy/modes");
  const std::vector<std::string> command = {
      "sh", "-c",
      "head -c 300000 /data/big.bin | md5sum; tail -c 5000 /data/hl | md5sum; "
      "cat /data/over; ls /data/opaque /data; readlink /data/sym"};
  std::vector<std::string> optimize = {"image", "optimize", "--root", Root("trace"), ref, "--"};
  optimize.insert(optimize.end(), command.begin(), command.end());
  auto o = Syspgo(optimize);
  ASSERT_TRUE(o.exit.success()) << o.output;
  std::string first;
  for (const char* mode : {"full", "lazy", "prefetch", "rtimage"}) {
    const std::string timing = Root(std::string("timing-") + mode + ".json");
    std::vector<std::string> run = {"run",    "--root", Root(std::string("node-") + mode),
                                    "--mode", mode,     "--timing-json",
                                    timing,   ref,      "--"};
    run.insert(run.end(), command.begin(), command.end());
    auto r = Syspgo(run);
    ASSERT_TRUE(r.exit.success()) << mode << ": " << r.output;
    // The container's output, without syspgo's own lines.
    std::string container;
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("syspgo:", 0) != 0) container += line + "\n";
    }
    EXPECT_NE(container.find("new"), std::string::npos) << container;
    if (first.empty()) {
      first = container;
    } else {
      EXPECT_EQ(container, first) << mode;
    }
    nlohmann::json j = Json(timing);
    EXPECT_EQ(j["mode"], mode);
    if (std::string(mode) == "rtimage") {
      EXPECT_EQ(j["fs"]["fuse"]["misses"], 0) << j.dump(2);
      EXPECT_EQ(j["fs"]["fallback"]["requests"], 0) << j.dump(2);
      EXPECT_LE(j["registry"]["requests"].get<int>(), 8) << j.dump(2);
      EXPECT_GT(j["fs"]["page_cache"]["chunks_pushed"].get<int>(), 0) << j.dump(2);
    }
    if (std::string(mode) == "lazy") {
      EXPECT_GT(j["fs"]["fallback"]["requests"].get<int>(), 0) << j.dump(2);
    }
    EXPECT_TRUE(FuseMountsUnder(dir_.path()).empty());
  }
}

// A chunk whose bytes are wrong in the registry is refused and its bytes
// come from the original layer: same output, nothing wrong served.
TEST_F(LazyFsTest, DamagedChunkIsFetchedFromItsLayer) {
  const std::string ref = PushSampleImage("lazy/damaged");
  const std::vector<std::string> command = {"sh", "-c", "head -c 300000 /data/big.bin | md5sum"};
  std::vector<std::string> optimize = {"image", "optimize", "--root", Root("trace"), ref, "--"};
  optimize.insert(optimize.end(), command.begin(), command.end());
  auto o = Syspgo(optimize);
  ASSERT_TRUE(o.exit.success()) << o.output;
  auto inspect = Syspgo({"image", "inspect", "--json", ref});
  ASSERT_TRUE(inspect.exit.success()) << inspect.output;
  auto j = nlohmann::json::parse(inspect.output.substr(inspect.output.find('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << inspect.output;
  auto blob = oci::Digest::Parse(j["blob_digest"].get<std::string>());
  ASSERT_TRUE(blob.ok()) << j.dump(2);
  const std::string data = registry().BlobDataPath(*blob);
  {
    std::fstream f(data, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good()) << data;
    // The middle of the blob is big.bin's data (padding is only at the
    // ends of short chunks).
    char c = 0;
    f.seekg(j["blob_bytes"].get<int64_t>() / 2);
    f.get(c);
    f.seekp(j["blob_bytes"].get<int64_t>() / 2);
    f.put(static_cast<char>(c ^ 0x5a));
  }
  std::vector<std::string> run = {"run",          "--root",  Root("node"),
                                  "--mode",       "rtimage", "--timing-json",
                                  Root("t.json"), ref,       "--"};
  run.insert(run.end(), command.begin(), command.end());
  auto r = Syspgo(run);
  ASSERT_TRUE(r.exit.success()) << r.output;
  auto full = Syspgo({"run", "--root", Root("full"), "--mode", "full", ref, "--", "sh", "-c",
                      "head -c 300000 /data/big.bin | md5sum"});
  ASSERT_TRUE(full.exit.success()) << full.output;
  auto md5 = [](const std::string& out) {
    std::smatch m;
    // md5sum's line: "<32 hex>  -".
    return std::regex_search(out, m, std::regex("(^|\\n)([0-9a-f]{32})  -")) ? m.str(2) : "none";
  };
  EXPECT_EQ(md5(r.output), md5(full.output)) << r.output << full.output;
  nlohmann::json t = Json(Root("t.json"));
  EXPECT_GE(t["fs"]["page_cache"]["chunks_failed"].get<int>(), 1) << t.dump(2);
  EXPECT_GE(t["fs"]["fallback"]["requests"].get<int>(), 1) << t.dump(2);
  EXPECT_EQ(t["fs"]["fuse"]["errors"], 0) << t.dump(2);
}

// The registry dies while a lazy start runs: reads of what is not local fail
// with EIO, the start fails within the fetch timeout, nothing is left.
TEST_F(LazyFsTest, RegistryKilledMidStartFailsCleanly) {
  auto own = RegistryFixture::Start();
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  registry_override_ = own->get();
  const std::string ref = PushWithRuntimeImage("lazy/killed");
  ASSERT_FALSE(HasFailure());
  const std::string root = Root("node");
  const std::string out = Root("run-out");
  Subprocess run = SpawnSyspgo({"run", "--root", root, "--mode", "lazy", "--fetch-timeout", "5",
                                ref, "--", "sh", "-c", "sleep 2; md5sum /data/big2 /data/big.bin"},
                               out);
  ASSERT_TRUE(run.running());
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (FuseMountsUnder(root).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_FALSE(FuseMountsUnder(root).empty()) << FileText(out);
  std::this_thread::sleep_for(milliseconds(500));  // the container is running
  (*own)->Stop();
  const auto killed = std::chrono::steady_clock::now();
  auto exit = run.WaitFor(seconds(60));
  ASSERT_TRUE(exit.ok());
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  EXPECT_FALSE(exit->success()) << FileText(out);
  EXPECT_LT(took, 20.0) << FileText(out);
  // md5sum's (or, had the shell not been read yet, runc's) EIO, and our log
  // line naming the file.
  std::string text = FileText(out);
  std::transform(text.begin(), text.end(), text.begin(), ::tolower);
  EXPECT_TRUE(text.find("input/output error") != std::string::npos ||
              text.find("reading /") != std::string::npos)
      << text;
  EXPECT_TRUE(FuseMountsUnder(root).empty());
  auto left = ListDir(JoinPath(root, "mounts"));
  EXPECT_TRUE(!left.ok() || left->empty());
  auto containers = ListDir(JoinPath(root, "run"));
  EXPECT_TRUE(!containers.ok() || containers->empty());
  registry_override_ = nullptr;
}

// syspgo umount ends a mount daemon; a killed daemon's mount is dead
// (ENOTCONN, never a hang) until umount or cleanup detaches it.
TEST_F(LazyFsTest, UmountAndDeadDaemons) {
  const std::string ref = PushWithRuntimeImage("lazy/umount");
  ASSERT_FALSE(HasFailure());
  const std::string root = Root("node");
  const std::string mnt = Root("mnt");
  ASSERT_TRUE(MakeDirs(mnt).ok());
  std::string out;
  Subprocess daemon = SpawnMount({"--root", root, "--mode", "lazy", ref, mnt}, &out);
  ASSERT_TRUE(WaitForText(out, "mounted", daemon, seconds(30))) << FileText(out);
  EXPECT_TRUE(fs::IsFuseMount(mnt));
  auto second = Syspgo({"mount", "--root", root, ref, mnt}, seconds(30));
  EXPECT_FALSE(second.exit.success()) << "a second mount on the same dir is refused";
  ASSERT_NO_FATAL_FAILURE(UnmountDaemon(mnt, daemon, out));
  auto not_mounted = Syspgo({"umount", mnt}, seconds(30));
  EXPECT_FALSE(not_mounted.exit.success());

  // SIGKILL: the mount stays, dead; umount detaches it.
  Subprocess killed = SpawnMount({"--root", root, ref, mnt}, &out);
  ASSERT_TRUE(WaitForText(out, "mounted", killed, seconds(30))) << FileText(out);
  ASSERT_TRUE(killed.Signal(SIGKILL).ok());
  ASSERT_TRUE(killed.WaitFor(seconds(30)).ok());
  // What the kernel has cached stays readable; anything it must ask for
  // fails at once.
  struct stat st;
  EXPECT_NE(stat(JoinPath(mnt, "never-looked-up").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOTCONN);
  EXPECT_TRUE(fs::IsFuseMount(mnt));
  auto u2 = Syspgo({"umount", mnt}, seconds(30));
  EXPECT_TRUE(u2.exit.success()) << u2.output;
  EXPECT_FALSE(fs::IsFuseMount(mnt));

  // A killed `syspgo run`: its container and mount go at the next cleanup.
  const std::string run_out = Root("run-out");
  Subprocess run = SpawnSyspgo(
      {"run", "--root", root, "--mode", "lazy", ref, "--", "sh", "-c", "echo started; sleep 60"},
      run_out);
  ASSERT_TRUE(run.running());
  ASSERT_TRUE(WaitForText(run_out, "started", run, seconds(30))) << FileText(run_out);
  ASSERT_TRUE(run.Signal(SIGKILL).ok());
  ASSERT_TRUE(run.WaitFor(seconds(30)).ok());
  EXPECT_FALSE(FuseMountsUnder(root).empty());
  auto cleanup = Syspgo({"cleanup", "--root", root}, seconds(60));
  EXPECT_TRUE(cleanup.exit.success()) << cleanup.output;
  EXPECT_TRUE(FuseMountsUnder(root).empty()) << cleanup.output;
  auto left = ListDir(JoinPath(root, "mounts"));
  EXPECT_TRUE(!left.ok() || left->empty());
}

// `syspgo mount --shared`: later runs of the image start from the node's
// shared mount (one registry request, no mount of their own) while its
// daemon lives; a dead one is ignored and cleaned up.
TEST_F(LazyFsTest, SharedMountServesLaterRuns) {
  const std::string ref = PushWithRuntimeImage("lazy/shared");
  ASSERT_FALSE(HasFailure());
  const std::string root = Root("node");
  std::string out;
  Subprocess daemon = SpawnMount({"--shared", "--root", root, ref}, &out);
  ASSERT_TRUE(WaitForText(out, "settled", daemon, seconds(60))) << FileText(out);
  auto twice = Syspgo({"mount", "--shared", "--root", root, ref}, seconds(30));
  EXPECT_FALSE(twice.exit.success()) << "one shared mount per image";
  for (int i = 0; i < 2; ++i) {
    const std::string timing = Root("shared-" + std::to_string(i) + ".json");
    auto r =
        Syspgo({"run", "--root", root, "--timing-json", timing, ref, "--", "cat", "/data/over"});
    ASSERT_TRUE(r.exit.success()) << r.output;
    EXPECT_NE(r.output.find("new"), std::string::npos) << r.output;
    nlohmann::json j = Json(timing);
    EXPECT_EQ(j["shared_mount"], true) << j.dump(2);
    EXPECT_EQ(j["mode"], "rtimage");
    EXPECT_EQ(j["registry"]["requests"], 1) << j.dump(2);
  }
  EXPECT_EQ(FuseMountsUnder(root).size(), 1u) << "no mount of their own";
  ASSERT_TRUE(daemon.Signal(SIGTERM).ok());
  auto exit = daemon.WaitFor(seconds(30));
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->success()) << FileText(out);
  EXPECT_TRUE(FuseMountsUnder(root).empty());
  auto left = ListDir(JoinPath(root, "shared"));
  EXPECT_TRUE(!left.ok() || left->empty());

  // A killed daemon's mount is not used: the next start removes it and
  // starts a shared mount of its own, which ends with that start.
  Subprocess killed = SpawnMount({"--shared", "--root", root, ref}, &out);
  ASSERT_TRUE(WaitForText(out, "mounted", killed, seconds(60))) << FileText(out);
  ASSERT_TRUE(killed.Signal(SIGKILL).ok());
  ASSERT_TRUE(killed.WaitFor(seconds(30)).ok());
  const std::string timing = Root("after-kill.json");
  auto r = Syspgo({"run", "--root", root, "--timing-json", timing, ref, "--", "cat", "/data/over"});
  ASSERT_TRUE(r.exit.success()) << r.output;
  EXPECT_NE(r.output.find("new"), std::string::npos) << r.output;
  EXPECT_EQ(Json(timing)["shared_mount"], false);
  EXPECT_EQ(Json(timing)["mount_started"], true);
  EXPECT_EQ(ReapAdoptedServers(seconds(10)), 0u);
  EXPECT_TRUE(FuseMountsUnder(root).empty());
  left = ListDir(JoinPath(root, "shared"));
  EXPECT_TRUE(!left.ok() || left->empty());
}

// Four starts of one image at once share one mount: the runtime image
// comes from the registry once, not four times; the mount ends with the
// last of them, and a start killed while it runs leaks no reference.
TEST_F(LazyFsTest, ConcurrentStartsFetchTheRuntimeImageOnce) {
  const std::string ref = PushWithRuntimeImage("lazy/four");
  ASSERT_FALSE(HasFailure());
  const std::string root = Root("node4");
  std::vector<Subprocess> runs;
  std::vector<std::string> outs, timings;
  for (int i = 0; i < 4; ++i) {
    timings.push_back(Root("four-" + std::to_string(i) + ".json"));
    outs.push_back(Root("four-" + std::to_string(i) + ".out"));
    runs.push_back(SpawnSyspgo({"run", "--root", root, "--timing-json", timings.back(), ref, "--",
                                "sh", "-c", "cat /data/over; sleep 1"},
                               outs.back()));
  }
  int started = 0, joined = 0;
  int64_t registry_bytes = 0;
  for (int i = 0; i < 4; ++i) {
    auto exit = runs[i].WaitFor(seconds(120));
    ASSERT_TRUE(exit.ok());
    EXPECT_TRUE(exit->success()) << FileText(outs[i]);
    EXPECT_NE(FileText(outs[i]).find("new"), std::string::npos) << FileText(outs[i]);
    nlohmann::json j = Json(timings[i]);
    EXPECT_EQ(j["mode"], "rtimage") << j.dump(2);
    if (j["mount_started"] == true) {
      ++started;
      // The one that started it saw the runtime image fetched once.
      registry_bytes = j["shared_mount_stats"]["registry_bytes"].get<int64_t>();
      // The start resolved the manifest and handed it to the server, which
      // asked for the config, the referrers, the tag schema index and the
      // metadata: not for the manifest again.
      EXPECT_EQ(j["shared_mount_stats"]["locate_requests"], 4) << j.dump(2);
      EXPECT_EQ(j["fs"]["page_cache"]["chunks_fetched"], j["fs"]["page_cache"]["chunks"])
          << j.dump(2);
    } else {
      ++joined;
      EXPECT_EQ(j["registry"]["requests"], 1) << "only the manifest: " << j.dump(2);
      EXPECT_EQ(j["shared_mount"], true);
    }
  }
  EXPECT_EQ(started, 1);
  EXPECT_EQ(joined, 3);
  EXPECT_GT(registry_bytes, 0);
  EXPECT_EQ(ReapAdoptedServers(seconds(10)), 0u) << "the mount ends with its last user";
  EXPECT_TRUE(FuseMountsUnder(root).empty());
  auto left = ListDir(JoinPath(root, "shared"));
  EXPECT_TRUE(!left.ok() || left->empty());

  // A start killed while its container runs: its reference goes with it.
  const std::string out = Root("killed.out");
  Subprocess run =
      SpawnSyspgo({"run", "--root", root, ref, "--", "sh", "-c", "echo started; sleep 60"}, out);
  ASSERT_TRUE(WaitForText(out, "started", run, seconds(60))) << FileText(out);
  ASSERT_TRUE(run.Signal(SIGKILL).ok());
  ASSERT_TRUE(run.WaitFor(seconds(30)).ok());
  auto cleanup = Syspgo({"cleanup", "--root", root}, seconds(60));  // the container
  EXPECT_TRUE(cleanup.exit.success()) << cleanup.output;
  EXPECT_EQ(ReapAdoptedServers(seconds(10)), 0u) << "a dead start's reference is dropped";
  EXPECT_TRUE(FuseMountsUnder(root).empty());
}

}  // namespace
}  // namespace syspgo::testing
