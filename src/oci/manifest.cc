// SPDX-License-Identifier: Apache-2.0
#include "oci/manifest.h"

#include "common/json_fields.h"

namespace syspgo::oci {
namespace {

Result<Json> ParseObject(std::string_view body, std::string_view what) {
  return ParseJsonObject(body, what);
}

Result<Descriptor> ParseDescriptor(const Json& j) {
  if (!j.is_object()) return Corruption("descriptor is not an object");
  Descriptor d;
  ASSIGN_OR_RETURN(d.media_type, GetString(j, "mediaType", true));
  ASSIGN_OR_RETURN(std::string digest, GetString(j, "digest", true));
  auto parsed = Digest::Parse(digest);
  if (!parsed.ok()) return Corruption(parsed.status().message());
  d.digest = *parsed;
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer() || size->get<int64_t>() < 0) {
    return Corruption("descriptor " + digest + ": missing or invalid size");
  }
  d.size = size->get<int64_t>();
  ASSIGN_OR_RETURN(d.artifact_type, GetString(j, "artifactType", false));
  ASSIGN_OR_RETURN(d.annotations, GetStringMap(j, "annotations"));
  auto platform = j.find("platform");
  if (platform != j.end() && platform->is_object()) {
    Platform p;
    ASSIGN_OR_RETURN(p.os, GetString(*platform, "os", true));
    ASSIGN_OR_RETURN(p.architecture, GetString(*platform, "architecture", true));
    ASSIGN_OR_RETURN(p.variant, GetString(*platform, "variant", false));
    d.platform = p;
  }
  return d;
}

// Each element of a JSON array; errors name the element as what[i].
Result<std::vector<Descriptor>> DescriptorsFromJson(const Json& array, std::string_view what) {
  std::vector<Descriptor> out;
  for (const Json& d : array) {
    auto parsed = ParseDescriptor(d);
    if (!parsed.ok()) {
      return parsed.status().WithContext(std::string(what) + "[" + std::to_string(out.size()) +
                                         "]");
    }
    out.push_back(std::move(*parsed));
  }
  return out;
}

Result<std::vector<Descriptor>> ParseDescriptorArray(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) {
    return Corruption(std::string("missing array '") + key + "'");
  }
  return DescriptorsFromJson(*it, key);
}

Status CheckSchemaVersion(const Json& j) {
  auto v = j.find("schemaVersion");
  if (v == j.end() || !v->is_number_integer()) {
    return Corruption("missing schemaVersion");
  }
  if (v->get<int64_t>() == 1) {
    return Unimplemented("Docker image manifest schema 1 is not supported (deprecated)");
  }
  if (v->get<int64_t>() != 2) {
    return Corruption("unsupported schemaVersion " + std::to_string(v->get<int64_t>()));
  }
  return Status::Ok();
}

Json DescriptorToJson(const Descriptor& d) {
  Json j = Json::object();
  j["mediaType"] = d.media_type;
  j["digest"] = d.digest.ToString();
  j["size"] = d.size;
  if (!d.artifact_type.empty()) j["artifactType"] = d.artifact_type;
  if (d.platform) {
    Json p = {{"os", d.platform->os}, {"architecture", d.platform->architecture}};
    if (!d.platform->variant.empty()) p["variant"] = d.platform->variant;
    j["platform"] = p;
  }
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  return j;
}

Result<ImageManifest> ManifestFromJson(const Json& j) {
  RETURN_IF_ERROR(CheckSchemaVersion(j));
  ImageManifest m;
  ASSIGN_OR_RETURN(m.media_type, GetString(j, "mediaType", false));
  if (m.media_type.empty()) m.media_type = media_type::kOciManifest;
  auto config = j.find("config");
  if (config == j.end()) return Corruption("manifest has no config");
  auto cfg = ParseDescriptor(*config);
  if (!cfg.ok()) return cfg.status().WithContext("config");
  m.config = std::move(*cfg);
  ASSIGN_OR_RETURN(m.layers, ParseDescriptorArray(j, "layers"));
  ASSIGN_OR_RETURN(m.artifact_type, GetString(j, "artifactType", false));
  ASSIGN_OR_RETURN(m.annotations, GetStringMap(j, "annotations"));
  auto subject = j.find("subject");
  if (subject != j.end() && !subject->is_null()) {
    auto s = ParseDescriptor(*subject);
    if (!s.ok()) return s.status().WithContext("subject");
    m.subject = std::move(*s);
  }
  return m;
}

Result<ImageIndex> IndexFromJson(const Json& j) {
  RETURN_IF_ERROR(CheckSchemaVersion(j));
  ImageIndex index;
  ASSIGN_OR_RETURN(index.media_type, GetString(j, "mediaType", false));
  if (index.media_type.empty()) index.media_type = media_type::kOciIndex;
  ASSIGN_OR_RETURN(index.manifests, ParseDescriptorArray(j, "manifests"));
  ASSIGN_OR_RETURN(index.annotations, GetStringMap(j, "annotations"));
  return index;
}

bool IsIndexType(std::string_view t) {
  return t == media_type::kOciIndex || t == media_type::kDockerManifestList;
}
bool IsManifestType(std::string_view t) {
  return t == media_type::kOciManifest || t == media_type::kDockerManifest;
}

}  // namespace

std::string ManifestAcceptHeader() {
  return std::string(media_type::kOciIndex) + ", " + std::string(media_type::kOciManifest) + ", " +
         std::string(media_type::kDockerManifestList) + ", " +
         std::string(media_type::kDockerManifest);
}

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

Result<Compression> LayerCompression(std::string_view t) {
  if (t == media_type::kOciLayerTar ||
      t == "application/vnd.oci.image.layer.nondistributable.v1.tar") {
    return Compression::kNone;
  }
  if (t == media_type::kOciLayerGzip || t == media_type::kDockerLayerGzip ||
      t == media_type::kDockerForeignLayerGzip ||
      t == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip") {
    return Compression::kGzip;
  }
  if (t == media_type::kOciLayerZstd ||
      t == "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd") {
    return Compression::kZstd;
  }
  return Corruption("unsupported layer media type '" + std::string(t) + "'");
}

Result<ManifestDocument> ParseManifestDocument(std::string_view content_type,
                                               std::string_view body) {
  ASSIGN_OR_RETURN(Json j, ParseObject(body, "manifest"));
  // Content-Type may carry parameters ("; charset=utf-8").
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  ASSIGN_OR_RETURN(std::string own_type, GetString(j, "mediaType", false));
  if (!IsIndexType(type) && !IsManifestType(type)) type = own_type;
  bool is_index;
  if (IsIndexType(type)) {
    is_index = true;
  } else if (IsManifestType(type)) {
    is_index = false;
  } else if (j.contains("manifests")) {
    is_index = true;
  } else if (j.contains("layers") || j.contains("config")) {
    is_index = false;
  } else {
    if (j.contains("schemaVersion") && j["schemaVersion"] == 1) {
      return Unimplemented("Docker image manifest schema 1 is not supported (deprecated)");
    }
    return Corruption("document is neither an image manifest nor an index");
  }
  // A document's own mediaType must not contradict what it was served as.
  if (!own_type.empty() && (IsIndexType(own_type) != is_index)) {
    return Corruption("manifest mediaType '" + own_type + "' contradicts its content type '" +
                      std::string(content_type) + "'");
  }
  ManifestDocument doc;
  if (is_index) {
    ASSIGN_OR_RETURN(ImageIndex index, IndexFromJson(j));
    doc.index = std::move(index);
  } else {
    ASSIGN_OR_RETURN(ImageManifest m, ManifestFromJson(j));
    doc.manifest = std::move(m);
  }
  return doc;
}

Result<ImageManifest> ParseImageManifest(std::string_view body) {
  ASSIGN_OR_RETURN(Json j, ParseObject(body, "image manifest"));
  return ManifestFromJson(j);
}

Result<ImageIndex> ParseImageIndex(std::string_view body) {
  ASSIGN_OR_RETURN(Json j, ParseObject(body, "image index"));
  return IndexFromJson(j);
}

Result<Descriptor> SelectPlatform(const ImageIndex& index, std::string_view os,
                                  std::string_view architecture) {
  std::string offered;
  for (const Descriptor& d : index.manifests) {
    if (!IsManifestType(d.media_type)) continue;
    if (!d.platform) continue;
    if (d.platform->os == os && d.platform->architecture == architecture) {
      return d;
    }
    if (!offered.empty()) offered += ", ";
    offered += d.platform->os + "/" + d.platform->architecture;
    if (!d.platform->variant.empty()) offered += "/" + d.platform->variant;
  }
  return NotFound(
      "image index has no manifest for " + std::string(os) + "/" + std::string(architecture) +
      (offered.empty() ? std::string(" (it names no platforms)") : " (it has: " + offered + ")"));
}

Result<ImageConfig> ParseImageConfig(std::string_view body) {
  ASSIGN_OR_RETURN(Json j, ParseObject(body, "image config"));
  ImageConfig c;
  ASSIGN_OR_RETURN(c.architecture, GetString(j, "architecture", false));
  ASSIGN_OR_RETURN(c.os, GetString(j, "os", false));
  // Optional, and null in some images: kept only when it is a string.
  if (auto created = j.find("created"); created != j.end() && created->is_string()) {
    c.created = created->get<std::string>();
  }
  auto cfg = j.find("config");
  if (cfg != j.end() && cfg->is_object()) {
    ASSIGN_OR_RETURN(c.user, GetString(*cfg, "User", false));
    ASSIGN_OR_RETURN(c.env, GetStringArray(*cfg, "Env"));
    ASSIGN_OR_RETURN(c.entrypoint, GetStringArray(*cfg, "Entrypoint"));
    ASSIGN_OR_RETURN(c.cmd, GetStringArray(*cfg, "Cmd"));
    ASSIGN_OR_RETURN(c.working_dir, GetString(*cfg, "WorkingDir", false));
    ASSIGN_OR_RETURN(c.stop_signal, GetString(*cfg, "StopSignal", false));
    ASSIGN_OR_RETURN(c.labels, GetStringMap(*cfg, "Labels"));
    auto ports = cfg->find("ExposedPorts");
    if (ports != cfg->end() && ports->is_object()) {
      for (auto it = ports->begin(); it != ports->end(); ++it) {
        c.exposed_ports.push_back(it.key());
      }
    }
  }
  auto rootfs = j.find("rootfs");
  if (rootfs == j.end() || !rootfs->is_object()) {
    return Corruption("image config has no rootfs");
  }
  ASSIGN_OR_RETURN(std::vector<std::string> ids, GetStringArray(*rootfs, "diff_ids"));
  for (const std::string& id : ids) {
    auto d = Digest::Parse(id);
    if (!d.ok()) return Corruption("rootfs.diff_ids: " + d.status().message());
    c.diff_ids.push_back(*d);
  }
  return c;
}

std::string SerializeImageManifest(const ImageManifest& m) {
  Json j = Json::object();
  j["schemaVersion"] = 2;
  j["mediaType"] = m.media_type;
  if (!m.artifact_type.empty()) j["artifactType"] = m.artifact_type;
  j["config"] = DescriptorToJson(m.config);
  j["layers"] = Json::array();
  for (const Descriptor& d : m.layers) j["layers"].push_back(DescriptorToJson(d));
  if (m.subject) j["subject"] = DescriptorToJson(*m.subject);
  if (!m.annotations.empty()) j["annotations"] = m.annotations;
  return j.dump();
}

std::string SerializeImageIndex(const ImageIndex& index) {
  Json j = Json::object();
  j["schemaVersion"] = 2;
  j["mediaType"] = index.media_type;
  j["manifests"] = Json::array();
  for (const Descriptor& d : index.manifests) {
    j["manifests"].push_back(DescriptorToJson(d));
  }
  if (!index.annotations.empty()) j["annotations"] = index.annotations;
  return j.dump();
}

std::string SerializeDescriptors(const std::vector<Descriptor>& descriptors) {
  Json j = Json::array();
  for (const Descriptor& d : descriptors) j.push_back(DescriptorToJson(d));
  return j.dump();
}

Result<std::vector<Descriptor>> ParseDescriptors(std::string_view json) {
  Json j = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array()) {
    return Corruption("a descriptor list is not a JSON array");
  }
  return DescriptorsFromJson(j, "descriptors");
}

std::string SerializeImageConfig(const ImageConfig& c) {
  Json cfg = Json::object();
  if (!c.user.empty()) cfg["User"] = c.user;
  if (!c.env.empty()) cfg["Env"] = c.env;
  if (!c.entrypoint.empty()) cfg["Entrypoint"] = c.entrypoint;
  if (!c.cmd.empty()) cfg["Cmd"] = c.cmd;
  if (!c.working_dir.empty()) cfg["WorkingDir"] = c.working_dir;
  if (!c.stop_signal.empty()) cfg["StopSignal"] = c.stop_signal;
  if (!c.labels.empty()) cfg["Labels"] = c.labels;
  if (!c.exposed_ports.empty()) {
    Json ports = Json::object();
    for (const auto& p : c.exposed_ports) ports[p] = Json::object();
    cfg["ExposedPorts"] = ports;
  }
  Json diff_ids = Json::array();
  for (const Digest& d : c.diff_ids) diff_ids.push_back(d.ToString());
  Json j = Json::object();
  if (!c.created.empty()) j["created"] = c.created;
  j["architecture"] = c.architecture.empty() ? "amd64" : c.architecture;
  j["os"] = c.os.empty() ? "linux" : c.os;
  j["config"] = cfg;
  j["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
  return j.dump();
}

}  // namespace syspgo::oci
