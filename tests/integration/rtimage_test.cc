// SPDX-License-Identifier: Apache-2.0
// Runtime images against the real docker-registry: build from a pulled
// image and a profile, compare with the image as overlayfs shows it, fetch
// untraced ranges through the checkpoint index with Range requests, push as
// an artifact, find it from the image alone, and refuse what is wrong.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/mount.h"
#include "common/process.h"
#include "common/sha256.h"
#include "integration/integration_env.h"
#include "integration/rtimage_fixture.h"
#include "oci/layer_store.h"
#include "oci/puller.h"
#include "oci/registry_client.h"
#include "rtimage/artifact.h"
#include "rtimage/builder.h"
#include "rtimage/chunk_store.h"
#include "rtimage/layer_index.h"

namespace syspgo::testing {
namespace {

using rtimage::EntryType;

TEST_F(RuntimeImageTest, MetadataIsTheMergedImageAndExtentsAreItsBytes) {
  std::string ref = PushSampleImage("rt/merged");
  auto image = Pull(ref);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  std::string out = JoinPath(dir_.path(), "rt");
  auto report = Build(*image, out, {SampleProfile()});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->traced_files, 4u);   // busybox, big.bin, hl, over
  EXPECT_EQ(report->skipped_files, 2u);  // a symlink and a host path
  auto rt = rtimage::RuntimeImageDir::Open(out);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  ASSERT_TRUE(rt->VerifyBlob().ok());
  const rtimage::Metadata& m = rt->metadata();
  // Blob bytes: the chunks' stored bytes, packed; no chunk stored larger
  // than its bytes, and no more chunk bytes than were traced (equal ones
  // are stored once).
  uint64_t lengths = 0, stored = 0, compressed = 0;
  for (const rtimage::Chunk& c : m.chunks) {
    lengths += c.length;
    stored += c.stored;
    compressed += c.compressed() ? 1 : 0;
  }
  EXPECT_EQ(m.blob_size, stored);
  EXPECT_LE(lengths, m.traced_bytes);
  EXPECT_LE(stored, lengths);
  EXPECT_EQ(report->compressed_chunks, compressed);
  EXPECT_EQ(report->chunk_bytes, lengths);

  std::string merged = MountMerged(*image);
  std::map<std::string, MergedFile> files;
  Walk(merged, "", &files);
  ASSERT_EQ(files.size(), m.entries.size());
  std::map<ino_t, uint32_t> content_of_inode;
  for (const rtimage::Entry& e : m.entries) {
    SCOPED_TRACE(e.path);
    auto it = files.find(e.path);
    ASSERT_NE(it, files.end());
    const struct stat& st = it->second.st;
    if (e.type != EntryType::kSymlink) {
      EXPECT_EQ(e.mode, st.st_mode & 07777);
    }
    EXPECT_EQ(e.uid, st.st_uid);
    EXPECT_EQ(e.gid, st.st_gid);
    switch (e.type) {
      case EntryType::kDirectory:
        EXPECT_TRUE(S_ISDIR(st.st_mode));
        break;
      case EntryType::kSymlink:
        EXPECT_TRUE(S_ISLNK(st.st_mode));
        EXPECT_EQ(e.symlink_target, it->second.symlink_target);
        break;
      case EntryType::kCharDevice:
        EXPECT_TRUE(S_ISCHR(st.st_mode));
        EXPECT_EQ(e.rdev_major, major(st.st_rdev));
        EXPECT_EQ(e.rdev_minor, minor(st.st_rdev));
        break;
      case EntryType::kBlockDevice:
        EXPECT_TRUE(S_ISBLK(st.st_mode));
        break;
      case EntryType::kFifo:
        EXPECT_TRUE(S_ISFIFO(st.st_mode));
        break;
      case EntryType::kRegular: {
        ASSERT_TRUE(S_ISREG(st.st_mode));
        EXPECT_EQ(e.mtime_sec, st.st_mtim.tv_sec);
        const rtimage::FileContent& c = m.contents[e.content];
        ASSERT_EQ(c.size, static_cast<uint64_t>(st.st_size));
        std::string path = JoinPath(merged, e.path.substr(1));
        auto data = ReadFileToString(path, size_t{64} << 20);
        ASSERT_TRUE(data.ok());
        EXPECT_EQ(Sha256::Of(*data), c.digest);
        // Hard links: one content per inode.
        auto [ino, inserted] = content_of_inode.emplace(st.st_ino, e.content);
        EXPECT_EQ(ino->second, e.content);
        // Round trip: every extent is the file's bytes.
        for (const rtimage::Extent& x : c.extents) {
          auto bytes = rt->ReadFileRange(c, x.file_offset, x.length);
          ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
          EXPECT_TRUE(*bytes == data->substr(x.file_offset, x.length)) << x.file_offset;
        }
        break;
      }
    }
  }
  // Whiteouts and the opaque directory applied; the top layer's file wins.
  EXPECT_EQ(m.Find("/data/gone.txt"), -1);
  EXPECT_EQ(m.Find("/data/opaque/x"), -1);
  EXPECT_GE(m.Find("/data/opaque/y"), 0);
  EXPECT_EQ(m.entries[m.Find("/data/dir")].type, EntryType::kRegular);
  EXPECT_EQ(m.entries[m.Find("/data/hl")].content, m.entries[m.Find("/data/big2")].content);
  const rtimage::FileContent& over = m.contents[m.entries[m.Find("/data/over")].content];
  auto over_bytes = rt->ReadFileRange(over, 0, 3);
  ASSERT_TRUE(over_bytes.ok());
  EXPECT_EQ(*over_bytes, "new");
  const rtimage::Entry& big = m.entries[m.Find("/data/big.bin")];
  ASSERT_EQ(big.xattrs.size(), 1u);
  EXPECT_EQ(big.xattrs[0].name, "user.rtimage");
  EXPECT_EQ(big.xattrs[0].value, "yes");
  EXPECT_FALSE(m.contents[m.entries[m.Find("/data/hl")].content].extents.empty());

  // Untraced ranges: one Range request each through the checkpoint index.
  auto indexes = rtimage::DecodeLayerIndexes(rt->index_bytes());
  ASSERT_TRUE(indexes.ok()) << indexes.status().ToString();
  std::mt19937_64 rng(42);
  std::vector<const rtimage::Entry*> regular;
  for (const auto& e : m.entries) {
    if (e.type == EntryType::kRegular && m.contents[e.content].size > 0) regular.push_back(&e);
  }
  int far_from_start = 0;
  for (int i = 0; i < 40; ++i) {
    const rtimage::Entry& e = i % 2 ? *regular[rng() % regular.size()]
                                    : m.entries[m.Find(i % 4 ? "/data/big.bin" : "/data/big2")];
    const rtimage::FileContent& c = m.contents[e.content];
    uint64_t offset = rng() % c.size;
    uint64_t length = std::min<uint64_t>(c.size - offset, 1 + rng() % (256 << 10));
    const rtimage::LayerIndex& index = (*indexes)[c.layer];
    auto plan = rtimage::PlanRange(index, c.tar_offset + offset, length);
    ASSERT_TRUE(plan.ok());
    far_from_start += plan->compressed_begin > 0;
    auto digest = oci::Digest::Parse(m.layers[c.layer].digest);
    auto compressed = client_->FetchBlobRange(
        Repo(ref), *digest, static_cast<int64_t>(plan->compressed_begin),
        static_cast<int64_t>(plan->compressed_end - plan->compressed_begin));
    ASSERT_TRUE(compressed.ok()) << compressed.status().ToString();
    auto got = rtimage::ExtractRange(index, *plan, *compressed, c.tar_offset + offset, length);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == FileBytes(JoinPath(merged, e.path.substr(1)), offset, length))
        << e.path << " " << offset << "+" << length;
  }
  EXPECT_GT(far_from_start, 5);  // checkpoints were used, not just stream starts
}

TEST_F(RuntimeImageTest, ArtifactIsFoundFromTheImageAndTheImageIsUntouched) {
  std::string ref = PushSampleImage("rt/artifact");
  auto image = Pull(ref);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  std::string out = JoinPath(dir_.path(), "rt");
  ASSERT_TRUE(Build(*image, out, {SampleProfile()}).ok());
  oci::Descriptor subject{image->manifest.media_type, image->manifest_digest, image->manifest_size};
  auto pushed = rtimage::PushRuntimeImage(*client_, Repo(ref), subject, out);
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  EXPECT_FALSE(pushed->referrers_api);  // docker-registry 2.8 has no referrers API
  EXPECT_EQ(pushed->fallback_tag, "sha256-" + image->manifest_digest.hex);

  // From the reference alone.
  auto resolved = oci::ResolveImageManifest(*client_, *oci::ImageReference::Parse(ref));
  ASSERT_TRUE(resolved.ok());
  auto found = rtimage::FindRuntimeImage(*client_, Repo(ref), resolved->descriptor.digest);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->artifact, pushed->artifact);
  // The index entry carries the layers: no artifact manifest fetched. The
  // same with the tag schema asked on a second connection.
  EXPECT_FALSE((*found)->manifest.has_value());
  auto second = oci::RegistryClient::Create(registry().address(), opts_.options);
  ASSERT_TRUE(second.ok());
  auto found2 =
      rtimage::FindRuntimeImage(*client_, Repo(ref), resolved->descriptor.digest, &*second);
  ASSERT_TRUE(found2.ok() && found2->has_value()) << found2.status().ToString();
  EXPECT_EQ((*found2)->blob.digest, (*found)->blob.digest);
  EXPECT_EQ((*found2)->metadata.digest, (*found)->metadata.digest);
  auto fetched =
      rtimage::FetchRuntimeMetadata(*client_, Repo(ref), **found, image->manifest_digest);
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  auto local = ReadFileToString(JoinPath(out, "metadata"), 1 << 30);
  EXPECT_EQ(fetched->metadata_bytes, *local);
  // Pushing again replaces, not adds.
  ASSERT_TRUE(rtimage::PushRuntimeImage(*client_, Repo(ref), subject, out).ok());
  auto index = client_->GetManifest(Repo(ref), pushed->fallback_tag);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(oci::ParseImageIndex(index->body)->manifests.size(), 1u);

  // Chunks into a node store; all verified.
  auto chunks = rtimage::ChunkStore::Open(JoinPath(dir_.path(), "chunks"));
  ASSERT_TRUE(chunks.ok());
  auto fetch =
      rtimage::FetchChunks(*client_, Repo(ref), (*found)->blob, fetched->metadata, *chunks);
  ASSERT_TRUE(fetch.ok()) << fetch.status().ToString();
  EXPECT_EQ(fetch->chunks_fetched, fetched->metadata.chunks.size());
  EXPECT_LE(fetch->requests, 2u);

  // Other tools: skopeo copies the image byte for byte.
  if (access("/usr/bin/skopeo", X_OK) != 0) GTEST_SKIP() << "skopeo is not installed";
  std::string copy = JoinPath(dir_.path(), "skopeo");
  auto r =
      RunCommand({"skopeo", "copy", "--src-tls-verify=false", "docker://" + ref, "dir:" + copy});
  ASSERT_TRUE(r.ok() && r->exit.success()) << (r.ok() ? r->output : r.status().ToString());
  auto manifest = ReadFileToString(JoinPath(copy, "manifest.json"), 1 << 20);
  ASSERT_TRUE(manifest.ok());
  EXPECT_EQ(oci::Digest::Of(*manifest), image->manifest_digest);
  for (const oci::Descriptor& layer : image->manifest.layers) {
    auto blob = ReadFileToString(JoinPath(copy, layer.digest.hex), size_t{1} << 30);
    ASSERT_TRUE(blob.ok());
    EXPECT_EQ(oci::Digest::Of(*blob), layer.digest);
  }
}

TEST_F(RuntimeImageTest, WrongBytesAndWrongImagesAreRefusedDistinctly) {
  std::string ref_a = PushSampleImage("rt/wrong-a");
  auto a = Pull(ref_a);
  ASSERT_TRUE(a.ok());
  std::string out = JoinPath(dir_.path(), "rt");
  ASSERT_TRUE(Build(*a, out, {SampleProfile()}).ok());
  const std::string repo = Repo(ref_a);
  oci::Descriptor subject_a{a->manifest.media_type, a->manifest_digest, a->manifest_size};
  auto pushed = rtimage::PushRuntimeImage(*client_, repo, subject_a, out);
  ASSERT_TRUE(pushed.ok()) << pushed.status().ToString();
  auto found = rtimage::FindRuntimeImage(*client_, repo, a->manifest_digest);
  ASSERT_TRUE(found.ok() && found->has_value());
  auto fetched = rtimage::FetchRuntimeMetadata(*client_, repo, **found, a->manifest_digest);
  ASSERT_TRUE(fetched.ok());

  // Image B in the same repository: another image's digest.
  std::string ref_b = registry().address() + "/" + repo + ":other";
  auto b = PushImage(ref_b, {{IntegrationEnv::Get().busybox_rootfs(), ""}});
  ASSERT_TRUE(b.ok());
  oci::Descriptor subject_b{std::string(oci::media_type::kOciManifest), b->manifest_digest,
                            static_cast<int64_t>(b->manifest.size())};
  auto refused = rtimage::PushRuntimeImage(*client_, repo, subject_b, out);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition)
      << refused.status().ToString();
  // B's referrers tag pointing to A's runtime image: the subject differs.
  oci::ImageIndex index;
  index.media_type = std::string(oci::media_type::kOciIndex);
  index.manifests.push_back({std::string(oci::media_type::kOciManifest),
                             (*found)->artifact,
                             0,
                             std::string(rtimage::kArtifactType),
                             std::nullopt,
                             {}});
  auto artifact_body = client_->GetManifest(repo, (*found)->artifact.ToString());
  index.manifests[0].size = static_cast<int64_t>(artifact_body->body.size());
  ASSERT_TRUE(client_
                  ->PushManifest(repo, oci::ReferrersTag(b->manifest_digest),
                                 oci::media_type::kOciIndex, oci::SerializeImageIndex(index))
                  .ok());
  auto wrong = rtimage::FindRuntimeImage(*client_, repo, b->manifest_digest);
  EXPECT_EQ(wrong.status().code(), StatusCode::kFailedPrecondition) << wrong.status().ToString();
  EXPECT_NE(wrong.status().message().find("refers to image " + a->manifest_digest.ToString()),
            std::string::npos);
  // An artifact naming B as subject but holding A's metadata.
  oci::ImageManifest forged = *oci::ParseImageManifest(artifact_body->body);
  forged.subject = subject_b;
  std::string forged_body = oci::SerializeImageManifest(forged);
  ASSERT_TRUE(client_
                  ->PushManifest(repo, oci::Digest::Of(forged_body).ToString(),
                                 oci::media_type::kOciManifest, forged_body)
                  .ok());
  index.manifests[0].digest = oci::Digest::Of(forged_body);
  index.manifests[0].size = static_cast<int64_t>(forged_body.size());
  ASSERT_TRUE(client_
                  ->PushManifest(repo, oci::ReferrersTag(b->manifest_digest),
                                 oci::media_type::kOciIndex, oci::SerializeImageIndex(index))
                  .ok());
  auto forged_found = rtimage::FindRuntimeImage(*client_, repo, b->manifest_digest);
  ASSERT_TRUE(forged_found.ok() && forged_found->has_value());
  auto forged_meta =
      rtimage::FetchRuntimeMetadata(*client_, repo, **forged_found, b->manifest_digest);
  EXPECT_EQ(forged_meta.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(forged_meta.status().message().find("was built for image"), std::string::npos);
  // B's index entry carrying A's layer descriptors in the annotation (no
  // artifact manifest is fetched then): A's metadata names A, refused.
  ASSERT_TRUE(forged.annotations.count(std::string(rtimage::kLayersAnnotation)));
  index.manifests[0].annotations = forged.annotations;
  ASSERT_TRUE(client_
                  ->PushManifest(repo, oci::ReferrersTag(b->manifest_digest),
                                 oci::media_type::kOciIndex, oci::SerializeImageIndex(index))
                  .ok());
  auto annotated = rtimage::FindRuntimeImage(*client_, repo, b->manifest_digest);
  ASSERT_TRUE(annotated.ok() && annotated->has_value()) << annotated.status().ToString();
  EXPECT_FALSE((*annotated)->manifest.has_value());
  auto annotated_meta =
      rtimage::FetchRuntimeMetadata(*client_, repo, **annotated, b->manifest_digest);
  EXPECT_EQ(annotated_meta.status().code(), StatusCode::kFailedPrecondition);
  // A malformed annotation is an error, not a silent miss.
  index.manifests[0].annotations[std::string(rtimage::kLayersAnnotation)] = "[{\"digest\": 1}]";
  ASSERT_TRUE(client_
                  ->PushManifest(repo, oci::ReferrersTag(b->manifest_digest),
                                 oci::media_type::kOciIndex, oci::SerializeImageIndex(index))
                  .ok());
  EXPECT_EQ(rtimage::FindRuntimeImage(*client_, repo, b->manifest_digest).status().code(),
            StatusCode::kCorruption);

  // A tampered chunk on the registry's disk: refused by chunk digest. (The
  // registry stores blobs by digest for all repositories, and equal images
  // build equal blobs: the byte is put back afterwards.)
  std::string blob_file = registry().BlobDataPath((*found)->blob.digest);
  const off_t tamper_at = static_cast<off_t>(fetched->metadata.chunks[1].blob_offset + 7);
  auto flip_registry_byte = [&] {
    auto fd = UniqueFd::Open(blob_file, O_RDWR);
    ASSERT_TRUE(fd.ok());
    char byte = 0;
    ASSERT_EQ(pread(fd->get(), &byte, 1, tamper_at), 1);
    byte ^= 0x20;
    ASSERT_EQ(pwrite(fd->get(), &byte, 1, tamper_at), 1);
  };
  flip_registry_byte();
  auto chunks = rtimage::ChunkStore::Open(JoinPath(dir_.path(), "chunks"));
  ASSERT_TRUE(chunks.ok());
  auto tampered = rtimage::FetchChunks(*client_, repo, (*found)->blob, fetched->metadata, *chunks);
  EXPECT_EQ(tampered.status().code(), StatusCode::kCorruption);
  EXPECT_NE(tampered.status().message().find("chunk 1 "), std::string::npos)
      << tampered.status().ToString();
  EXPECT_FALSE(chunks->Has(fetched->metadata.chunks[1].digest));
  flip_registry_byte();

  // The local copy: a flipped byte, then a truncated blob.
  std::string blob_path = JoinPath(out, "blob");
  auto blob = ReadFileToString(blob_path, 1 << 30);
  ASSERT_TRUE(blob.ok());
  std::string flipped = *blob;
  flipped[fetched->metadata.chunks[0].blob_offset + 3] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(blob_path, flipped, 0644, false).ok());
  auto rt = rtimage::RuntimeImageDir::Open(out);
  ASSERT_TRUE(rt.ok());
  // Stored compressed or not, the chunk is refused (a damaged frame fails
  // to decompress, a raw chunk its digest).
  auto damaged = rt->ReadChunk(0);
  EXPECT_EQ(damaged.status().code(), StatusCode::kCorruption);
  EXPECT_NE(damaged.status().message().find("chunk 0 "), std::string::npos)
      << damaged.status().ToString();
  EXPECT_FALSE(rtimage::PushRuntimeImage(*client_, repo, subject_a, out).ok());
  ASSERT_TRUE(WriteFileAtomic(blob_path, blob->substr(0, blob->size() - 4096), 0644, false).ok());
  auto truncated = rtimage::RuntimeImageDir::Open(out);
  EXPECT_EQ(truncated.status().code(), StatusCode::kCorruption);
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos);
}

TEST_F(RuntimeImageTest, ImagesSharingDataFetchItOnce) {
  std::string ref_a = PushSampleImage("rt/dedup-a");
  auto a = Pull(ref_a);
  ASSERT_TRUE(a.ok());
  std::string extra = MakeTar({DirEntry("app/"), FileEntry("app/main", 5)}, {"", "main\n"});
  std::string ref_b = PushSampleImage("rt/dedup-b", extra);
  auto b = Pull(ref_b);
  ASSERT_TRUE(b.ok());
  rtimage::AccessProfile profile_b = SampleProfile();
  profile_b.files.push_back({"/app/main", 60, {{0, 1}}});
  auto chunks = rtimage::ChunkStore::Open(JoinPath(dir_.path(), "chunks"));
  ASSERT_TRUE(chunks.ok());
  std::vector<rtimage::ChunkFetchReport> reports;
  for (auto [image, profile, name] :
       {std::tuple{&*a, SampleProfile(), "a"}, std::tuple{&*b, profile_b, "b"}}) {
    std::string out = JoinPath(dir_.path(), name);
    ASSERT_TRUE(Build(*image, out, {profile}).ok());
    std::string repo = image->reference.repository;
    oci::Descriptor subject{image->manifest.media_type, image->manifest_digest,
                            image->manifest_size};
    ASSERT_TRUE(rtimage::PushRuntimeImage(*client_, repo, subject, out).ok());
    auto found = rtimage::FindRuntimeImage(*client_, repo, image->manifest_digest);
    ASSERT_TRUE(found.ok() && found->has_value());
    auto fetched = rtimage::FetchRuntimeMetadata(*client_, repo, **found, image->manifest_digest);
    ASSERT_TRUE(fetched.ok());
    auto report = rtimage::FetchChunks(*client_, repo, (*found)->blob, fetched->metadata, *chunks);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    reports.push_back(*report);
  }
  EXPECT_EQ(reports[0].chunks_local, 0u);
  // B shares all of A's chunks and brings one of its own.
  EXPECT_EQ(reports[1].chunks_local, reports[0].chunks);
  EXPECT_EQ(reports[1].chunks_fetched, 1u);
  EXPECT_LT(reports[1].bytes_fetched, reports[0].bytes_fetched / 10);
}

// The whole path through the binary: a traced cold start (BPF), build and
// push in one command, then inspect from the reference alone.
TEST_F(RuntimeImageTest, OptimizeThenInspect) {
  std::string ref = PushSampleImage("rt/optimize");
  std::vector<std::string> optimize = {
      SYSPGO_BINARY, "image",
      "optimize",    "--root",
      root_,         ref,
      "--",          "sh",
      "-c",          "head -c 300000 /data/big.bin > /dev/null; cat /data/over"};
  auto r = RunCommand(optimize);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->exit.success()) << r->output;
  EXPECT_NE(r->output.find("pushed runtime image"), std::string::npos) << r->output;
  auto inspect = RunCommand({SYSPGO_BINARY, "image", "inspect", "--json", ref});
  ASSERT_TRUE(inspect.ok());
  ASSERT_TRUE(inspect->exit.success()) << inspect->output;
  auto j = nlohmann::json::parse(inspect->output.substr(inspect->output.find('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << inspect->output;
  EXPECT_EQ(j["found_via"], "referrers tag schema");
  EXPECT_GT(j["entries"].get<int>(), 20);
  EXPECT_GE(j["traced_files"].get<int>(), 3);  // busybox, big.bin, over
  EXPECT_GE(j["traced_bytes"].get<uint64_t>(), 300000u);
  // Page rounding aside, the blob holds what the trace recorded.
  EXPECT_LE(j["blob_bytes"].get<uint64_t>(),
            j["traced_bytes"].get<uint64_t>() + j["chunks"].get<uint64_t>() * 4096);
  auto none =
      RunCommand({SYSPGO_BINARY, "image", "inspect", registry().address() + "/rt/optimize:nope"});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->exit.success());
}

}  // namespace
}  // namespace syspgo::testing
