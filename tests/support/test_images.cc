// SPDX-License-Identifier: Apache-2.0
#include "support/test_images.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/file_util.h"
#include "common/process.h"

namespace syspgo::testing {

std::string BusyboxUnavailableReason() {
  if (::access("/bin/busybox", X_OK) != 0) {
    return "busybox is not installed (apt-get install busybox-static)";
  }
  return "";
}

Status MakeBusyboxRootfs(const std::string& dir) {
  for (const char* sub : {"bin", "etc", "tmp", "www", "root", "home/app"}) {
    RETURN_IF_ERROR(MakeDirs(JoinPath(dir, sub)));
  }
  ::chmod(JoinPath(dir, "tmp").c_str(), 01777);
  RETURN_IF_ERROR(RunCommandOk({"cp", "/bin/busybox", JoinPath(dir, "bin/busybox")}));
  for (const char* applet : {"sh", "echo", "cat", "ls", "httpd", "sleep", "true", "false", "id",
                             "touch", "stat", "test", "wc", "head", "env", "pwd", "sha256sum"}) {
    std::string link = JoinPath(dir, std::string("bin/") + applet);
    if (::symlink("busybox", link.c_str()) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "symlink", link);
    }
  }
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, "etc/passwd"),
                                  "root:x:0:0:root:/root:/bin/sh\n"
                                  "app:x:1000:1000:app:/home/app:/bin/sh\n",
                                  0644, false));
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, "etc/group"),
                                  "root:x:0:\napp:x:1000:\nextra:x:2000:app\n", 0644, false));
  return WriteFileAtomic(JoinPath(dir, "www/index.html"), "hello from syspgo\n", 0644, false);
}

Result<oci::BuiltImage> PushImage(const std::string& reference, std::vector<oci::LayerInput> layers,
                                  oci::Compression compression, bool docker_media_types,
                                  std::map<std::string, std::string> labels) {
  ASSIGN_OR_RETURN(oci::ImageReference ref, oci::ImageReference::Parse(reference));
  oci::BuildOptions options;
  options.layers = std::move(layers);
  options.compression = compression;
  options.docker_media_types = docker_media_types;
  options.config.cmd = {"sh"};
  options.config.labels = std::move(labels);
  // Reproducible: one content, one config digest, whenever it is pushed.
  options.config.created = "1970-01-01T00:00:00Z";
  TestRegistryOptions registry;
  return oci::BuildAndPushImage(ref, options, registry.options);
}

Result<oci::BuiltImage> PushWithLogin(const std::string& reference,
                                      std::vector<oci::LayerInput> layers, const std::string& user,
                                      const std::string& password, const std::string& certs_dir) {
  ASSIGN_OR_RETURN(oci::ImageReference ref, oci::ImageReference::Parse(reference));
  oci::CredentialStore creds;
  creds.Add(ref.registry, {user, password, "the test"});
  TestRegistryOptions registry;
  registry.options.credentials = &creds;
  registry.options.hosts.certs_dirs = {certs_dir};
  oci::BuildOptions build;
  build.layers = std::move(layers);
  build.config.cmd = {"sh"};
  return oci::BuildAndPushImage(ref, build, registry.options);
}

std::string MakeTar(const std::vector<oci::TarEntry>& entries,
                    const std::vector<std::string>& data) {
  std::string out;
  oci::TarWriter writer([&](std::span<const char> c) {
    out.append(c.data(), c.size());
    return Status::Ok();
  });
  for (size_t i = 0; i < entries.size(); ++i) {
    writer.WriteHeader(entries[i]).IgnoreError();
    if (entries[i].type == oci::TarType::kRegular && i < data.size()) {
      writer.WriteData({data[i].data(), data[i].size()}).IgnoreError();
    }
  }
  writer.Finish().IgnoreError();
  return out;
}

oci::TarEntry FileEntry(const std::string& name, int64_t size, uint32_t mode) {
  oci::TarEntry e;
  e.name = name;
  e.type = oci::TarType::kRegular;
  e.size = size;
  e.mode = mode;
  e.mtime_sec = 1700000000;
  return e;
}

oci::TarEntry DirEntry(const std::string& name, uint32_t mode) {
  oci::TarEntry e;
  e.name = name;
  e.type = oci::TarType::kDirectory;
  e.mode = mode;
  e.mtime_sec = 1700000000;
  return e;
}

oci::TarEntry SymlinkEntry(const std::string& name, const std::string& target) {
  oci::TarEntry e;
  e.name = name;
  e.type = oci::TarType::kSymlink;
  e.linkname = target;
  e.mode = 0777;
  e.mtime_sec = 1700000000;
  return e;
}

}  // namespace syspgo::testing
