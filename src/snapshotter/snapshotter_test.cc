// SPDX-License-Identifier: Apache-2.0
// The snapshotter's contract without containerd: snapshots, their mounts,
// commit/remove rules, labels, usage, clean-up, records that survive a
// restart, and remote labels that are (not) acted on. The remote path with a
// real registry and containerd is tests/integration/containerd_test.cc's.
#include "snapshotter/snapshotter.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "snapshotter/metadata.h"

namespace syspgo::snapshotter {
namespace {

class SnapshotterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp", "syspgo-sn-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = std::move(*dir);
    setup_.log = Logger(LogLevel::kError);
    setup_.options.max_attempts = 1;
    setup_.options.http.connect_timeout = std::chrono::seconds(2);
    setup_.Wire(nullptr);
    Reopen();
  }

  void Reopen() {
    sn_.reset();
    SnapshotterOptions o;
    o.root = dir_.path();
    o.binary = "/nonexistent/syspgo";  // no mount server is started here
    auto sn = Snapshotter::Open(o, &setup_, rtimage::TrustPolicy());
    ASSERT_TRUE(sn.ok()) << sn.status().ToString();
    sn_ = std::move(*sn);
  }

  std::string Dir(const std::string& rel) {
    return JoinPath(JoinPath(dir_.path(), "snapshotter"), rel);
  }

  TempDir dir_;
  node::RegistrySetup setup_;
  std::unique_ptr<Snapshotter> sn_;
};

std::string Option(const Mount& m, const std::string& prefix) {
  for (const std::string& o : m.options) {
    if (o.rfind(prefix, 0) == 0) return o.substr(prefix.size());
  }
  return "";
}

TEST_F(SnapshotterTest, LayersAndContainerSnapshots) {
  // A first layer: an empty directory, bind-mounted read-write.
  auto m = sn_->Prepare("default", "extract-1", "", {{"containerd.io/snapshot.ref", "sha256:l1"}});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].type, "bind");
  EXPECT_EQ((*m)[0].options, (std::vector<std::string>{"rbind", "rw"}));
  const std::string l1_fs = (*m)[0].source;
  ASSERT_TRUE(WriteFileAtomic(JoinPath(l1_fs, "file"), std::string(10000, 'x'), 0644, false).ok());
  ASSERT_TRUE(sn_->Commit("sha256:l1", "extract-1", {{"x", "y"}}).ok());
  auto info = sn_->Stat("sha256:l1");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->kind, Kind::kCommitted);
  EXPECT_EQ(info->labels.at("x"), "y");
  EXPECT_EQ(sn_->Stat("extract-1").status().code(), StatusCode::kNotFound);

  // A second layer and a container over both: overlayfs, nearest first.
  ASSERT_TRUE(sn_->Prepare("default", "extract-2", "sha256:l1", {}).ok());
  ASSERT_TRUE(sn_->Commit("sha256:l2", "extract-2", {}).ok());
  auto c = sn_->Prepare("default", "container", "sha256:l2", {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].type, "overlay");
  const std::string lower = Option((*c)[0], "lowerdir=");
  EXPECT_NE(lower.find(':'), std::string::npos) << lower;
  EXPECT_EQ(lower.substr(lower.find(':') + 1), l1_fs);
  EXPECT_FALSE(Option((*c)[0], "upperdir=").empty());
  EXPECT_FALSE(Option((*c)[0], "workdir=").empty());
  auto again = sn_->Mounts("container");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].options, (*c)[0].options);

  // A view of one layer is a read-only bind mount of it.
  auto v = sn_->View("default", "view", "sha256:l1", {});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ((*v)[0].type, "bind");
  EXPECT_EQ((*v)[0].source, l1_fs);
  EXPECT_EQ((*v)[0].options, (std::vector<std::string>{"rbind", "ro"}));

  // Rules: no parent that is not committed, no duplicate key, no removal
  // of a parent.
  EXPECT_EQ(sn_->Prepare("default", "x", "container", {}).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(sn_->Prepare("default", "container", "", {}).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(sn_->Prepare("default", "y", "nope", {}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(sn_->Remove("sha256:l1").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(sn_->Commit("z", "sha256:l1", {}).code(), StatusCode::kFailedPrecondition);

  auto usage = sn_->DiskUsage("sha256:l1");
  ASSERT_TRUE(usage.ok());
  EXPECT_GE(usage->size, 10000);
  EXPECT_EQ(usage->inodes, 1);

  auto all = sn_->List();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 4u);
  for (const char* key : {"container", "view", "sha256:l2", "sha256:l1"}) {
    EXPECT_TRUE(sn_->Remove(key).ok()) << key;
  }
  auto left = ListDir(Dir("snapshots"));
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
  EXPECT_EQ(sn_->counters().unpacked_layers.load(), 1);  // extract-1 carried a snapshot.ref
}

TEST_F(SnapshotterTest, RecordsSurviveARestartAndCleanupRemovesStrays) {
  ASSERT_TRUE(sn_->Prepare("ns1", "a", "", {{"k", "v"}}).ok());
  ASSERT_TRUE(sn_->Commit("A", "a", {}).ok());
  ASSERT_TRUE(sn_->Prepare("ns1", "b", "A", {}).ok());
  ASSERT_TRUE(MakeDirs(Dir("snapshots/999/fs")).ok());  // a crash's leftover
  ASSERT_NO_FATAL_FAILURE(Reopen());
  auto info = sn_->Stat("A");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->labels.at("k"), "v");
  auto b = sn_->Stat("b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->parent, "A");
  EXPECT_EQ(b->kind, Kind::kActive);
  ASSERT_TRUE(sn_->Cleanup().ok());
  EXPECT_FALSE(PathExists(Dir("snapshots/999")));
  auto m = sn_->Mounts("b");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)[0].type, "overlay");
}

TEST_F(SnapshotterTest, UpdateChangesOnlyLabels) {
  ASSERT_TRUE(sn_->Prepare("", "a", "", {{"keep", "1"}, {"drop", "2"}}).ok());
  Info in;
  in.name = "a";
  in.labels = {{"new", "3"}};
  auto out = sn_->Update(in, {"labels.new", "labels.drop"});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->labels, (std::map<std::string, std::string>{{"keep", "1"}, {"new", "3"}}));
  out = sn_->Update(in, {});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->labels, in.labels);
  EXPECT_EQ(sn_->Update(in, {"parent"}).status().code(), StatusCode::kInvalidArgument);
  in.name = "missing";
  EXPECT_EQ(sn_->Update(in, {}).status().code(), StatusCode::kNotFound);
}

// Remote labels: acted on only with every CRI label, for the image's own
// chain; a registry that cannot be reached is containerd's error, said
// with the registry's name, not a silent unpack.
TEST_F(SnapshotterTest, RemoteLabels) {
  std::map<std::string, std::string> labels = {
      {kLabelSnapshotRef, "sha256:chain"},
      {kLabelImageRef, "127.0.0.1:1/app:1"},
      {kLabelManifestDigest, "sha256:" + std::string(64, 'a')}};
  // No layer digest: an ordinary snapshot.
  ASSERT_TRUE(sn_->Prepare("", "a", "", labels).ok());
  ASSERT_TRUE(sn_->Commit("A", "a", {}).ok());
  labels[kLabelLayerDigest] = "sha256:" + std::string(64, 'b');
  // A first layer: the registry is asked (nothing listens on port 1).
  auto c = sn_->Prepare("", "c", "", labels);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable) << c.status().ToString();
  EXPECT_NE(c.status().message().find("127.0.0.1:1"), std::string::npos) << c.status().message();
  EXPECT_EQ(sn_->counters().registry_errors.load(), 1);
  EXPECT_EQ(sn_->Stat("c").status().code(), StatusCode::kNotFound);
  // Above a layer unpacked here too: an image may share its base with one
  // unpacked before and still have a runtime image for its own layers.
  auto b = sn_->Prepare("", "b", "A", labels);
  EXPECT_EQ(b.status().code(), StatusCode::kUnavailable) << b.status().ToString();
  EXPECT_EQ(sn_->counters().registry_errors.load(), 2);
  // Without the image's labels: an ordinary snapshot above A.
  ASSERT_TRUE(sn_->Prepare("", "d", "A", {}).ok());
  const std::string metrics = sn_->Metrics();
  EXPECT_NE(metrics.find("syspgo_snapshotter_registry_errors_total 2\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("# TYPE syspgo_snapshotter_remote_layers_total counter"),
            std::string::npos);
}

TEST(MetadataStoreTest, TransactionsAndErrors) {
  auto dir = TempDir::Create("/tmp", "syspgo-md-");
  ASSERT_TRUE(dir.ok());
  const std::string path = JoinPath(dir->path(), "m.db");
  {
    auto store = MetadataStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    SnapshotRecord r;
    r.key = "k";
    r.labels = {{"a", "b"}};
    r.remote = RemoteLayer{"reg/app:1", "sha256:m", "sha256:l", true};
    auto id = (*store)->Insert(r);
    ASSERT_TRUE(id.ok());
    EXPECT_EQ((*store)->Insert(r).status().code(), StatusCode::kAlreadyExists);
    SnapshotRecord child;
    child.key = "c";
    child.parent = "k";
    ASSERT_TRUE((*store)->Insert(child).ok());
    EXPECT_EQ((*store)->Remove("k").code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ((*store)->Remove("nope").code(), StatusCode::kNotFound);
  }
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto store = MetadataStore::Open(path);
  ASSERT_TRUE(store.ok());
  auto r = (*store)->Get("k");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->remote.has_value());
  EXPECT_EQ(r->remote->image, "reg/app:1");
  EXPECT_TRUE(r->remote->top);
  EXPECT_EQ(r->labels.at("a"), "b");
  auto n = (*store)->CountChildren("k");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
}

}  // namespace
}  // namespace syspgo::snapshotter
