// SPDX-License-Identifier: Apache-2.0
#include "common/file_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace syspgo {
namespace {

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
