// SPDX-License-Identifier: Apache-2.0
#include "common/file_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace syspgo {
namespace {

TEST(FileUtilTest, ParseDecimalTakesWholeUnsignedNumbersOnly) {
  uint64_t v = 0;
  ASSERT_TRUE(ParseDecimal("18446744073709551615", &v));
  EXPECT_EQ(v, UINT64_MAX);
  ASSERT_TRUE(ParseDecimal("007", &v));
  EXPECT_EQ(v, 7u);
  for (const char* bad : {"", "18446744073709551616", "-1", "+1", " 1", "1 ", "1x", "0x1"}) {
    EXPECT_FALSE(ParseDecimal(bad, &v)) << bad;
  }
}

TEST(FileUtilTest, TempDirIsRemovedWithContents) {
  std::string path;
  {
    auto dir = TempDir::Create("/tmp", "fu-test-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    path = dir->path();
    ASSERT_TRUE(MakeDirs(JoinPath(path, "a/b/c")).ok());
    ASSERT_TRUE(WriteFileAtomic(JoinPath(path, "a/b/c/f"), "x").ok());
  }
  EXPECT_FALSE(PathExists(path));
}

TEST(FileUtilTest, RemoveTreeDoesNotFollowSymlinks) {
  auto outside = TempDir::Create("/tmp", "fu-outside-");
  auto dir = TempDir::Create("/tmp", "fu-test-");
  ASSERT_TRUE(outside.ok() && dir.ok());
  std::string keep = JoinPath(outside->path(), "keep");
  ASSERT_TRUE(WriteFileAtomic(keep, "precious").ok());
  ASSERT_EQ(::symlink(outside->path().c_str(), JoinPath(dir->path(), "link").c_str()), 0);
  ASSERT_TRUE(RemoveTree(dir->path()).ok());
  EXPECT_TRUE(PathExists(keep));
  EXPECT_FALSE(PathExists(dir->path()));
}

TEST(FileUtilTest, WriteFileAtomicReplacesWhole) {
  auto dir = TempDir::Create("/tmp", "fu-test-");
  ASSERT_TRUE(dir.ok());
  std::string f = JoinPath(dir->path(), "f");
  ASSERT_TRUE(WriteFileAtomic(f, "first version").ok());
  ASSERT_TRUE(WriteFileAtomic(f, "second").ok());
  EXPECT_EQ(*ReadFileToString(f), "second");
  auto listing = ListDir(dir->path());
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(listing->size(), 1u);  // no temp file left behind
}

// Threads of one process writing one path at once (concurrent pulls
// recording the same reference): each write succeeds, one whole content
// stays, no temporary file is left.
TEST(FileUtilTest, WriteFileAtomicFromManyThreadsAtOnce) {
  auto dir = TempDir::Create("/tmp", "fu-test-");
  ASSERT_TRUE(dir.ok());
  const std::string f = JoinPath(dir->path(), "f");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        if (!WriteFileAtomic(f, std::string(1000, static_cast<char>('a' + t)), 0640).ok())
          failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto text = ReadFileToString(f);
  ASSERT_TRUE(text.ok());
  ASSERT_EQ(text->size(), 1000u);
  EXPECT_EQ(*text, std::string(1000, (*text)[0]));
  struct stat st;
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  auto listing = ListDir(dir->path());
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(listing->size(), 1u);
}

TEST(FileUtilTest, ReadMissingFileNamesPath) {
  auto r = ReadFileToString("/nonexistent/syspgo");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/syspgo"), std::string::npos);
}

TEST(FileUtilTest, PathPieces) {
  EXPECT_EQ(JoinPath("/a/", "/b"), "/a/b");
  EXPECT_EQ(BaseName("/a/b/"), "b");
  EXPECT_EQ(DirName("/a/b"), "/a");
  EXPECT_EQ(DirName("b"), ".");
  EXPECT_EQ(DirName("/b"), "/");
}

}  // namespace
}  // namespace syspgo
