// SPDX-License-Identifier: Apache-2.0
// The mount server's lines: what the server writes the starter reads back
// with the same code and message; unknown codes and garbled lines are
// internal errors, not codes outside StatusCode; a message cannot add a
// line. A handed-over manifest is taken only when it hashes to the digest
// the server serves and is an image manifest.
#include "node/mount_server_protocol.h"

#include <gtest/gtest.h>

namespace syspgo::node {
namespace {

std::string WithoutNewline(std::string s) {
  EXPECT_EQ(s.back(), '\n');
  s.pop_back();
  EXPECT_EQ(s.find('\n'), std::string::npos) << s;
  return s;
}

TEST(MountServerProtocolTest, EveryCodeRoundTrips) {
  for (int c = 1; c <= static_cast<int>(StatusCode::kResourceExhausted); ++c) {
    const Status st(static_cast<StatusCode>(c), "why: it failed");
    const ServerLine line = ParseServerLine(WithoutNewline(ErrorLine(st)));
    ASSERT_EQ(line.kind, ServerLine::kError);
    EXPECT_EQ(line.error.code(), st.code());
    EXPECT_EQ(line.error.message(), st.message());
  }
}

TEST(MountServerProtocolTest, MountedAndSettled) {
  EXPECT_EQ(ParseServerLine(WithoutNewline(MountedLine("r/a:1", "/m/mnt", "rtimage"))).kind,
            ServerLine::kMounted);
  EXPECT_EQ(MountedLine("r/a:1", "/m/mnt", "rtimage"), "mounted r/a:1 at /m/mnt (mode rtimage)\n");
  EXPECT_EQ(ParseServerLine(WithoutNewline(SettledLine())).kind, ServerLine::kSettled);
  EXPECT_EQ(ParseServerLine("log: something").kind, ServerLine::kOther);
}

TEST(MountServerProtocolTest, UnknownCodesAreInternal) {
  for (const char* bad : {"error 0 ok?", "error 14 past the end", "error 99 x", "error -1 x",
                          "error x y", "error ", "error 1000000000000 x"}) {
    const ServerLine line = ParseServerLine(bad);
    ASSERT_EQ(line.kind, ServerLine::kError) << bad;
    EXPECT_EQ(line.error.code(), StatusCode::kInternal) << bad;
    EXPECT_NE(line.error.message().find(bad), std::string::npos) << line.error.ToString();
  }
  // The real code of an internal error is read as one, message and all.
  const ServerLine internal =
      ParseServerLine(WithoutNewline(ErrorLine(Internal("cannot execute the mount server"))));
  EXPECT_EQ(internal.error.code(), StatusCode::kInternal);
  EXPECT_EQ(internal.error.message(), "cannot execute the mount server");
}

TEST(MountServerProtocolTest, AMessageCannotAddALine) {
  const std::string line = ErrorLine(NotFound("a\nmounted x at y (mode z)\r\n"));
  const ServerLine parsed = ParseServerLine(WithoutNewline(line));
  EXPECT_EQ(parsed.kind, ServerLine::kError);
  EXPECT_EQ(parsed.error.code(), StatusCode::kNotFound);
}

constexpr char kManifest[] =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
    R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":)"
    R"("sha256:1111111111111111111111111111111111111111111111111111111111111111","size":2},)"
    R"("layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":)"
    R"("sha256:2222222222222222222222222222222222222222222222222222222222222222","size":3}]})";

oci::FetchedManifest Fetched(std::string body, std::string media_type) {
  oci::FetchedManifest f;
  f.media_type = std::move(media_type);
  f.body = std::move(body);
  f.digest = oci::Digest::Of(f.body);
  return f;
}

TEST(ManifestHandoffTest, RoundTripsAgainstItsDigest) {
  const oci::FetchedManifest f = Fetched(kManifest, "application/vnd.oci.image.manifest.v1+json");
  const std::string bytes = ManifestHandoff(f);
  ASSERT_FALSE(bytes.empty());
  auto read = ReadManifestHandoff(bytes, f.digest);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->descriptor.digest, f.digest);
  EXPECT_EQ(read->descriptor.size, static_cast<int64_t>(f.body.size()));
  EXPECT_EQ(read->fetched.body, f.body);
  ASSERT_EQ(read->manifest.layers.size(), 1u);
  // No media type from the registry: the manifest's own says what it is.
  auto untyped = ReadManifestHandoff(ManifestHandoff(Fetched(kManifest, "")), f.digest);
  EXPECT_TRUE(untyped.ok()) << untyped.status().ToString();
}

TEST(ManifestHandoffTest, RefusesWhatIsNotTheDigestsManifest) {
  const oci::FetchedManifest f = Fetched(kManifest, "application/vnd.oci.image.manifest.v1+json");
  std::string bytes = ManifestHandoff(f);
  // One byte changed.
  std::string tampered = bytes;
  tampered[tampered.size() - 3] = '4';
  auto r = ReadManifestHandoff(tampered, f.digest);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
  // Another image's manifest, whole and well formed.
  const std::string other =
      std::string(kManifest).replace(std::string(kManifest).find("\"size\":3"), 10, "\"size\":4");
  r = ReadManifestHandoff(ManifestHandoff(Fetched(other, "")), f.digest);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  // No media type line, a control character in it, nothing at all.
  EXPECT_FALSE(ReadManifestHandoff(f.body, f.digest).ok());
  EXPECT_FALSE(ReadManifestHandoff("a\x01b\n" + f.body, f.digest).ok());
  EXPECT_FALSE(ReadManifestHandoff("", f.digest).ok());
  // An index with the right digest is still not an image manifest.
  const std::string index =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})";
  const oci::FetchedManifest fi = Fetched(index, "application/vnd.oci.image.index.v1+json");
  EXPECT_FALSE(ReadManifestHandoff(ManifestHandoff(fi), fi.digest).ok());
  // Larger than a manifest may be: refused before hashing.
  std::string huge(kMaxManifestHandoff + 1, ' ');
  huge[0] = '\n';
  EXPECT_EQ(ReadManifestHandoff(huge, f.digest).status().code(), StatusCode::kInvalidArgument);
}

TEST(ManifestHandoffTest, WhatCannotBeHandedOverIsFetched) {
  // A media type no single line carries, or a body over the limit: empty
  // (the server fetches the manifest itself).
  EXPECT_TRUE(ManifestHandoff(Fetched(kManifest, "a\nb")).empty());
  EXPECT_TRUE(ManifestHandoff(Fetched(std::string(kMaxManifestHandoff, ' '), "x")).empty());
}

}  // namespace
}  // namespace syspgo::node
