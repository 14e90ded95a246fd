// SPDX-License-Identifier: Apache-2.0
#include "oci/tar.h"

#include <cstring>

#include <gtest/gtest.h>

namespace syspgo::oci {
namespace {

std::string Write(const std::vector<std::pair<TarEntry, std::string>>& entries) {
  std::string out;
  TarWriter w([&](std::span<const char> c) {
    out.append(c.data(), c.size());
    return Status::Ok();
  });
  for (const auto& [e, data] : entries) {
    EXPECT_TRUE(w.WriteHeader(e).ok());
    if (!data.empty()) {
      EXPECT_TRUE(w.WriteData({data.data(), data.size()}).ok());
    }
  }
  EXPECT_TRUE(w.Finish().ok());
  return out;
}

// Recomputes the first header's checksum after a test edited the header.
void FixChecksum(std::string* tar) {
  int64_t sum = 0;
  for (int i = 0; i < 512; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>((*tar)[i]);
  }
  std::snprintf(&(*tar)[148], 8, "%06o", static_cast<int>(sum));
  (*tar)[155] = ' ';
}

TarEntry Entry(std::string name, TarType type, int64_t size = 0) {
  TarEntry e;
  e.name = std::move(name);
  e.type = type;
  e.size = size;
  e.mode = 0640;
  e.uid = 1000;
  e.gid = 1001;
  e.mtime_sec = 1700000000;
  return e;
}

TEST(TarTest, RoundTripsEveryKindAndPaxFields) {
  std::string long_name = std::string(150, 'n') + "/file";
  TarEntry file = Entry(long_name, TarType::kRegular, 5);
  file.xattrs["user.test"] = std::string("v\0al", 4);
  file.xattrs["security.capability"] = "cap";
  file.mtime_nsec = 123456789;
  file.uid = 5000000;  // does not fit the octal field
  TarEntry link = Entry("l", TarType::kSymlink);
  link.linkname = std::string(200, 't');
  TarEntry hard = Entry("h", TarType::kHardLink);
  hard.linkname = long_name;
  TarEntry dev = Entry("dev/null", TarType::kCharDevice);
  dev.devmajor = 1;
  dev.devminor = 3;
  std::string tar = Write({{Entry("dir/", TarType::kDirectory), ""},
                           {file, "hello"},
                           {link, ""},
                           {hard, ""},
                           {dev, ""},
                           {Entry("fifo", TarType::kFifo), ""}});
  StringReader src(tar);
  TarReader r(&src);
  auto e = r.Next();
  ASSERT_TRUE(e.ok() && e->has_value()) << e.status().ToString();
  EXPECT_EQ((*e)->name, "dir/");
  EXPECT_EQ((*e)->type, TarType::kDirectory);
  EXPECT_EQ((*e)->mode, 0640u);
  EXPECT_EQ((*e)->uid, 1000);

  e = r.Next();
  ASSERT_TRUE(e.ok() && e->has_value()) << e.status().ToString();
  EXPECT_EQ((*e)->name, long_name);
  EXPECT_EQ((*e)->size, 5);
  EXPECT_EQ((*e)->uid, 5000000);
  EXPECT_EQ((*e)->mtime_nsec, 123456789u);
  EXPECT_EQ((*e)->xattrs.at("user.test"), std::string("v\0al", 4));
  EXPECT_EQ((*e)->xattrs.at("security.capability"), "cap");
  char buf[16];
  auto n = r.ReadData(buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "hello");

  e = r.Next();
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_EQ((*e)->type, TarType::kSymlink);
  EXPECT_EQ((*e)->linkname, std::string(200, 't'));
  e = r.Next();
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_EQ((*e)->type, TarType::kHardLink);
  EXPECT_EQ((*e)->linkname, long_name);
  e = r.Next();
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_EQ((*e)->devmajor, 1u);
  EXPECT_EQ((*e)->devminor, 3u);
  e = r.Next();
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_EQ((*e)->type, TarType::kFifo);
  e = r.Next();
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->has_value());
}

TEST(TarTest, SkipsUnreadData) {
  std::string tar = Write({{Entry("a", TarType::kRegular, 1000), std::string(1000, 'x')},
                           {Entry("b", TarType::kRegular, 1), "y"}});
  StringReader src(tar);
  TarReader r(&src);
  ASSERT_TRUE(r.Next().ok());
  auto b = r.Next();
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->name, "b");
  EXPECT_EQ((*b)->data_offset, 512 + 1024 + 512);
}

TEST(TarTest, DetectsCorruptHeader) {
  std::string tar = Write({{Entry("a", TarType::kRegular, 1), "x"}});
  tar[10] ^= 0x20;  // name byte: checksum no longer matches
  StringReader src(tar);
  TarReader r(&src);
  auto e = r.Next();
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kCorruption);
  EXPECT_NE(e.status().message().find("checksum"), std::string::npos);
}

TEST(TarTest, DetectsTruncation) {
  std::string tar = Write({{Entry("a", TarType::kRegular, 4000), std::string(4000, 'x')}});
  for (size_t cut : {size_t{100}, size_t{512 + 1000}}) {
    std::string part = tar.substr(0, cut);
    StringReader src(part);
    TarReader r(&src);
    auto e = r.Next();
    if (e.ok() && e->has_value()) {
      char buf[8192];
      Status st;
      for (;;) {
        auto n = r.ReadData(buf);
        if (!n.ok()) {
          st = n.status();
          break;
        }
        if (*n == 0) break;
      }
      EXPECT_FALSE(st.ok()) << "cut at " << cut;
    } else {
      EXPECT_FALSE(e.ok()) << "cut at " << cut;
    }
  }
}

// umoci 0.4 ends a layer right after the last file's data: no padding, no
// end-of-archive blocks. Go's archive/tar (containerd, docker) reads that
// as the end; a stream cut inside the padding is still an error.
TEST(TarTest, StreamEndingAfterTheLastDataIsComplete) {
  std::string tar = Write(
      {{Entry("d/", TarType::kDirectory, 0), ""}, {Entry("d/f", TarType::kRegular, 3), "hi\n"}});
  const std::string cut = tar.substr(0, 512 + 512 + 3);
  StringReader src(cut);
  TarReader r(&src);
  int entries = 0;
  for (;;) {
    auto e = r.Next();
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    if (!*e) break;
    ++entries;
  }
  EXPECT_EQ(entries, 2);
  const std::string inside = tar.substr(0, 512 + 512 + 3 + 100);
  StringReader src2(inside);
  TarReader r2(&src2);
  ASSERT_TRUE(r2.Next().ok());
  ASSERT_TRUE(r2.Next().ok());
  EXPECT_EQ(r2.Next().status().code(), StatusCode::kCorruption);
}

TEST(TarTest, RejectsHostilePax) {
  // A PAX header whose record length points past its data.
  std::string tar;
  TarWriter w([&](std::span<const char> c) {
    tar.append(c.data(), c.size());
    return Status::Ok();
  });
  TarEntry pax = Entry("PaxHeaders/x", TarType::kRegular, 0);
  std::string records = "99 path=x\n";
  pax.size = static_cast<int64_t>(records.size());
  ASSERT_TRUE(w.WriteHeader(pax).ok());
  ASSERT_TRUE(w.WriteData({records.data(), records.size()}).ok());
  ASSERT_TRUE(w.Finish().ok());
  tar[156] = 'x';
  FixChecksum(&tar);  // for the edited type flag
  StringReader src(tar);
  TarReader r(&src);
  auto e = r.Next();
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("PAX"), std::string::npos);
}

TEST(TarTest, ReadsBase256Numbers) {
  std::string tar = Write({{Entry("a", TarType::kRegular, 0), ""}});
  // uid field in base-256: 0x80 then big-endian value 70000.
  std::memset(&tar[108], 0, 8);
  tar[108] = static_cast<char>(0x80);
  tar[113] = 0x01;
  tar[114] = 0x11;
  tar[115] = 0x70;
  FixChecksum(&tar);
  StringReader src(tar);
  TarReader r(&src);
  auto e = r.Next();
  ASSERT_TRUE(e.ok() && e->has_value()) << e.status().ToString();
  EXPECT_EQ((*e)->uid, 70000);
}

}  // namespace
}  // namespace syspgo::oci
