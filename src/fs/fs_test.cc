// SPDX-License-Identifier: Apache-2.0
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "fs/fetch.h"
#include "fs/image_tree.h"
#include "fs/mounted_image.h"

namespace syspgo::fs {
namespace {

using rtimage::Entry;
using rtimage::EntryType;

Entry Dir(std::string path) {
  Entry e;
  e.path = std::move(path);
  e.type = EntryType::kDirectory;
  e.mode = 0755;
  return e;
}
Entry File(std::string path, uint32_t content) {
  Entry e;
  e.path = std::move(path);
  e.type = EntryType::kRegular;
  e.mode = 0644;
  e.content = content;
  return e;
}

rtimage::Metadata SampleMetadata() {
  rtimage::Metadata m;
  Entry dev;
  dev.path = "/dev/null";
  dev.type = EntryType::kCharDevice;
  dev.mode = 0666;
  dev.rdev_major = 1;
  dev.rdev_minor = 3;
  Entry link;
  link.path = "/usr/lib";
  link.type = EntryType::kSymlink;
  link.symlink_target = "../lib";
  m.entries = {Dir("/"),
               Dir("/dev"),
               dev,
               Dir("/usr"),
               File("/usr/a", 0),
               Dir("/usr/bin"),
               File("/usr/bin/z", 1),
               File("/usr/hard", 0),
               link};
  m.contents.resize(2);
  m.contents[0].size = 5000;
  m.contents[1].size = 0;
  return m;
}

TEST(ImageTreeTest, InodesLookupsAndListings) {
  rtimage::Metadata m = SampleMetadata();
  auto tree = ImageTree::Build(&m);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  EXPECT_EQ(tree->InodeOf(0), ImageTree::kRootInode);
  auto usr = tree->Lookup(ImageTree::kRootInode, "usr");
  ASSERT_TRUE(usr);
  EXPECT_EQ(m.entries[*usr].path, "/usr");
  EXPECT_FALSE(tree->Lookup(ImageTree::kRootInode, "nope"));
  EXPECT_FALSE(tree->Lookup(tree->InodeOf(*tree->Lookup(tree->InodeOf(*usr), "a")), "x"))
      << "a file has no children";
  // Hard links answer with one inode and count each other.
  auto a = tree->Lookup(tree->InodeOf(*usr), "a");
  auto hard = tree->Lookup(tree->InodeOf(*usr), "hard");
  ASSERT_TRUE(a && hard);
  EXPECT_EQ(tree->InodeOf(*a), tree->InodeOf(*hard));
  EXPECT_EQ(tree->Stat(*a).st_nlink, 2u);
  EXPECT_FALSE(tree->EntryOf(tree->InodeOf(*hard) == *hard + 1 ? 0 : *hard + 1))
      << "the second link's own number is not an inode";
  // Directory listing sorted by name; nlink = 2 + subdirectories.
  std::vector<std::string> names;
  for (uint32_t kid : tree->Children(*usr)) names.emplace_back(tree->NameOf(kid));
  EXPECT_EQ(names, (std::vector<std::string>{"a", "bin", "hard", "lib"}));
  EXPECT_EQ(tree->Stat(*usr).st_nlink, 3u);
  EXPECT_EQ(tree->Stat(0).st_nlink, 4u);
  EXPECT_EQ(tree->ParentOf(*usr), 0u);
  // stat data.
  struct stat dev = tree->Stat(*tree->Lookup(tree->InodeOf(1), "null"));
  EXPECT_TRUE(S_ISCHR(dev.st_mode));
  EXPECT_EQ(major(dev.st_rdev), 1u);
  EXPECT_EQ(minor(dev.st_rdev), 3u);
  struct stat lnk = tree->Stat(*tree->Lookup(tree->InodeOf(*usr), "lib"));
  EXPECT_TRUE(S_ISLNK(lnk.st_mode));
  EXPECT_EQ(lnk.st_size, 6);
  EXPECT_EQ(tree->Stat(*a).st_size, 5000);
  EXPECT_EQ(tree->EntryOfContent(0), *a);
}

// Path order interleaves a directory's subtree with siblings whose names
// extend its own ("/a", "/a-b", "/a.c", "/a/x"): parents and name order
// must still come out right, also for metadata not in path order.
TEST(ImageTreeTest, NamesThatExtendEachOther) {
  for (bool shuffled : {false, true}) {
    rtimage::Metadata m;
    m.entries = {Dir("/"),        Dir("/a"),   File("/a-b", 0),   Dir("/a.c"),  File("/a.c/y", 0),
                 File("/a/x", 0), Dir("/a/z"), File("/a/z/q", 0), File("/b", 0)};
    if (shuffled) std::swap(m.entries[5], m.entries[6]);  // "/a/z" before "/a/x"
    m.contents.resize(1);
    auto tree = ImageTree::Build(&m);
    ASSERT_TRUE(tree.ok()) << tree.status().ToString();
    std::vector<std::string> root, a;
    for (uint32_t kid : tree->Children(0)) root.emplace_back(tree->NameOf(kid));
    auto dir_a = tree->Lookup(ImageTree::kRootInode, "a");
    ASSERT_TRUE(dir_a);
    for (uint32_t kid : tree->Children(*dir_a)) a.emplace_back(tree->NameOf(kid));
    EXPECT_EQ(root, (std::vector<std::string>{"a", "a-b", "a.c", "b"}));
    EXPECT_EQ(a, (std::vector<std::string>{"x", "z"}));
    auto q = tree->Lookup(tree->InodeOf(*tree->Lookup(tree->InodeOf(*dir_a), "z")), "q");
    ASSERT_TRUE(q);
    EXPECT_EQ(m.entries[*q].path, "/a/z/q");
    EXPECT_EQ(tree->Stat(*dir_a).st_nlink, 3u);
  }
}

TEST(ImageTreeTest, RefusesATreeWithoutParents) {
  rtimage::Metadata m;
  m.entries = {Dir("/"), File("/missing/x", 0)};
  m.contents.resize(1);
  EXPECT_FALSE(ImageTree::Build(&m).ok());
  rtimage::Metadata no_root;
  no_root.entries = {Dir("/x")};
  EXPECT_FALSE(ImageTree::Build(&no_root).ok());
  rtimage::Metadata file_parent;
  file_parent.entries = {Dir("/"), File("/f", 0), File("/f/x", 0)};
  file_parent.contents.resize(1);
  EXPECT_FALSE(ImageTree::Build(&file_parent).ok()) << "a file is no parent";
  rtimage::Metadata bad_content;
  bad_content.entries = {Dir("/"), File("/x", 7)};
  EXPECT_FALSE(ImageTree::Build(&bad_content).ok());
}

TEST(LazyModeTest, NamesRoundTrip) {
  for (LazyMode mode : {LazyMode::kLazy, LazyMode::kPrefetch, LazyMode::kRuntimeImage}) {
    auto parsed = ParseLazyMode(LazyModeName(mode));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, mode);
  }
  EXPECT_FALSE(ParseLazyMode("full").ok());
}

TEST(FlightTableTest, OneFetcherManyWaiters) {
  FlightTable flights;
  ASSERT_TRUE(flights.Claim("k"));
  EXPECT_FALSE(flights.Claim("k"));
  std::vector<Status> seen(4);
  std::vector<std::thread> waiters;
  for (size_t i = 0; i < seen.size(); ++i) {
    waiters.emplace_back([&, i] { seen[i] = flights.Wait("k"); });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  flights.Finish("k", Unavailable("registry gone"));
  for (auto& t : waiters) t.join();
  // Waiters that arrived before Finish see its outcome; a late one finds
  // nothing in flight.
  for (const Status& st : seen) {
    EXPECT_TRUE(st.ok() || st.code() == StatusCode::kUnavailable) << st.ToString();
  }
  EXPECT_TRUE(flights.Wait("k").ok());
  EXPECT_TRUE(flights.Claim("k")) << "a finished key can be fetched again";
}

// Version 2 blobs have page-aligned chunks with padding after short ones;
// version 3 blobs pack chunks, some stored compressed (fewer bytes than
// their length). Whatever sizes the network delivers, each chunk gets
// exactly its stored bytes (a padding split across two deliveries once
// shifted every later chunk).
TEST(ChunkSlicerTest, AnyDeliverySizesGiveEachChunkItsBytes) {
  for (bool packed : {false, true}) {
    std::vector<rtimage::Chunk> chunks;
    std::string blob;
    std::mt19937 rng(7);
    for (uint32_t length : {100u, 4096u, 5000u, 1u, 262144u, 3000u}) {
      rtimage::Chunk c;
      c.blob_offset = blob.size();
      c.length = length;
      c.stored = packed && length > 1000 ? length / 3 : length;
      chunks.push_back(c);
      for (uint32_t i = 0; i < c.stored; ++i) blob.push_back(static_cast<char>(rng()));
      if (!packed) blob.resize((blob.size() + 4095) / 4096 * 4096, '\0');
    }
    for (uint32_t first : {0u, 2u}) {
      for (int round = 0; round < 50; ++round) {
        ChunkSlicer slicer(&chunks, first, static_cast<uint32_t>(chunks.size() - 1));
        std::vector<uint32_t> seen;
        size_t pos = chunks[first].blob_offset;
        const size_t end = chunks.back().blob_offset + chunks.back().stored;
        while (pos < end) {
          // Small pieces, pieces of a few pages, and pieces holding several
          // whole chunks (handed over without a copy).
          const size_t cap = round % 3 == 0 ? 300 : round % 3 == 1 ? 7000 : 600000;
          size_t n = std::min<size_t>(end - pos, 1 + rng() % cap);
          slicer.Feed(std::string_view(blob).substr(pos, n), [&](uint32_t i, std::string_view d) {
            EXPECT_EQ(d, std::string_view(blob).substr(chunks[i].blob_offset, chunks[i].stored))
                << "chunk " << i;
            seen.push_back(i);
          });
          pos += n;
        }
        ASSERT_EQ(seen.size(), chunks.size() - first);
        for (size_t k = 0; k < seen.size(); ++k) EXPECT_EQ(seen[k], first + k);
      }
    }
  }
}

}  // namespace
}  // namespace syspgo::fs
