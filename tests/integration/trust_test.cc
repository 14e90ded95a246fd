// SPDX-License-Identifier: Apache-2.0
// Attacks on a node's trust in runtime images, run as an attacker would:
// a forged runtime image pushed beside an untouched image, signed by the
// wrong key or not at all, a signature copied from another runtime image,
// a runtime image of another image, one whose layers are not the image's;
// and caches that others could read. Everything through the syspgo binary,
// against the real registry, FUSE and runc.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "integration/lazy_fs_fixture.h"
#include "rtimage/signature.h"

namespace syspgo::testing {
namespace {

// The container's lines of a syspgo run (without syspgo's own).
std::string ContainerOutput(const std::string& out) {
  std::string container;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("syspgo:", 0) != 0) container += line + "\n";
  }
  return container;
}

class TrustTest : public LazyFsTest {
 protected:
  // An Ed25519 key pair made as the docs say (openssl genpkey); returns
  // the private key's path, the public key is beside it (.pub).
  std::string NewKey(const std::string& name) {
    const std::string key = Root(name + ".key");
    EXPECT_TRUE(RunCommandOk({"openssl", "genpkey", "-algorithm", "ed25519", "-out", key}).ok());
    EXPECT_TRUE(
        RunCommandOk({"openssl", "pkey", "-in", key, "-pubout", "-out", key + ".pub"}).ok());
    return key;
  }
  std::string Policy(const std::string& scope, const std::string& pub) {
    const std::string path = Root("policy-" + std::to_string(++policies_) + ".json");
    EXPECT_TRUE(WriteFileAtomic(path,
                                R"({"version": 1, "rules": [{"scope": ")" + scope +
                                    R"(", "accept": "signed", "keys": [")" + pub + R"("]}]})",
                                0644, false)
                    .ok());
    return path;
  }
  oci::Descriptor Subject() const {
    oci::Descriptor d;
    d.media_type = image_.manifest.media_type;
    d.digest = image_.manifest_digest;
    d.size = image_.manifest_size;
    return d;
  }
  // `syspgo run` of `ref` reading /data/over; its mode, output and text.
  struct Start {
    bool ok = false;
    std::string mode;
    std::string container;  // the container's output
    std::string output;     // all of it
  };
  Start Run(const std::string& ref, const std::string& mode, std::vector<std::string> extra = {}) {
    const std::string timing = Root("timing-" + std::to_string(++runs_) + ".json");
    std::vector<std::string> args = {"run", "--root",        Root("node"), "--mode",
                                     mode,  "--timing-json", timing};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {ref, "--", "sh", "-c", "cat /data/over; echo"});
    Ran r = Syspgo(args);
    Start s;
    s.ok = r.exit.success();
    s.output = r.output;
    s.container = ContainerOutput(r.output);
    auto j = nlohmann::json::parse(FileText(timing), nullptr, false);
    if (!j.is_discarded()) s.mode = j.value("mode", "");
    // Whatever else happened, the forger's bytes were never served.
    EXPECT_EQ(s.container.find("bad"), std::string::npos) << s.output;
    return s;
  }
  int policies_ = 0;
};

TEST_F(TrustTest, ForgedRuntimeImagesAreRefusedUnlessSignedByATrustedKey) {
  const std::string ref = PushWithRuntimeImage("trust/app");
  ASSERT_FALSE(HasFailure());
  const std::string genuine_dir = Root("rt-app");
  const std::string pinned = Pinned(ref);
  const std::string k1 = NewKey("k1"), k2 = NewKey("k2");
  const std::string policy = Policy(registry().address() + "/trust/app", k1 + ".pub");

  // By digest, no policy: the default uses no runtime image.
  Start s = Run(pinned, "auto");
  EXPECT_TRUE(s.ok) << s.output;
  EXPECT_EQ(s.mode, "full");
  EXPECT_EQ(s.container, "new\n");
  s = Run(pinned, "rtimage");
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.output.find("pinned by digest"), std::string::npos) << s.output;

  // A policy that wants k1's signature: the genuine one is not signed yet.
  s = Run(pinned, "auto", {"--trust-policy", policy});
  EXPECT_TRUE(s.ok) << s.output;
  EXPECT_EQ(s.mode, "full");
  EXPECT_NE(s.output.find("not signed"), std::string::npos) << "said without -v: " << s.output;

  // Signed with k1: used.
  Ran signed_run = Syspgo({"image", "sign", "--sign-key", k1, ref});
  ASSERT_TRUE(signed_run.exit.success()) << signed_run.output;
  s = Run(pinned, "auto", {"--trust-policy", policy});
  EXPECT_TRUE(s.ok) << s.output;
  EXPECT_EQ(s.mode, "rtimage");
  EXPECT_EQ(s.container, "new\n");
  Ran inspect = Syspgo({"image", "inspect", "--json", "--trust-policy", policy, pinned});
  ASSERT_TRUE(inspect.exit.success()) << inspect.output;
  auto j = nlohmann::json::parse(inspect.output.substr(inspect.output.find('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << inspect.output;
  EXPECT_EQ(j["trust"]["accepted"], true) << j.dump(2);
  const oci::Digest genuine = *oci::Digest::Parse(j["runtime_image"].get<std::string>());

  // The forger pushes a self-consistent runtime image serving "bad".
  const oci::Digest forged = PushForgery(Repo(ref), genuine_dir);
  ASSERT_FALSE(HasFailure());
  ASSERT_NE(forged, genuine);
  auto refused = [&](const std::string& why) {
    for (const char* mode : {"auto", "lazy", "prefetch", "rtimage", "full"}) {
      Start r = Run(pinned, mode, {"--trust-policy", policy});
      if (std::string(mode) == "auto" || std::string(mode) == "full") {
        EXPECT_TRUE(r.ok) << mode << ": " << r.output;
        EXPECT_EQ(r.mode, "full") << mode;
        EXPECT_EQ(r.container, "new\n") << mode;
      } else {
        EXPECT_FALSE(r.ok) << mode << ": " << r.output;
      }
      if (std::string(mode) != "full") {  // full never looks at runtime images
        EXPECT_NE(r.output.find(why), std::string::npos) << mode << ": " << r.output;
      }
    }
  };
  refused("not signed");
  // Signed, by a key the node does not trust.
  ASSERT_TRUE(Syspgo({"image", "sign", "--sign-key", k2, ref}).exit.success());
  refused("by no trusted key");
  // The genuine runtime image's signature copied to the forgery's
  // signature tag: it names the genuine artifact.
  auto sigs = client_->GetManifest(Repo(ref), rtimage::SignatureTag(genuine));
  ASSERT_TRUE(sigs.ok());
  ASSERT_TRUE(client_
                  ->PushManifest(Repo(ref), rtimage::SignatureTag(forged),
                                 oci::media_type::kOciManifest, sigs->body)
                  .ok());
  refused("signs " + genuine.ToString());
  // By tag too, when the policy names the repository.
  s = Run(ref, "rtimage", {"--trust-policy", policy});
  EXPECT_FALSE(s.ok) << s.output;
}

// A runtime image of another image (wrong subject), and one whose
// metadata names this image but whose layers are another's: refused, and
// `auto` says so on stderr without -v, then starts from the full image.
TEST_F(TrustTest, WrongSubjectAndForeignLayersAreRefusedAloud) {
  const std::string ref_a = PushWithRuntimeImage("trust/a");
  ASSERT_FALSE(HasFailure());
  const oci::LocalImage a = image_;
  const std::string ref_b = PushSampleImage("trust/b", MakeTar({FileEntry("extra", 5)}, {"extra"}));
  auto b = Pull(ref_b);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const std::string dir_b = Root("rt-b");
  ASSERT_TRUE(Build(*b, dir_b, {SampleProfile()}).ok());
  oci::Descriptor subject_b{
      b->manifest.media_type, b->manifest_digest, b->manifest_size, "", {}, {}};
  auto pushed_b = rtimage::PushRuntimeImage(*client_, Repo(ref_b), subject_b, dir_b);
  ASSERT_TRUE(pushed_b.ok()) << pushed_b.status().ToString();

  // B's runtime image, entered in A's referrers: "built for image B".
  ASSERT_NO_FATAL_FAILURE(
      AttachRuntimeImage(Repo(ref_b), pushed_b->artifact, Repo(ref_a), a.manifest_digest));
  Start s = Run(ref_a, "auto");
  EXPECT_TRUE(s.ok) << s.output;
  EXPECT_EQ(s.mode, "full");
  EXPECT_EQ(s.container, "new\n");
  EXPECT_NE(s.output.find("not starting from a runtime image"), std::string::npos) << s.output;
  EXPECT_NE(s.output.find("was built for image " + b->manifest_digest.ToString()),
            std::string::npos)
      << s.output;
  EXPECT_FALSE(Run(ref_a, "rtimage").ok);

  // B's runtime image relabelled as A's: the metadata names A, but its
  // layers are B's (one more).
  auto m = rtimage::DecodeMetadata(*ReadFileToString(JoinPath(dir_b, rtimage::kMetadataFile)));
  ASSERT_TRUE(m.ok());
  m->image_digest = a.manifest_digest.ToString();
  ASSERT_TRUE(WriteFileAtomic(JoinPath(dir_b, rtimage::kMetadataFile), rtimage::EncodeMetadata(*m),
                              0600, false)
                  .ok());
  image_ = a;
  auto relabelled = rtimage::PushRuntimeImage(*client_, Repo(ref_a), Subject(), dir_b);
  ASSERT_TRUE(relabelled.ok()) << relabelled.status().ToString();
  s = Run(ref_a, "auto");
  EXPECT_TRUE(s.ok) << s.output;
  EXPECT_EQ(s.mode, "full");
  EXPECT_NE(s.output.find("layers"), std::string::npos) << s.output;
  for (const char* mode : {"lazy", "prefetch", "rtimage"})
    EXPECT_FALSE(Run(ref_a, mode).ok) << mode;
}

// Everything a start leaves on disk is the root's alone: the store root is
// tightened to 0700 (and refused when someone else owns it), caches are
// 0700/0600, and an unprivileged user reads none of an image's root-only
// file through them.
TEST_F(TrustTest, CachesAreAsPrivateAsTheStore) {
  const std::string ref = PushWithRuntimeImage("trust/private");
  ASSERT_FALSE(HasFailure());
  const std::string root = Root("open-root");
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  for (const char* mode : {"lazy", "rtimage", "full"}) {
    Ran r = Syspgo(
        {"run", "--root", root, "--mode", mode, ref, "--", "sh", "-c", "md5sum /data/big.bin"});
    ASSERT_TRUE(r.exit.success()) << mode << ": " << r.output;
  }
  struct stat st;
  ASSERT_EQ(::stat(root.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  // Every file of the caches and the store: private, and not readable by
  // an unprivileged user (nobody) even with the path in hand.
  int files = 0;
  std::function<void(const std::string&)> walk = [&](const std::string& dir) {
    auto names = ListDir(dir);
    ASSERT_TRUE(names.ok()) << dir;
    for (const std::string& name : *names) {
      const std::string path = JoinPath(dir, name);
      ASSERT_EQ(::lstat(path.c_str(), &st), 0) << path;
      if (S_ISDIR(st.st_mode)) {
        EXPECT_EQ(st.st_mode & 077, 0u) << path;
        walk(path);
      } else if (S_ISREG(st.st_mode)) {
        EXPECT_EQ(st.st_mode & 077, 0u) << path;
        ++files;
      }
    }
  };
  for (const char* cache : {"spans", "chunks", "blobs", "refs"}) walk(JoinPath(root, cache));
  EXPECT_GT(files, 3);
  auto span = ListDir(JoinPath(root, "spans"));
  ASSERT_TRUE(span.ok() && !span->empty());
  const std::string some = JoinPath(JoinPath(root, "spans"), (*span)[0]);
  auto as_nobody = RunCommand({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh",
                               "-c", "cat " + some + "/* > /dev/null && echo READ"});
  ASSERT_TRUE(as_nobody.ok());
  EXPECT_EQ(as_nobody->output.find("READ"), std::string::npos) << as_nobody->output;
  // A root owned by someone else that others can enter is refused.
  const std::string foreign = Root("foreign-root");
  ASSERT_EQ(::mkdir(foreign.c_str(), 0755), 0);
  ASSERT_EQ(::chown(foreign.c_str(), 65534, 65534), 0);
  Ran r = Syspgo({"run", "--root", foreign, "--mode", "lazy", ref, "--", "true"});
  EXPECT_FALSE(r.exit.success());
  EXPECT_NE(r.output.find("refusing to keep private data"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace syspgo::testing
