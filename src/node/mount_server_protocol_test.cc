// SPDX-License-Identifier: Apache-2.0
// The mount server's lines: what the server writes the starter reads back
// with the same code and message; unknown codes and garbled lines are
// internal errors, not codes outside StatusCode; a message cannot add a
// line. A handed-over manifest is taken only when it hashes to the digest
// the server serves and is an image manifest.
#include "node/mount_server_protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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
  const std::map<std::string, std::string> tokens = {
      {"https://reg.example repository:app:pull", "eyJhbGciOi.J9.sig"}};
  const std::string bytes = ManifestHandoff(f, tokens);
  ASSERT_FALSE(bytes.empty());
  auto read = ReadManifestHandoff(bytes, f.digest);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->manifest.descriptor.digest, f.digest);
  EXPECT_EQ(read->manifest.descriptor.size, static_cast<int64_t>(f.body.size()));
  EXPECT_EQ(read->manifest.fetched.body, f.body);
  ASSERT_EQ(read->manifest.manifest.layers.size(), 1u);
  EXPECT_EQ(read->tokens, tokens);
  // No media type from the registry: the manifest's own says what it is.
  auto untyped = ReadManifestHandoff(ManifestHandoff(Fetched(kManifest, "")), f.digest);
  EXPECT_TRUE(untyped.ok()) << untyped.status().ToString();
  EXPECT_TRUE(untyped->tokens.empty());
}

TEST(ManifestHandoffTest, RefusesWhatIsNotTheDigestsManifest) {
  const oci::FetchedManifest f = Fetched(kManifest, "application/vnd.oci.image.manifest.v1+json");
  const std::string bytes = ManifestHandoff(f);
  // One byte of the manifest changed.
  std::string tampered = bytes;
  const size_t at = tampered.find("\\\"size\\\":3");
  ASSERT_NE(at, std::string::npos) << tampered;
  tampered[at + 9] = '4';
  auto r = ReadManifestHandoff(tampered, f.digest);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
  // Another image's manifest, whole and well formed.
  std::string other = kManifest;
  other.replace(other.find("\"size\":3"), 8, "\"size\":4");
  r = ReadManifestHandoff(ManifestHandoff(Fetched(other, "")), f.digest);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  // An index with the right digest is still not an image manifest.
  const std::string index =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})";
  const oci::FetchedManifest fi = Fetched(index, "application/vnd.oci.image.index.v1+json");
  EXPECT_FALSE(ReadManifestHandoff(ManifestHandoff(fi), fi.digest).ok());
}

TEST(ManifestHandoffTest, RefusesWhatIsNotAHandoff) {
  const oci::FetchedManifest f = Fetched(kManifest, "application/vnd.oci.image.manifest.v1+json");
  auto refused = [&](const std::string& bytes) {
    auto r = ReadManifestHandoff(bytes, f.digest);
    EXPECT_FALSE(r.ok()) << bytes;
    return !r.ok();
  };
  nlohmann::json good = nlohmann::json::parse(ManifestHandoff(f));
  EXPECT_TRUE(ReadManifestHandoff(good.dump(), f.digest).ok());
  refused("");
  refused(f.body);  // the manifest alone
  refused("[1,2]");
  for (const char* field : {"version", "media_type", "manifest", "tokens"}) {
    nlohmann::json j = good;
    j.erase(field);
    refused(j.dump());
    j = good;
    j[field] = 7.5;
    refused(j.dump());
  }
  nlohmann::json j = good;
  j["version"] = 2;
  refused(j.dump());
  // A token that would add a header line, or one for no origin.
  j = good;
  j["tokens"] = {{"https://reg.example repository:app:pull", "abc\r\nX-Evil: 1"}};
  refused(j.dump());
  j["tokens"] = {{"no-scope", "abc"}};
  refused(j.dump());
  j["tokens"] = {{"https://reg.example repository:app:pull", 5}};
  refused(j.dump());
  // Larger than a handoff may be: refused before parsing.
  EXPECT_EQ(
      ReadManifestHandoff(std::string(kMaxManifestHandoff + 1, ' '), f.digest).status().code(),
      StatusCode::kInvalidArgument);
}

TEST(ManifestHandoffTest, WhatCannotBeHandedOverIsFetched) {
  // A media type no line carries, bytes that are not UTF-8 text: empty
  // (the server fetches the manifest itself). Tokens out of bounds are
  // left out, not sent.
  EXPECT_TRUE(ManifestHandoff(Fetched(kManifest, "a\nb")).empty());
  EXPECT_TRUE(ManifestHandoff(Fetched(std::string(kManifest) + "\xff", "")).empty());
  const oci::FetchedManifest f = Fetched(kManifest, "");
  std::map<std::string, std::string> tokens = {
      {"https://r repository:a:pull", "ok"},
      {"https://r repository:b:pull", "a\nb"},
      {"https://r repository:c:pull", std::string(kMaxTokenBytes + 1, 't')}};
  auto read = ReadManifestHandoff(ManifestHandoff(f, tokens), f.digest);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->tokens.size(), 1u);
  EXPECT_EQ(read->tokens.count("https://r repository:a:pull"), 1u);
}

}  // namespace
}  // namespace syspgo::node
