// SPDX-License-Identifier: Apache-2.0
#include "oci/image_builder.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "oci/progress.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <map>

#include "common/file_util.h"
#include "common/sha256.h"
#include "common/unique_fd.h"
#include "oci/compression.h"

namespace syspgo::oci {
namespace {

Result<std::map<std::string, std::string>> ReadXattrs(const std::string& path) {
  std::map<std::string, std::string> out;
  ssize_t len = ::llistxattr(path.c_str(), nullptr, 0);
  if (len < 0) {
    if (errno == ENOTSUP) return out;
    return ErrnoStatus(errno, "listxattr", path);
  }
  std::string names(static_cast<size_t>(len), '\0');
  len = ::llistxattr(path.c_str(), names.data(), names.size());
  if (len < 0) return ErrnoStatus(errno, "listxattr", path);
  for (size_t i = 0; i < static_cast<size_t>(len);) {
    std::string name(names.c_str() + i);
    i += name.size() + 1;
    if (name.rfind("system.", 0) == 0 || name.rfind("trusted.overlay.", 0) == 0) {
      continue;
    }
    ssize_t vlen = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (vlen < 0) continue;
    std::string value(static_cast<size_t>(vlen), '\0');
    vlen = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (vlen < 0) continue;
    value.resize(static_cast<size_t>(vlen));
    out[name] = value;
  }
  return out;
}

struct Walker {
  TarWriter& writer;
  std::map<std::pair<dev_t, ino_t>, std::string> links;  // first path per inode
  std::vector<char> buffer = std::vector<char>(1 << 20);

  Status Walk(const std::string& root, const std::string& rel) {
    std::string path = rel.empty() ? root : JoinPath(root, rel);
    ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(path));
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      std::string child_rel = rel.empty() ? name : rel + "/" + name;
      std::string child = JoinPath(root, child_rel);
      struct stat st;
      if (::lstat(child.c_str(), &st) != 0) return ErrnoStatus(errno, "lstat", child);
      TarEntry e;
      e.name = child_rel;
      e.mode = st.st_mode & 07777;
      e.uid = st.st_uid;
      e.gid = st.st_gid;
      e.mtime_sec = st.st_mtim.tv_sec;
      e.mtime_nsec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
      ASSIGN_OR_RETURN(e.xattrs, ReadXattrs(child));
      if (S_ISSOCK(st.st_mode)) continue;
      if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
        auto [it, inserted] = links.emplace(std::make_pair(st.st_dev, st.st_ino), child_rel);
        if (!inserted) {
          e.type = TarType::kHardLink;
          e.linkname = it->second;
          e.xattrs.clear();
          RETURN_IF_ERROR(writer.WriteHeader(e));
          continue;
        }
      }
      if (S_ISDIR(st.st_mode)) {
        e.type = TarType::kDirectory;
        e.name += "/";
        RETURN_IF_ERROR(writer.WriteHeader(e));
        RETURN_IF_ERROR(Walk(root, child_rel));
      } else if (S_ISREG(st.st_mode)) {
        e.type = TarType::kRegular;
        e.size = st.st_size;
        RETURN_IF_ERROR(writer.WriteHeader(e));
        ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open(child, O_RDONLY | O_NOFOLLOW));
        int64_t left = st.st_size;
        while (left > 0) {
          size_t want = static_cast<size_t>(std::min<int64_t>(left, buffer.size()));
          ASSIGN_OR_RETURN(size_t n, ReadFull(fd.get(), {buffer.data(), want}, child));
          if (n != want) return Corruption(child + " changed size while archiving");
          RETURN_IF_ERROR(writer.WriteData({buffer.data(), n}));
          left -= static_cast<int64_t>(n);
        }
      } else if (S_ISLNK(st.st_mode)) {
        e.type = TarType::kSymlink;
        std::string target(4096, '\0');
        ssize_t n = ::readlink(child.c_str(), target.data(), target.size());
        if (n < 0) return ErrnoStatus(errno, "readlink", child);
        target.resize(static_cast<size_t>(n));
        e.linkname = target;
        RETURN_IF_ERROR(writer.WriteHeader(e));
      } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
        e.type = S_ISCHR(st.st_mode)   ? TarType::kCharDevice
                 : S_ISBLK(st.st_mode) ? TarType::kBlockDevice
                                       : TarType::kFifo;
        e.devmajor = major(st.st_rdev);
        e.devminor = minor(st.st_rdev);
        RETURN_IF_ERROR(writer.WriteHeader(e));
      }
    }
    return Status::Ok();
  }
};

struct StagedLayer {
  Descriptor descriptor;
  Digest diff_id;
  std::string file;
};

Result<StagedLayer> StageLayer(const LayerInput& input, const BuildOptions& options,
                               const std::string& dir, size_t index) {
  StagedLayer staged;
  staged.file = JoinPath(dir, "layer" + std::to_string(index));
  ASSIGN_OR_RETURN(UniqueFd out, UniqueFd::Open(staged.file, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  Sha256 blob_hash, diff_hash;
  int64_t blob_size = 0;
  ASSIGN_OR_RETURN(std::unique_ptr<CompressingWriter> compressor,
                   NewCompressingWriter(
                       options.compression,
                       [&](std::span<const char> c) -> Status {
                         blob_hash.Update(c.data(), c.size());
                         blob_size += static_cast<int64_t>(c.size());
                         return WriteAll(out.get(), c, staged.file);
                       },
                       options.compression_level));
  auto tar_sink = [&](std::span<const char> c) -> Status {
    diff_hash.Update(c.data(), c.size());
    return compressor->Write(c);
  };
  if (!input.raw_tar.empty()) {
    RETURN_IF_ERROR(tar_sink({input.raw_tar.data(), input.raw_tar.size()}));
  } else {
    TarWriter writer(tar_sink);
    Walker walker{writer};
    RETURN_IF_ERROR(walker.Walk(input.directory, ""));
    RETURN_IF_ERROR(writer.Finish());
  }
  RETURN_IF_ERROR(compressor->Finish());
  staged.diff_id = Digest::Sha256Hex(diff_hash.FinalHex());
  staged.descriptor.digest = Digest::Sha256Hex(blob_hash.FinalHex());
  staged.descriptor.size = blob_size;
  switch (options.compression) {
    case Compression::kGzip:
      staged.descriptor.media_type =
          options.docker_media_types ? media_type::kDockerLayerGzip : media_type::kOciLayerGzip;
      break;
    case Compression::kZstd:
      staged.descriptor.media_type = media_type::kOciLayerZstd;
      break;
    case Compression::kNone:
      staged.descriptor.media_type = media_type::kOciLayerTar;
      break;
  }
  return staged;
}

// $SOURCE_DATE_EPOCH (reproducible builds) or now, as RFC 3339 UTC.
Result<std::string> ImageCreatedTime() {
  time_t t = ::time(nullptr);
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch && *epoch) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(epoch, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0) {
      return InvalidArgument(std::string("SOURCE_DATE_EPOCH is not a time in seconds: ") + epoch);
    }
    t = static_cast<time_t>(v);
  }
  struct tm tm;
  if (::gmtime_r(&t, &tm) == nullptr) return InvalidArgument("time out of range");
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf);
}

}  // namespace

Status WriteDirectoryAsTar(const std::string& dir, TarWriter& writer) {
  Walker walker{writer};
  return walker.Walk(dir, "");
}

Result<BuiltImage> BuildAndPushImage(const ImageReference& ref, const BuildOptions& options,
                                     const RegistryOptions& registry) {
  if (options.layers.empty()) return InvalidArgument("an image needs at least one layer");
  ASSIGN_OR_RETURN(TempDir work, TempDir::Create(options.work_dir, "syspgo-build-"));
  ASSIGN_OR_RETURN(RegistryClient client, RegistryClient::Create(ref.registry, registry));
  ImageConfig config = options.config;
  config.diff_ids.clear();
  if (std::none_of(config.env.begin(), config.env.end(),
                   [](const std::string& e) { return e.starts_with("PATH="); })) {
    config.env.insert(config.env.begin(), kDefaultImagePath);
  }
  if (config.created.empty()) {
    ASSIGN_OR_RETURN(config.created, ImageCreatedTime());
  }
  BuiltImage built;
  for (size_t i = 0; i < options.layers.size(); ++i) {
    const LayerInput& input = options.layers[i];
    if (input.directory.empty() == input.raw_tar.empty()) {
      return InvalidArgument("layer " + std::to_string(i) + ": give a directory or a tar stream");
    }
    const std::string label = "layer " + std::to_string(i + 1) + "/" +
                              std::to_string(options.layers.size()) +
                              (input.directory.empty() ? "" : " (" + input.directory + ")");
    auto say = [&](const std::string& what) {
      if (options.on_step) options.on_step(label + ": " + what);
    };
    say("archiving and compressing");
    auto staged = StageLayer(input, options, work.path(), i);
    if (!staged.ok()) {
      return staged.status().WithContext(
          "layer " + (input.directory.empty() ? std::to_string(i) : input.directory));
    }
    say("pushing " + HumanBytes(static_cast<double>(staged->descriptor.size)) + " (" +
        staged->descriptor.digest.ToString().substr(0, 19) + ")");
    const auto push_start = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(client.PushBlobFromFile(ref.repository, staged->descriptor.digest,
                                            staged->descriptor.size, staged->file));
    char took[32];
    std::snprintf(
        took, sizeof(took), "%.1f s",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - push_start).count());
    say(std::string("pushed in ") + took);
    ::unlink(staged->file.c_str());
    config.diff_ids.push_back(staged->diff_id);
    built.diff_ids.push_back(staged->diff_id);
    built.layers.push_back(staged->descriptor);
  }
  std::string config_json = SerializeImageConfig(config);
  ImageManifest manifest;
  manifest.media_type =
      options.docker_media_types ? media_type::kDockerManifest : media_type::kOciManifest;
  manifest.config.media_type =
      options.docker_media_types ? media_type::kDockerConfig : media_type::kOciConfig;
  manifest.config.digest = Digest::Of(config_json);
  manifest.config.size = static_cast<int64_t>(config_json.size());
  manifest.layers = built.layers;
  if (options.on_step) options.on_step("pushing the config and the manifest");
  RETURN_IF_ERROR(client.PushBlob(ref.repository, manifest.config.digest, config_json));
  built.manifest = SerializeImageManifest(manifest);
  ASSIGN_OR_RETURN(built.manifest_digest,
                   client.PushManifest(ref.repository, ref.ManifestReference(), manifest.media_type,
                                       built.manifest));
  return built;
}

}  // namespace syspgo::oci
