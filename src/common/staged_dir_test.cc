// SPDX-License-Identifier: Apache-2.0
// StagedDir: all files or none; names that are not plain file names, and
// symlinks in the way, write nothing outside the directory. JSON fields
// read with their types checked.
#include "common/staged_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>

#include "common/file_util.h"
#include "common/json_fields.h"

namespace syspgo {
namespace {

std::vector<std::string> Entries(const std::string& dir) {
  auto list = ListDir(dir);
  if (!list.ok()) return {};
  std::sort(list->begin(), list->end());
  return *list;
}

TEST(StagedDirTest, AllOrNothing) {
  auto tmp = TempDir::Create("/tmp", "syspgo-staged-");
  ASSERT_TRUE(tmp.ok());
  const std::string out = JoinPath(tmp->path(), "a/b/out");
  {
    auto dir = StagedDir::Open(out);
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    ASSERT_TRUE(dir->Write("one", "1").ok());
    ASSERT_TRUE(dir->Write("two", "2").ok());
    EXPECT_EQ(dir->Write("one", "again").code(), StatusCode::kAlreadyExists);
    EXPECT_EQ(Entries(out).size(), 1u) << "only the staging directory until Commit";
  }
  EXPECT_FALSE(PathExists(out)) << "made by Open, removed when abandoned";
  auto dir = StagedDir::Open(out);
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(dir->Write("one", "1").ok());
  ASSERT_TRUE(dir->Commit().ok());
  EXPECT_EQ(Entries(out), (std::vector<std::string>{"one"}));
  EXPECT_EQ(*ReadFileToString(JoinPath(out, "one")), "1");
  // An existing directory keeps what it had when a later write is abandoned.
  {
    auto again = StagedDir::Open(out);
    ASSERT_TRUE(again.ok());
    ASSERT_TRUE(again->Write("one", "changed").ok());
  }
  EXPECT_EQ(Entries(out), (std::vector<std::string>{"one"}));
  EXPECT_EQ(*ReadFileToString(JoinPath(out, "one")), "1");
}

TEST(StagedDirTest, NamesStayInside) {
  auto tmp = TempDir::Create("/tmp", "syspgo-staged-");
  ASSERT_TRUE(tmp.ok());
  const std::string out = JoinPath(tmp->path(), "out");
  ASSERT_TRUE(MakeDirs(JoinPath(out, "x-a")).ok());
  auto dir = StagedDir::Open(out);
  ASSERT_TRUE(dir.ok());
  for (const char* name :
       {"../escape", "x-a/../../escape", "/etc/escape", "", ".", "..", ".staging-x", "a/b"}) {
    EXPECT_EQ(dir->Write(name, "x").code(), StatusCode::kInvalidArgument) << name;
  }
  // A symlink where a file goes is replaced, not written through.
  const std::string victim = JoinPath(tmp->path(), "victim");
  ASSERT_TRUE(WriteFileAtomic(victim, "untouched", 0644, false).ok());
  ASSERT_EQ(::symlink(victim.c_str(), JoinPath(out, "link").c_str()), 0);
  ASSERT_TRUE(dir->Write("link", "new").ok());
  ASSERT_TRUE(dir->Commit().ok());
  EXPECT_EQ(*ReadFileToString(victim), "untouched");
  struct stat st;
  ASSERT_EQ(::lstat(JoinPath(out, "link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(Entries(tmp->path()), (std::vector<std::string>{"out", "victim"}));
  EXPECT_EQ(Entries(out), (std::vector<std::string>{"link", "x-a"}));
}

TEST(ReadFileAtTest, PlainNamesNoSymlinks) {
  auto tmp = TempDir::Create("/tmp", "syspgo-readat-");
  ASSERT_TRUE(tmp.ok());
  ASSERT_TRUE(WriteFileAtomic(JoinPath(tmp->path(), "f"), "data", 0644, false).ok());
  ASSERT_EQ(::symlink("/etc/hostname", JoinPath(tmp->path(), "l").c_str()), 0);
  auto fd = UniqueFd::Open(tmp->path(), O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(*ReadFileAt(fd->get(), "f", 100, tmp->path()), "data");
  EXPECT_FALSE(ReadFileAt(fd->get(), "l", 100, tmp->path()).ok());
  EXPECT_FALSE(ReadFileAt(fd->get(), "../f", 100, tmp->path()).ok());
  EXPECT_FALSE(ReadFileAt(fd->get(), "f", 3, tmp->path()).ok()) << "larger than the bound";
  EXPECT_TRUE(IsPlainFileName("a.b"));
  EXPECT_FALSE(IsPlainFileName(std::string(256, 'a')));
  EXPECT_FALSE(IsPlainFileName(std::string("a\0b", 3)));
}

TEST(JsonFieldsTest, TypesChecked) {
  auto j = ParseJsonObject(R"({"s": "x", "n": 5, "neg": -1, "f": 1.5, "b": true, "a": ["x"],
                               "bad_a": [1], "m": {"k": "v"}, "null": null})",
                           "test");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(*GetString(*j, "s"), "x");
  EXPECT_EQ(*GetString(*j, "null"), "");
  EXPECT_FALSE(GetString(*j, "n").ok());
  EXPECT_FALSE(GetString(*j, "missing", true).ok());
  EXPECT_EQ(*GetUint64(*j, "n"), 5u);
  EXPECT_FALSE(GetUint64(*j, "neg").ok());
  EXPECT_FALSE(GetUint64(*j, "f").ok());
  EXPECT_EQ(*GetInt64(*j, "neg"), -1);
  EXPECT_DOUBLE_EQ(*GetDouble(*j, "n"), 5.0);
  EXPECT_FALSE(GetDouble(*j, "s").ok());
  EXPECT_TRUE(*GetBool(*j, "b"));
  EXPECT_FALSE(GetBool(*j, "n").ok());
  EXPECT_EQ(GetStringArray(*j, "a")->size(), 1u);
  EXPECT_FALSE(GetStringArray(*j, "bad_a").ok());
  EXPECT_FALSE(GetStringArray(*j, "s").ok());
  EXPECT_EQ(GetStringMap(*j, "m")->at("k"), "v");
  EXPECT_FALSE(ParseJsonObject("[1]", "test").ok());
  EXPECT_FALSE(ParseJsonObject("{", "test").ok());
}

}  // namespace
}  // namespace syspgo
