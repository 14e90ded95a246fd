// SPDX-License-Identifier: Apache-2.0
#include "oci/layer_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

namespace syspgo::oci {
namespace {

TEST(LayerStoreTest, BlobsAreVerifiedOnTheWayInAndOut) {
  auto dir = TempDir::Create("/tmp", "store-test-");
  ASSERT_TRUE(dir.ok());
  auto store = LayerStore::Open(dir->path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Digest d = Digest::Of("content");
  EXPECT_FALSE(store->PutBlob(Digest::Of("other"), "content").ok());
  EXPECT_FALSE(store->HasBlob(Digest::Of("other")));
  ASSERT_TRUE(store->PutBlob(d, "content").ok());
  EXPECT_EQ(*store->ReadBlob(d), "content");
  // Bit rot on disk is caught when read.
  ASSERT_TRUE(WriteFileAtomic(store->BlobPath(d), "contenT").ok());
  auto r = store->ReadBlob(d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
}

TEST(LayerStoreTest, LayersAppearOnlyWhenCommitted) {
  auto dir = TempDir::Create("/tmp", "store-test-");
  ASSERT_TRUE(dir.ok());
  auto store = LayerStore::Open(dir->path());
  ASSERT_TRUE(store.ok());
  Digest diff = Digest::Of("layer");
  auto work = store->NewTempDir("layer-");
  ASSERT_TRUE(work.ok());
  ASSERT_TRUE(MakeDirs(JoinPath(work->path(), "fs/etc")).ok());
  EXPECT_FALSE(store->HasLayer(diff));
  ASSERT_TRUE(store->CommitLayer(std::move(*work), diff).ok());
  EXPECT_TRUE(store->HasLayer(diff));
  EXPECT_TRUE(PathExists(JoinPath(store->LayerFsPath(diff), "etc")));
  // A second commit of the same layer (another process won) is fine.
  auto again = store->NewTempDir("layer-");
  ASSERT_TRUE(again.ok());
  std::string again_path = again->path();
  ASSERT_TRUE(MakeDirs(JoinPath(again_path, "fs")).ok());
  ASSERT_TRUE(store->CommitLayer(std::move(*again), diff).ok());
  EXPECT_FALSE(PathExists(again_path));
}

TEST(LayerStoreTest, StaleSessionsAreRemovedLiveOnesKept) {
  auto dir = TempDir::Create("/tmp", "store-test-");
  ASSERT_TRUE(dir.ok());
  // A session left by a killed process: no lock holder.
  std::string stale = JoinPath(dir->path(), "tmp/session-dead");
  ASSERT_TRUE(MakeDirs(JoinPath(stale, "layer-x/fs")).ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(stale, "lock"), "").ok());
  auto live = LayerStore::Open(dir->path());
  ASSERT_TRUE(live.ok());
  EXPECT_FALSE(PathExists(stale));
  auto work = live->NewTempDir("layer-");
  ASSERT_TRUE(work.ok());
  // A second store (another process) must not remove the live session.
  auto other = LayerStore::Open(dir->path());
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(PathExists(work->path()));
}

// Many starts open one store at once: none removes another's new session
// (each used to see the others' session directories before their locks
// existed, and removed them as stale).
TEST(LayerStoreTest, StoresOpenedAtOnceKeepTheirSessions) {
  auto dir = TempDir::Create("/tmp", "store-test-");
  ASSERT_TRUE(dir.ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 150; ++i) {
        auto store = LayerStore::Open(dir->path());
        if (!store.ok() || !store->NewTempDir("layer-").ok()) failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto left = ListDir(JoinPath(dir->path(), "tmp"));
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());  // every session went with its store
}

TEST(LayerStoreTest, OneFetcherOfALayerAtATimeAcrossStores) {
  auto dir = TempDir::Create("/tmp", "store-test-");
  ASSERT_TRUE(dir.ok());
  auto a = LayerStore::Open(dir->path());
  auto b = LayerStore::Open(dir->path());  // another process's view
  ASSERT_TRUE(a.ok() && b.ok());
  const Digest diff = Digest::Of("layer");
  auto held = a->LockLayer(diff, nullptr);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  struct stat st;
  ASSERT_EQ(::stat(JoinPath(dir->path(), "locks/layers/" + diff.hex).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Another layer is not held up.
  EXPECT_TRUE(b->LockLayer(Digest::Of("other"), nullptr).ok());
  // The same layer waits for the holder...
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto second = b->LockLayer(diff, nullptr);
    EXPECT_TRUE(second.ok());
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(got.load());
  held->Reset();  // ...until it lets go
  waiter.join();
  EXPECT_TRUE(got.load());
  // A cancelled wait gives up.
  auto again = a->LockLayer(diff, nullptr);
  ASSERT_TRUE(again.ok());
  CancelToken cancel;
  cancel.Cancel();
  auto refused = b->LockLayer(diff, &cancel);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kCancelled);
}

TEST(LayerStoreTest, Refs) {
  auto dir = TempDir::Create("/tmp", "store-test-");
  ASSERT_TRUE(dir.ok());
  auto store = LayerStore::Open(dir->path());
  ASSERT_TRUE(store.ok());
  Digest d = Digest::Of("m");
  EXPECT_EQ(store->GetRef("127.0.0.1:5000/a:b").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store->SetRef("127.0.0.1:5000/a:b", d).ok());
  EXPECT_EQ(*store->GetRef("127.0.0.1:5000/a:b"), d);
}

}  // namespace
}  // namespace syspgo::oci
