// SPDX-License-Identifier: Apache-2.0
#include "node/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/file_util.h"
#include "oci/layer_store.h"
#include "oci/manifest.h"

namespace syspgo::node {
namespace {

// A store with images made of layers named by hand: no registry needed.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp", "syspgo-store-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
    root_ = JoinPath(dir_.path(), "root");
    auto store = oci::LayerStore::Open(root_);
    ASSERT_TRUE(store.ok());
    store_.emplace(std::move(*store));
  }
  // A layer of `kib` KiB under its diff_id, last used `age` seconds ago.
  oci::Digest Layer(const std::string& name, int kib, int age = 0) {
    const oci::Digest d = oci::Digest::Of(name);
    const std::string fs = store_->LayerFsPath(d);
    EXPECT_TRUE(MakeDirs(fs).ok());
    EXPECT_TRUE(WriteFileAtomic(JoinPath(fs, "data"),
                                std::string(static_cast<size_t>(kib) << 10, 'x'), 0644)
                    .ok());
    Age(store_->LayerDir(d), age);
    return d;
  }
  static void Age(const std::string& path, int seconds) {
    const time_t t = std::time(nullptr) - seconds;
    struct utimbuf times = {t, t};
    ::utime(path.c_str(), &times);
  }
  // An image (manifest, config, ref) of these layers, pulled `age` s ago.
  void Image(const std::string& ref, const std::vector<oci::Digest>& layers, int age = 0) {
    oci::ImageConfig config;
    config.os = "linux";
    config.architecture = "amd64";
    config.diff_ids = layers;
    const std::string config_body = oci::SerializeImageConfig(config);
    oci::ImageManifest manifest;
    manifest.config = {std::string(oci::media_type::kOciConfig), oci::Digest::Of(config_body),
                       static_cast<int64_t>(config_body.size())};
    for (const oci::Digest& l : layers) {
      manifest.layers.push_back(
          {std::string(oci::media_type::kOciLayerGzip), oci::Digest::Of(l.hex + "z"), 1});
    }
    const std::string body = oci::SerializeImageManifest(manifest);
    ASSERT_TRUE(store_->PutBlob(oci::Digest::Of(config_body), config_body).ok());
    ASSERT_TRUE(store_->PutBlob(oci::Digest::Of(body), body).ok());
    ASSERT_TRUE(store_->SetRef(ref, oci::Digest::Of(body)).ok());
    Age(JoinPath(root_, "refs/" + ref), age);  // plain names escape to themselves
  }
  // gc with --max-size set `below` bytes under the store's size now.
  Result<GcResult> GcToBelowTotal(int64_t below) {
    auto usage = InspectStore(root_);
    if (!usage.ok()) return usage.status();
    GcOptions options;
    options.max_size = usage->total_bytes - below;
    return CollectGarbage(root_, options);
  }
  std::vector<std::string> Refs() {
    std::vector<std::string> out;
    auto refs = store_->ListRefs();
    EXPECT_TRUE(refs.ok());
    if (refs.ok()) {
      for (const auto& e : *refs) out.push_back(e.reference);
    }
    return out;
  }

  TempDir dir_;
  std::string root_;
  std::optional<oci::LayerStore> store_;
};

TEST_F(StoreTest, GcRemovesWhatNoImageNamesAndKeepsEveryImage) {
  const oci::Digest base = Layer("base", 64), app = Layer("app", 32), orphan = Layer("orphan", 128);
  Image("app", {base, app});
  ASSERT_TRUE(MakeDirs(JoinPath(root_, "chunks/ab")).ok());
  ASSERT_TRUE(
      WriteFileAtomic(JoinPath(root_, "chunks/ab/abcd"), std::string(4096, 'c'), 0600).ok());
  auto usage = InspectStore(root_);
  ASSERT_TRUE(usage.ok()) << usage.status().ToString();
  ASSERT_EQ(usage->images.size(), 1u);
  EXPECT_EQ(usage->images[0].layers, 2);
  EXPECT_EQ(usage->unreferenced.entries, 1);
  EXPECT_EQ(usage->chunks.entries, 1);

  GcOptions dry;
  dry.dry_run = true;
  auto preview = CollectGarbage(root_, dry);
  ASSERT_TRUE(preview.ok());
  EXPECT_EQ(preview->layers_removed, 1);
  EXPECT_TRUE(store_->HasLayer(orphan)) << "a dry run removed something";

  auto gc = CollectGarbage(root_, {});
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->layers_removed, 1);
  EXPECT_EQ(gc->cache_entries_removed, 1);
  EXPECT_FALSE(store_->HasLayer(orphan));
  EXPECT_TRUE(store_->HasLayer(base));
  EXPECT_TRUE(store_->HasLayer(app));
  EXPECT_LT(gc->bytes_after, gc->bytes_before);
  EXPECT_EQ(Refs(), std::vector<std::string>{"app"});
}

TEST_F(StoreTest, MaxSizeRemovesLeastRecentlyUsedImagesAndKeepsSharedLayers) {
  const oci::Digest base = Layer("base", 256);
  const oci::Digest old_layer = Layer("old", 256), mid_layer = Layer("mid", 256),
                    new_layer = Layer("new", 256);
  Image("old", {base, old_layer}, 3000);
  Image("mid", {base, mid_layer}, 2000);
  Image("new", {base, new_layer}, 10);
  const int64_t total = InspectStore(root_)->total_bytes;
  // Room for two images (base + two own layers, and some slack): only the
  // least recently used goes.
  auto gc = GcToBelowTotal(200 * 1024);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->images_removed, std::vector<std::string>{"old"});
  EXPECT_FALSE(store_->HasLayer(old_layer));
  EXPECT_TRUE(store_->HasLayer(base));
  EXPECT_TRUE(store_->HasLayer(mid_layer));
  EXPECT_LE(gc->bytes_after, total - 200 * 1024);
  // rmi: the reference and what only it used.
  auto rmi = RemoveImages(root_, {"mid"}, nullptr);
  ASSERT_TRUE(rmi.ok());
  EXPECT_FALSE(store_->HasLayer(mid_layer));
  EXPECT_TRUE(store_->HasLayer(base));
  EXPECT_EQ(Refs(), std::vector<std::string>{"new"});
  EXPECT_EQ(RemoveImages(root_, {"mid"}, nullptr).status().code(), StatusCode::kNotFound);
}

TEST_F(StoreTest, AStartFromTheLocalCopyCountsAsAUse) {
  const oci::Digest a = Layer("a", 256), b = Layer("b", 256);
  Image("pulled-long-ago", {a}, 5000);
  Image("pulled-lately", {b}, 100);
  store_->TouchRef("pulled-long-ago");  // what Puller::LoadLocal does for a start
  auto gc = GcToBelowTotal(100 * 1024);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->images_removed, std::vector<std::string>{"pulled-lately"});
}

// A start holds the store's gc lock shared while it takes an image into
// use; gc waits for it, then sees the use (here: the ref it wrote).
TEST_F(StoreTest, GcWaitsForAStartTakingAnImageIntoUse) {
  auto hold = oci::LayerStore::HoldAgainstGc(root_, nullptr);
  ASSERT_TRUE(hold.ok());
  const oci::Digest layer = Layer("being-pulled", 16);  // no ref yet: garbage now
  std::atomic<bool> done{false};
  Result<GcResult> result = Internal("not run");
  std::thread gc([&] {
    result = CollectGarbage(root_, {});
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(done.load()) << "gc ran while a start held the store";
  Image("pulled", {layer});  // the start's use becomes visible
  hold->Reset();
  gc.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(store_->HasLayer(layer));
  EXPECT_EQ(result->layers_removed, 0);
}

TEST(ParseSizeTest, UnitsArePowersOf1024) {
  EXPECT_EQ(*ParseSize("123"), 123);
  EXPECT_EQ(*ParseSize("64K"), 65536);
  EXPECT_EQ(*ParseSize("1.5G"), 1610612736);
  EXPECT_EQ(*ParseSize("200MiB"), 209715200);
  EXPECT_FALSE(ParseSize("").ok());
  EXPECT_FALSE(ParseSize("ten").ok());
  EXPECT_FALSE(ParseSize("5Q").ok());
  EXPECT_FALSE(ParseSize("-1").ok());
}

}  // namespace
}  // namespace syspgo::node
