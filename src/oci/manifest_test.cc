// SPDX-License-Identifier: Apache-2.0
#include "oci/manifest.h"

#include <gtest/gtest.h>

namespace syspgo::oci {
namespace {

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');
const std::string kC = "sha256:" + std::string(64, 'c');

TEST(ManifestTest, ParsesOciManifest) {
  std::string body = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
    "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                     kA +
                     R"(","size":12},
    "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
                     kB + R"(","size":345,"annotations":{"k":"v"}}]})";
  auto doc = ParseManifestDocument("application/vnd.oci.image.manifest.v1+json", body);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  ASSERT_TRUE(doc->manifest.has_value());
  EXPECT_EQ(doc->manifest->config.digest.ToString(), kA);
  ASSERT_EQ(doc->manifest->layers.size(), 1u);
  EXPECT_EQ(doc->manifest->layers[0].size, 345);
  EXPECT_EQ(doc->manifest->layers[0].annotations.at("k"), "v");
  // Round trip.
  auto again = ParseImageManifest(SerializeImageManifest(*doc->manifest));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->layers[0].digest.ToString(), kB);
}

TEST(ManifestTest, ParsesDockerManifestWithoutContentType) {
  std::string body =
      R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
    "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":")" +
      kA + R"(","size":1},"layers":[]})";
  auto doc = ParseManifestDocument("application/json", body);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_TRUE(doc->manifest.has_value());
}

TEST(ManifestTest, IndexSelectsLinuxAmd64) {
  std::string body =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      kA +
      R"(","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      kC +
      R"(","size":1,"platform":{"os":"unknown","architecture":"unknown"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      kB + R"(","size":1,"platform":{"os":"linux","architecture":"amd64"}}]})";
  auto doc = ParseManifestDocument("", body);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  ASSERT_TRUE(doc->index.has_value());
  auto chosen = SelectPlatform(*doc->index, "linux", "amd64");
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen->digest.ToString(), kB);
  auto missing = SelectPlatform(*doc->index, "linux", "s390x");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("linux/arm64/v8"), std::string::npos);
}

TEST(ManifestTest, RejectsMalformed) {
  EXPECT_FALSE(ParseManifestDocument("", "not json").ok());
  EXPECT_FALSE(ParseManifestDocument("", "[1,2]").ok());
  EXPECT_EQ(ParseManifestDocument("", R"({"schemaVersion":1,"fsLayers":[]})").status().code(),
            StatusCode::kUnimplemented);
  // Bad digest, negative size, missing config.
  EXPECT_FALSE(
      ParseImageManifest(
          R"({"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:12","size":1},"layers":[]})")
          .ok());
  EXPECT_FALSE(ParseImageManifest(R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" +
                                  kA + R"(","size":-1},"layers":[]})")
                   .ok());
  EXPECT_FALSE(ParseImageManifest(R"({"schemaVersion":2,"layers":[]})").ok());
  // A manifest body that claims to be an index.
  EXPECT_FALSE(
      ParseManifestDocument(
          "application/vnd.oci.image.manifest.v1+json",
          R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})")
          .ok());
}

TEST(ManifestTest, ParsesConfig) {
  std::string body =
      R"({"created":"2026-12-07T10:00:00Z","architecture":"amd64","os":"linux","config":{"User":"app","Env":["A=1"],
    "Entrypoint":["/bin/sh"],"Cmd":["-c","echo"],"WorkingDir":"/w","ExposedPorts":{"80/tcp":{}}},
    "rootfs":{"type":"layers","diff_ids":[")" +
      kA + R"("]}})";
  auto c = ParseImageConfig(body);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->user, "app");
  EXPECT_EQ(c->entrypoint, std::vector<std::string>{"/bin/sh"});
  EXPECT_EQ(c->cmd.size(), 2u);
  EXPECT_EQ(c->working_dir, "/w");
  EXPECT_EQ(c->exposed_ports, std::vector<std::string>{"80/tcp"});
  EXPECT_EQ(c->diff_ids.size(), 1u);
  EXPECT_EQ(c->created, "2026-12-07T10:00:00Z");
  auto again = ParseImageConfig(SerializeImageConfig(*c));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->cmd, c->cmd);
  EXPECT_EQ(again->created, c->created);
  // "created": null, as some images carry it: no time, no error.
  auto null_created = ParseImageConfig(R"({"created":null,"rootfs":{"diff_ids":[]}})");
  ASSERT_TRUE(null_created.ok()) << null_created.status().ToString();
  EXPECT_EQ(null_created->created, "");
  EXPECT_FALSE(ParseImageConfig(R"({"config":{"Env":"notarray"},"rootfs":{"diff_ids":[]}})").ok());
  EXPECT_FALSE(ParseImageConfig(R"({"config":{}})").ok());
}

TEST(ManifestTest, LayerCompression) {
  EXPECT_EQ(*LayerCompression(media_type::kDockerLayerGzip), Compression::kGzip);
  EXPECT_EQ(*LayerCompression(media_type::kOciLayerZstd), Compression::kZstd);
  EXPECT_EQ(*LayerCompression(media_type::kOciLayerTar), Compression::kNone);
  EXPECT_FALSE(LayerCompression("application/vnd.example.weird").ok());
}

}  // namespace
}  // namespace syspgo::oci
