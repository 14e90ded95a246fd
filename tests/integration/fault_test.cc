// SPDX-License-Identifier: Apache-2.0
// Fault injection, trials x modes: each fault is made for real (bytes
// changed on the registry's disk, a forged artifact pushed, the registry
// killed or stopped, the store's disk full), then a container reads three
// files in every mode. Each start must serve the right bytes or fail; none
// may serve a wrong byte; the time to an error is bounded; after `syspgo
// cleanup` nothing is left but the caches.
//
// With SYSPGO_FAULT_TABLE=FILE each fault appends its row of the table in
// docs/runtime-image.md ("Faults") to FILE (scripts/fault-table.sh).
#include <openssl/evp.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>

#include "integration/lazy_fs_fixture.h"

namespace syspgo::testing {
namespace {

const std::vector<std::string> kModes = {"full", "lazy", "prefetch", "rtimage", "auto"};
const std::vector<std::string> kFiles = {"/data/big.bin", "/data/big2", "/data/over"};

std::string Md5Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

struct Cell {
  std::string served;  // "correct", "error" or "WRONG BYTES"
  double seconds = 0;  // to the end of the start (from the fault, when it came later)
  std::string left;    // after `syspgo cleanup`: "nothing" or what
};

// When a fault strikes: before the start, or once the start is under way
// (the root file system is mounted; for full, right away).
enum class When { kBefore, kDuring };

class FaultTest : public LazyFsTest {
 protected:
  void SetUp() override {
    LazyFsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(FreshRegistry());
  }
  void TearDown() override {
    if (own_) own_->Stop();
    registry_override_ = nullptr;
    LazyFsTest::TearDown();
  }
  // A registry of this test's own: its disk is tampered with, it is killed.
  void FreshRegistry() {
    if (own_) own_->Stop();
    auto r = RegistryFixture::Start();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    own_ = std::move(*r);
    registry_override_ = own_.get();
    auto client = oci::RegistryClient::Create(registry().address(), opts_.options);
    ASSERT_TRUE(client.ok());
    client_.emplace(std::move(*client));
  }
  // The sample image with its runtime image; the right md5 of each file.
  std::string Image(const std::string& repo) {
    const std::string ref = PushWithRuntimeImage(repo);
    want_ = {Md5Hex(big_), Md5Hex(SampleData(3 << 20, 2)), Md5Hex("new")};
    return ref;
  }
  std::string RtimageDir(const std::string& repo) {
    return Root("rt-" + repo.substr(repo.rfind('/') + 1));
  }

  // One start of `ref` in `mode` reading kFiles, with the fault `strike`
  // made at `when`; then cleanup and what was left.
  Cell Start(const std::string& ref, const std::string& mode, const std::string& root,
             When when = When::kBefore, const std::function<void()>& strike = {},
             std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run", "--root", root, "--fetch-timeout", "3", "--timeout",
                                     "60",  "--mode", mode};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string script = when == When::kDuring ? "sleep 1; " : "";
    script += "md5sum";
    for (const std::string& f : kFiles) script += " " + f;
    args.insert(args.end(), {ref, "--", "sh", "-c", script});
    const std::string out = Root("start-" + std::to_string(++runs_));
    if (when == When::kBefore && strike) strike();
    auto t0 = std::chrono::steady_clock::now();
    Subprocess p = SpawnSyspgo(args, out);
    if (when == When::kDuring) {
      // Once the mount is there (lazy modes), or at once (full).
      const auto deadline = t0 + seconds(30);
      while (mode != "full" && FuseMountsUnder(root).empty() &&
             std::chrono::steady_clock::now() < deadline) {
        auto done = p.TryWait();
        if (!done.ok() || done->has_value()) break;
        std::this_thread::sleep_for(milliseconds(5));
      }
      strike();
      t0 = std::chrono::steady_clock::now();
    }
    auto exit = p.WaitFor(seconds(120));
    Cell cell;
    cell.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::string text = FileText(out);
    // What md5sum printed for each file: right, wrong, or nothing.
    bool wrong = false, all = true;
    for (size_t i = 0; i < kFiles.size(); ++i) {
      std::smatch m;
      const std::regex line("(^|\n)([0-9a-f]{32})  " + kFiles[i] + "\n");
      if (!std::regex_search(text, m, line)) {
        all = false;
      } else if (m.str(2) != want_[i]) {
        wrong = true;
      }
    }
    const bool success = exit.ok() && exit->success();
    cell.served = wrong ? "WRONG BYTES" : (success && all) ? "correct" : "error";
    EXPECT_FALSE(wrong) << mode << ": " << text;
    EXPECT_TRUE(cell.served == "error" || success) << mode << ": " << text;
    Ran cleanup = Syspgo({"cleanup", "--root", root}, seconds(60));
    EXPECT_TRUE(cleanup.exit.success()) << cleanup.output;
    cell.left = Leftovers(root);
    EXPECT_EQ(cell.left, "nothing") << mode;
    last_output_ = text;
    return cell;
  }
  // What a start left under root besides the store and caches: mounts,
  // containers, lazy mounts' directories, temporary sessions.
  static std::string Leftovers(const std::string& root) {
    std::vector<std::string> left;
    if (int n = MountsUnder(root + "/"); n > 0) left.push_back(std::to_string(n) + " mounts");
    for (const char* sub : {"mounts", "run", "shared", "tmp"}) {
      auto names = ListDir(JoinPath(root, sub));
      if (names.ok() && !names->empty()) left.push_back(std::string(sub) + "/" + (*names)[0]);
    }
    if (left.empty()) return "nothing";
    std::string out;
    for (const std::string& l : left) out += (out.empty() ? "" : ", ") + l;
    return out;
  }
  // The row of the fault table: one cell per mode.
  void Row(const std::string& fault, const std::vector<Cell>& cells) {
    std::string row = "| " + fault + " |";
    std::string left = "nothing";
    for (const Cell& c : cells) {
      char buf[64];
      if (c.served == "correct") {
        std::snprintf(buf, sizeof(buf), " correct |");
      } else {
        std::snprintf(buf, sizeof(buf), " %s after %.2f s |", c.served.c_str(), c.seconds);
      }
      row += buf;
      if (c.left != "nothing") left = c.left;
    }
    row += " " + left + " |\n";
    std::fputs(row.c_str(), stdout);
    if (const char* table = std::getenv("SYSPGO_FAULT_TABLE")) {
      std::ofstream(table, std::ios::app) << row;
    }
  }
  // Every mode against the same (tampered) registry.
  std::vector<Cell> EveryMode(const std::string& ref, const std::string& name,
                              const std::vector<std::string>& extra = {}) {
    std::vector<Cell> cells;
    for (const std::string& mode : kModes) {
      cells.push_back(Start(ref, mode, Root(name + "-" + mode), When::kBefore, {}, extra));
    }
    return cells;
  }
  // The image in repository fault/<repo>, one byte of a blob (`where`:
  // which, at what offset) flipped on the registry's disk, every mode.
  void FlipThenStart(const std::string& repo, const std::string& label,
                     const std::function<std::pair<oci::Digest, int64_t>()>& where) {
    repo_ = repo;
    const std::string ref = Image("fault/" + repo_);
    ASSERT_FALSE(HasFailure());
    const auto [blob, offset] = where();
    ASSERT_NO_FATAL_FAILURE(FlipOnDisk(blob, offset));
    Row(label, EveryMode(ref, repo));
  }
  // The runtime image's descriptors as the registry lists them.
  rtimage::FoundRuntimeImage Found() {
    auto found = rtimage::FindRuntimeImage(*client_, "fault/" + repo_, image_.manifest_digest);
    EXPECT_TRUE(found.ok() && *found);
    return **found;
  }

  std::unique_ptr<RegistryFixture> own_;
  std::vector<std::string> want_;
  std::string last_output_;
  std::string repo_;
};

// One flipped byte in the layer blob, inside a large file, where the trace
// did not look: `full` refuses the pull, the lazy modes refuse the piece.
TEST_F(FaultTest, TamperedLayerByte) {
  FlipThenStart("layer", "tampered layer byte (large file, untraced range)", [&] {
    const oci::Descriptor& data = image_.manifest.layers[1];  // big.bin is most of it
    return std::make_pair(data.digest, data.size * 2 / 3);
  });
}

// A byte of the runtime image's blob, in a traced chunk: the chunk fails,
// its bytes come from the (verified) layer.
TEST_F(FaultTest, TamperedBlob) {
  FlipThenStart("blob", "tampered runtime image blob", [&] {
    const rtimage::FoundRuntimeImage found = Found();
    return std::make_pair(found.blob.digest, found.blob.size / 2);
  });
}

TEST_F(FaultTest, TamperedMetadata) {
  FlipThenStart("metadata", "tampered runtime image metadata", [&] {
    const rtimage::FoundRuntimeImage found = Found();
    return std::make_pair(found.metadata.digest, found.metadata.size / 2);
  });
}

// A self-consistent forgery (/data/over holds "bad") pushed beside the
// untouched image; the start names the image by digest.
TEST_F(FaultTest, ForgedRuntimeImage) {
  repo_ = "forged";
  const std::string ref = Image("fault/" + repo_);
  ASSERT_FALSE(HasFailure());
  PushForgery("fault/" + repo_, RtimageDir("fault/" + repo_));
  ASSERT_FALSE(HasFailure());
  Row("forged runtime image (pinned digest, no policy)", EveryMode(Pinned(ref), "forged"));
  // A policy that trusts a key: the forgery, signed by another one.
  const std::string key = Root("trusted.key"), other = Root("other.key");
  const std::string policy = SignedOnlyPolicy(key, other);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(Syspgo({"image", "sign", "--sign-key", other, ref}).exit.success());
  Row("forged runtime image signed by an untrusted key (tag, policy)",
      EveryMode(ref, "forged-signed", {"--trust-policy", policy}));
}

// Another image's runtime image listed as this one's.
TEST_F(FaultTest, WrongSubject) {
  repo_ = "subject";
  const std::string other = PushWithRuntimeImage("fault/other");
  ASSERT_FALSE(HasFailure());
  const oci::LocalImage other_image = image_;
  const rtimage::FoundRuntimeImage theirs = [&] {
    auto f = rtimage::FindRuntimeImage(*client_, "fault/other", other_image.manifest_digest);
    EXPECT_TRUE(f.ok() && *f);
    return **f;
  }();
  // This image differs from the other one by a layer.
  const std::string ref = PushSampleImage("fault/" + repo_, MakeTar({FileEntry("x", 1)}, {"x"}));
  auto image = Pull(ref);
  ASSERT_TRUE(image.ok());
  image_ = *image;
  want_ = {Md5Hex(big_), Md5Hex(SampleData(3 << 20, 2)), Md5Hex("new")};
  ASSERT_NO_FATAL_FAILURE(
      AttachRuntimeImage("fault/other", theirs.artifact, "fault/" + repo_, image_.manifest_digest));
  Row("runtime image of another image (wrong subject)", EveryMode(ref, "subject"));
}

// The blob cut to half its size on the registry's disk.
TEST_F(FaultTest, TruncatedBlob) {
  repo_ = "truncated";
  const std::string ref = Image("fault/" + repo_);
  ASSERT_FALSE(HasFailure());
  const rtimage::FoundRuntimeImage found = Found();
  ASSERT_EQ(::truncate(registry().BlobDataPath(found.blob.digest).c_str(), found.blob.size / 2), 0);
  Row("truncated runtime image blob", EveryMode(ref, "truncated"));
}

// The registry killed (connections refused) or stopped (SIGSTOP: it
// accepts connections and answers nothing) once the start is under way;
// a registry of its own per start.
TEST_F(FaultTest, RegistryKilledAndHung) {
  for (const bool hung : {false, true}) {
    std::vector<Cell> cells;
    for (const std::string& mode : kModes) {
      ASSERT_NO_FATAL_FAILURE(FreshRegistry());
      repo_ = hung ? "hung" : "killed";
      const std::string ref = Image("fault/" + repo_);
      ASSERT_FALSE(HasFailure());
      RegistryFixture* r = own_.get();
      cells.push_back(Start(ref, mode, Root(repo_ + "-" + mode), When::kDuring,
                            [r, hung] { hung ? r->Pause() : r->Stop(); }));
      // Bounded: the fetch timeout (3 s) and the start's own work.
      EXPECT_LT(cells.back().seconds, hung ? 20.0 : 10.0) << mode << ": " << last_output_;
      r->Resume();
    }
    Row(hung ? "registry hung (SIGSTOP) during the start" : "registry killed during the start",
        cells);
  }
}

// The store's disk is full (a 6 MiB tmpfs for --root).
TEST_F(FaultTest, DiskFull) {
  repo_ = "disk";
  const std::string ref = Image("fault/" + repo_);
  ASSERT_FALSE(HasFailure());
  std::vector<Cell> cells;
  for (const std::string& mode : kModes) {
    const std::string root = Root("tiny-" + mode);
    ASSERT_TRUE(MakeDirs(root).ok());
    ASSERT_EQ(::mount("tmpfs", root.c_str(), "tmpfs", 0, "size=6m,mode=0700"), 0)
        << strerror(errno);
    cells.push_back(Start(ref, mode, root));
    ::umount2(root.c_str(), MNT_DETACH);
  }
  Row("store's disk full (6 MiB)", cells);
}

// A registry that hangs while the image is in the local store: a default
// `syspgo run --timeout 20` starts from the local copy (or fails, without
// one) within 25 s.
TEST_F(FaultTest, HungRegistryRunUsesTheLocalCopyWithinTheTimeout) {
  const std::string ref = Image("fault/local");
  ASSERT_FALSE(HasFailure());
  const std::string root = Root("local");
  Ran pulled = Syspgo({"pull", "--root", root, ref});
  ASSERT_TRUE(pulled.exit.success()) << pulled.output;
  own_->Pause();
  Ran r = Syspgo({"run", "--root", root, "--timeout", "20", ref, "--", "cat", "/data/over"},
                 seconds(60));
  EXPECT_TRUE(r.exit.success()) << r.output;
  EXPECT_NE(r.output.find("new"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("local copy"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 25.0) << r.output;
  // Without a local copy: a clear failure, as soon.
  Ran none =
      Syspgo({"run", "--root", Root("empty"), "--timeout", "20", ref, "--", "true"}, seconds(60));
  EXPECT_FALSE(none.exit.success()) << none.output;
  EXPECT_LT(none.seconds, 25.0) << none.output;
  own_->Resume();
  std::printf(
      "hung registry, --timeout 20: local copy used after %.1f s; no copy: failed after "
      "%.1f s\n",
      r.seconds, none.seconds);
}

}  // namespace
}  // namespace syspgo::testing
