// SPDX-License-Identifier: Apache-2.0
#include "snapshotter/snapshotter.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <sstream>

#include "common/file_util.h"
#include "common/prometheus.h"
#include "oci/manifest.h"
#include "oci/puller.h"
#include "oci/registry_client.h"

namespace syspgo::snapshotter {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// How long a decision about an image is reused: a usable runtime image
// for 10 minutes (pulls of one image prepare every layer within seconds),
// a refusal for 10 seconds (a runtime image may be pushed any time).
constexpr auto kUsableTtl = std::chrono::minutes(10);
constexpr auto kRefusedTtl = std::chrono::seconds(10);

Info ToInfo(const SnapshotRecord& r) {
  Info i;
  i.name = r.key;
  i.parent = r.parent;
  i.kind = r.kind;
  i.labels = r.labels;
  i.created_ns = r.created_ns;
  i.updated_ns = r.updated_ns;
  return i;
}

}  // namespace

Result<std::unique_ptr<Snapshotter>> Snapshotter::Open(SnapshotterOptions options,
                                                       const node::RegistrySetup* setup,
                                                       rtimage::TrustPolicy policy) {
  std::unique_ptr<Snapshotter> s(new Snapshotter(std::move(options), setup, std::move(policy)));
  s->state_ = JoinPath(s->options_.root, "snapshotter");
  RETURN_IF_ERROR(MakePrivateDir(s->state_));
  RETURN_IF_ERROR(MakePrivateDir(JoinPath(s->state_, "snapshots")));
  ASSIGN_OR_RETURN(s->store_, MetadataStore::Open(JoinPath(s->state_, "metadata.db")));
  s->mounts_.CleanupStale(&setup->log);
  return s;
}

rtimage::TrustPolicy Snapshotter::Policy() {
  std::lock_guard<std::mutex> lock(policy_mu_);
  return policy_;
}

void Snapshotter::SetPolicy(rtimage::TrustPolicy policy) {
  {
    std::lock_guard<std::mutex> lock(policy_mu_);
    policy_ = std::move(policy);
  }
  // Decisions made under the old policy go (a mount already started stays
  // with the snapshots that hold it).
  std::map<std::string, std::shared_ptr<const ImageDecision>> old;
  {
    std::lock_guard<std::mutex> lock(decisions_mu_);
    old.swap(decisions_);
  }
  counters_.policy_reloads++;
}

std::string Snapshotter::SnapshotDir(int64_t id) const {
  return JoinPath(JoinPath(state_, "snapshots"), std::to_string(id));
}

node::AcquireOptions Snapshotter::AcquireFor(int64_t id) const {
  node::AcquireOptions o;
  o.binary = options_.binary;
  o.server_args = options_.server_args;
  o.server_log = options_.server_log;
  o.holder = Holder(id);
  o.mode = options_.mode;
  o.timeout = options_.start_timeout;
  return o;
}

Result<std::shared_ptr<const Snapshotter::ImageDecision>> Snapshotter::Decide(
    const std::string& image_ref, const std::string& manifest, size_t layers_up) {
  const auto now = std::chrono::steady_clock::now();
  // Expired decisions are dropped (with their reference on a mount) after
  // the lock is released: dropping a last reference waits for the unmount.
  std::vector<std::shared_ptr<const ImageDecision>> expired;
  {
    std::lock_guard<std::mutex> lock(decisions_mu_);
    for (auto it = decisions_.begin(); it != decisions_.end();) {
      const auto ttl = it->second->usable.ok() ? std::chrono::steady_clock::duration(kUsableTtl)
                                               : std::chrono::steady_clock::duration(kRefusedTtl);
      if (now - it->second->at >= ttl) {
        expired.push_back(std::move(it->second));
        it = decisions_.erase(it);
      } else {
        ++it;
      }
    }
    auto it = decisions_.find(manifest);
    if (it != decisions_.end()) {
      const ImageDecision& cached = *it->second;
      if (cached.usable.ok() || layers_up == 0 || layers_up < cached.fewest_layers_up.load()) {
        if (layers_up) cached.fewest_layers_up = layers_up;
        return std::shared_ptr<const ImageDecision>(it->second);
      }
      // A refusal from an earlier pull of the image: ask again.
      expired.push_back(std::move(it->second));
      decisions_.erase(it);
    }
  }
  expired.clear();
  auto d = std::make_shared<ImageDecision>();
  d->at = now;
  if (layers_up) d->fewest_layers_up = layers_up;
  ASSIGN_OR_RETURN(oci::ImageReference ref, oci::ImageReference::Parse(image_ref));
  ASSIGN_OR_RETURN(oci::Digest digest, oci::Digest::Parse(manifest));
  auto registry_error = [&](const Status& st) {
    return Unavailable("syspgo snapshotter: cannot find out whether " + image_ref +
                       " has a runtime image: " + st.message());
  };
  const rtimage::TrustDecision trust = Policy().Decide(ref);
  if (trust.accept == rtimage::Acceptance::kNone) {
    d->usable = rtimage::NotUsed(trust).WithContext(image_ref);
  } else {
    oci::TransferCounters counters;
    auto client = oci::RegistryClient::Create(ref.registry, setup_->options, &counters);
    if (!client.ok()) return client.status();
    // The manifest containerd pulls, by its digest (whatever the tag
    // names by now): one request, checked against the digest.
    auto resolved = oci::FetchImageManifest(*client, ref.repository, digest);
    if (!resolved.ok()) {
      const StatusCode code = resolved.status().code();
      if (code == StatusCode::kUnavailable || code == StatusCode::kDeadlineExceeded ||
          code == StatusCode::kCancelled) {
        return registry_error(resolved.status());
      }
      d->usable = resolved.status();
    } else {
      // The decision is the node's shared mount itself: its server finds
      // the runtime image, checks it (binding, trust policy) and starts
      // streaming it while containerd goes on with the other layers. It
      // fails when there is no runtime image it may use.
      node::AcquireOptions o = AcquireFor(0);
      o.holder.clear();  // a reference of this process until the top layer takes its own
      auto acquired = mounts_.AcquireResolved(ref, *resolved, trust, o);
      if (acquired.ok()) {
        if (acquired->started()) counters_.mounts_started++;
        for (const auto& l : resolved->manifest.layers) d->layers.push_back(l.digest.ToString());
        d->manifest = std::move(*resolved);
        d->pending = std::make_shared<node::MountRef>(std::move(*acquired));
      } else {
        const StatusCode code = acquired.status().code();
        if (code == StatusCode::kUnavailable || code == StatusCode::kDeadlineExceeded ||
            code == StatusCode::kCancelled || code == StatusCode::kInternal) {
          return registry_error(acquired.status());
        }
        d->usable = acquired.status();
      }
    }
  }
  if (!d->usable.ok()) {
    setup_->log.Info("not serving " + image_ref + " remotely: " + d->usable.message());
  }
  std::lock_guard<std::mutex> lock(decisions_mu_);
  decisions_[manifest] = d;
  return std::shared_ptr<const ImageDecision>(d);
}

Result<std::optional<Status>> Snapshotter::TryRemote(
    const std::string& ns, const std::string& key, const std::string& parent,
    const std::map<std::string, std::string>& labels) {
  auto label = [&](const char* name) -> std::string {
    auto it = labels.find(name);
    return it == labels.end() ? std::string() : it->second;
  };
  const std::string target = label(kLabelSnapshotRef);
  const std::string image_ref = label(kLabelImageRef);
  const std::string manifest = label(kLabelManifestDigest);
  const std::string layer = label(kLabelLayerDigest);
  if (target.empty() || image_ref.empty() || manifest.empty() || layer.empty()) {
    return std::optional<Status>();
  }
  std::optional<SnapshotRecord> parent_record;
  if (!parent.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(SnapshotRecord p, store_->Get(parent));
    parent_record = std::move(p);
  }
  // "this layer,the next,...": the layers the pull has left.
  const std::string up = label(kLabelImageLayers);
  const size_t layers_up =
      up.empty() ? 0 : static_cast<size_t>(std::count(up.begin(), up.end(), ',')) + 1;
  auto decision = Decide(image_ref, manifest, layers_up);
  if (!decision.ok()) {
    counters_.registry_errors++;
    return decision.status();
  }
  if (!(*decision)->usable.ok()) return std::optional<Status>();
  const auto& layers = (*decision)->layers;
  auto it = std::find(layers.begin(), layers.end(), layer);
  if (it == layers.end()) return std::optional<Status>();
  const size_t index = static_cast<size_t>(it - layers.begin());
  // The parent is containerd's snapshot of this image's layers below this
  // one (its name is their chain id): a remote layer of this image or of
  // another image with the same layers, or a layer unpacked here for an
  // image that shares them (pulled before, or without a runtime image).
  // Either way the image's own root file system comes from its shared
  // mount, whatever the parent holds.
  if ((index == 0) != !parent_record.has_value()) return std::optional<Status>();
  if (parent_record && parent_record->kind != Kind::kCommitted) return std::optional<Status>();
  if (parent_record && parent_record->remote && parent_record->remote->layer != layers[index - 1]) {
    return std::optional<Status>();
  }
  SnapshotRecord r;
  r.key = key;
  r.parent = parent;
  r.kind = Kind::kCommitted;
  r.labels = labels;
  r.labels[kLabelRemote] = "syspgo";
  r.created_ns = r.updated_ns = NowNs();
  r.ns = ns;
  r.remote = RemoteLayer{image_ref, manifest, layer, index + 1 == layers.size()};
  int64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(id, store_->Insert(r));
  }
  if (r.remote->top) {
    // The image's root file system: the node's shared mount, held by this
    // snapshot until containerd removes it.
    ASSIGN_OR_RETURN(oci::ImageReference ref, oci::ImageReference::Parse(image_ref));
    auto acquired =
        mounts_.AcquireResolved(ref, (*decision)->manifest, Policy().Decide(ref), AcquireFor(id));
    if (!acquired.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      (void)store_->Remove(key);
      return acquired.status().WithContext("mounting " + image_ref);
    }
    if (acquired->started()) counters_.mounts_started++;
    counters_.remote_images++;
    // The snapshot holds the mount now; the decision's reference goes
    // (once the last user of the decision lets go of it).
    std::lock_guard<std::mutex> lock(decisions_mu_);
    decisions_.erase(manifest);
  }
  counters_.remote_layers++;
  setup_->log.Info("layer " + layer + " of " + image_ref + " committed as a remote snapshot" +
                   (r.remote->top ? " (the image's root file system)" : ""));
  return std::optional<Status>(
      Status(StatusCode::kAlreadyExists,
             "target snapshot \"" + target + "\": already exists (served from the runtime image)"));
}

Status Snapshotter::EnsureMounted(const SnapshotRecord& top) {
  std::lock_guard<std::mutex> lock(ensure_mu_);
  ASSIGN_OR_RETURN(oci::Digest digest, oci::Digest::Parse(top.remote->manifest));
  if (mounts_.Live(digest) && mounts_.HasReference(digest, Holder(top.id))) return Status();
  // Its server is gone (a reboot, a crash): start it again, for the same
  // manifest only.
  ASSIGN_OR_RETURN(oci::ImageReference ref, oci::ImageReference::Parse(top.remote->image));
  oci::TransferCounters counters;
  ASSIGN_OR_RETURN(oci::RegistryClient client,
                   oci::RegistryClient::Create(ref.registry, setup_->options, &counters));
  // The snapshot's own manifest, by digest (a tag moved since is not ours).
  ASSIGN_OR_RETURN(oci::ResolvedManifest resolved,
                   oci::FetchImageManifest(client, ref.repository, digest));
  auto acquired = mounts_.AcquireResolved(ref, resolved, Policy().Decide(ref), AcquireFor(top.id));
  if (!acquired.ok()) return acquired.status().WithContext("mounting " + top.remote->image);
  if (acquired->started()) counters_.mounts_started++;
  return Status();
}

Result<std::vector<Mount>> Snapshotter::CreateSnapshot(
    const std::string& ns, const std::string& key, const std::string& parent, Kind kind,
    const std::map<std::string, std::string>& labels) {
  ChainNeeds needs;
  if (!parent.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(SnapshotRecord p, store_->Get(parent));
    if (p.kind != Kind::kCommitted) {
      return FailedPrecondition("parent " + parent + " is not committed");
    }
    ASSIGN_OR_RETURN(needs, ChainNeedsLocked(parent));
  }
  RETURN_IF_ERROR(Provide(needs));
  const bool over_remote = needs.top.has_value() || needs.materialized;
  std::lock_guard<std::mutex> lock(mu_);
  SnapshotRecord r;
  r.key = key;
  r.parent = parent;
  r.kind = kind;
  r.labels = labels;
  r.created_ns = r.updated_ns = NowNs();
  r.ns = ns;
  ASSIGN_OR_RETURN(r.id, store_->Insert(r));
  const std::string dir = SnapshotDir(r.id);
  Status made = MakeDirs(JoinPath(dir, "fs"), 0755);
  if (made.ok() && kind == Kind::kActive) made = MakeDirs(JoinPath(dir, "work"), 0711);
  if (made.ok() && ::chmod(dir.c_str(), 0700) != 0) made = ErrnoStatus(errno, "chmod", dir);
  if (!made.ok()) {
    (void)store_->Remove(key);
    (void)RemoveTree(dir);
    return made;
  }
  if (over_remote && !labels.count(kLabelSnapshotRef)) {
    counters_.container_starts++;
  } else if (labels.count(kLabelSnapshotRef)) {
    counters_.unpacked_layers++;
  }
  return MountsLocked(r);
}

Result<std::vector<Mount>> Snapshotter::MountsLocked(const SnapshotRecord& r) {
  std::vector<std::string> lowers;
  if (r.remote) {
    if (!r.remote->top) {
      return FailedPrecondition("snapshot " + r.key + " is a layer served from " + r.remote->image +
                                "'s runtime image; only its last layer has a root file system");
    }
    ASSIGN_OR_RETURN(oci::Digest digest, oci::Digest::Parse(r.remote->manifest));
    return std::vector<Mount>{
        {"bind", JoinPath(node::SharedMountDir(options_.root, digest), "mnt"), {"rbind", "ro"}}};
  }
  std::string p = r.parent;
  while (!p.empty()) {
    ASSIGN_OR_RETURN(SnapshotRecord ps, store_->Get(p));
    if (ps.remote && ps.remote->top) {
      ASSIGN_OR_RETURN(oci::Digest digest, oci::Digest::Parse(ps.remote->manifest));
      lowers.push_back(JoinPath(node::SharedMountDir(options_.root, digest), "mnt"));
      break;
    }
    if (ps.remote && !Materialized(ps.id)) {
      return FailedPrecondition("snapshot " + r.key + " lies on layer " + ps.remote->layer +
                                " of " + ps.remote->image + ", which is not unpacked here");
    }
    lowers.push_back(JoinPath(SnapshotDir(ps.id), "fs"));
    p = ps.parent;
  }
  const std::string dir = SnapshotDir(r.id);
  const std::string fs_dir = JoinPath(dir, "fs");
  std::string lowerdir;
  for (size_t i = 0; i < lowers.size(); ++i) lowerdir += (i ? ":" : "") + lowers[i];
  if (r.kind == Kind::kActive) {
    if (lowers.empty()) return std::vector<Mount>{{"bind", fs_dir, {"rbind", "rw"}}};
    return std::vector<Mount>{
        {"overlay",
         "overlay",
         {"workdir=" + JoinPath(dir, "work"), "upperdir=" + fs_dir, "lowerdir=" + lowerdir}}};
  }
  // Views and committed snapshots: read-only.
  if (lowers.empty()) return std::vector<Mount>{{"bind", fs_dir, {"rbind", "ro"}}};
  if (r.kind == Kind::kCommitted) {
    return std::vector<Mount>{
        {"overlay", "overlay", {"ro", "lowerdir=" + fs_dir + ":" + lowerdir}}};
  }
  if (lowers.size() == 1) return std::vector<Mount>{{"bind", lowers[0], {"rbind", "ro"}}};
  return std::vector<Mount>{{"overlay", "overlay", {"ro", "lowerdir=" + lowerdir}}};
}

Result<std::vector<Mount>> Snapshotter::Prepare(const std::string& ns, const std::string& key,
                                                const std::string& parent,
                                                const std::map<std::string, std::string>& labels) {
  auto remote = TryRemote(ns, key, parent, labels);
  if (!remote.ok()) {
    counters_.errors++;
    return remote.status();
  }
  if (*remote) return **remote;  // AlreadyExists: containerd finds it by its labels
  auto m = CreateSnapshot(ns, key, parent, Kind::kActive, labels);
  if (!m.ok() && m.status().code() != StatusCode::kAlreadyExists) counters_.errors++;
  return m;
}

Result<std::vector<Mount>> Snapshotter::View(const std::string& ns, const std::string& key,
                                             const std::string& parent,
                                             const std::map<std::string, std::string>& labels) {
  auto m = CreateSnapshot(ns, key, parent, Kind::kView, labels);
  if (!m.ok()) counters_.errors++;
  return m;
}

Result<std::vector<Mount>> Snapshotter::Mounts(const std::string& key) {
  ChainNeeds needs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(SnapshotRecord r, store_->Get(key));
    if (!r.remote || r.remote->top) {
      ASSIGN_OR_RETURN(needs, ChainNeedsLocked(key));
    }
  }
  RETURN_IF_ERROR(Provide(needs));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(SnapshotRecord r, store_->Get(key));
  return MountsLocked(r);
}

Result<Snapshotter::ChainNeeds> Snapshotter::ChainNeedsLocked(const std::string& from) {
  ChainNeeds needs;
  std::string p = from;
  while (!p.empty()) {
    ASSIGN_OR_RETURN(SnapshotRecord ps, store_->Get(p));
    if (ps.remote && ps.remote->top) {
      needs.top = std::move(ps);
      break;
    }
    if (ps.remote) {
      if (Materialized(ps.id)) {
        needs.materialized = true;
      } else {
        needs.unpack.push_back(ps);
      }
    }
    p = ps.parent;
  }
  return needs;
}

Status Snapshotter::Provide(const ChainNeeds& needs) {
  if (needs.top) RETURN_IF_ERROR(EnsureMounted(*needs.top));
  // Bottom layer first: each one's parent is ready before it.
  LayerSources sources;
  for (auto it = needs.unpack.rbegin(); it != needs.unpack.rend(); ++it) {
    RETURN_IF_ERROR(Materialize(*it, &sources));
  }
  return Status();
}

bool Snapshotter::Materialized(int64_t id) const {
  struct stat st;
  return ::lstat(JoinPath(SnapshotDir(id), "fs").c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The image a remote layer came from, fetched once per Provide: the
// manifest by the digest containerd pulled (checked against it) and the
// config by the manifest's digest (the layers' diff_ids check what is
// unpacked), with one registry client for all its layers.
struct Snapshotter::LayerSource {
  oci::TransferCounters transfer;
  std::optional<oci::RegistryClient> client;
  oci::ImageReference ref;
  oci::ImageManifest manifest;
  oci::ImageConfig config;
};

Result<Snapshotter::LayerSource*> Snapshotter::SourceOf(const SnapshotRecord& r,
                                                        LayerSources* sources) {
  std::unique_ptr<LayerSource>& slot = (*sources)[r.remote->manifest];
  if (slot) return slot.get();
  auto src = std::make_unique<LayerSource>();
  ASSIGN_OR_RETURN(src->ref, oci::ImageReference::Parse(r.remote->image));
  ASSIGN_OR_RETURN(oci::RegistryClient client,
                   oci::RegistryClient::Create(src->ref.registry, setup_->options, &src->transfer));
  src->client.emplace(std::move(client));
  ASSIGN_OR_RETURN(oci::FetchedManifest fetched,
                   src->client->GetManifest(src->ref.repository, r.remote->manifest));
  ASSIGN_OR_RETURN(oci::ManifestDocument doc,
                   oci::ParseManifestDocument(fetched.media_type, fetched.body));
  if (!doc.manifest) return FailedPrecondition(r.remote->manifest + " is no image manifest");
  src->manifest = std::move(*doc.manifest);
  ASSIGN_OR_RETURN(std::string config_body,
                   src->client->FetchSmallBlob(src->ref.repository, src->manifest.config));
  ASSIGN_OR_RETURN(src->config, oci::ParseImageConfig(config_body));
  if (src->config.diff_ids.size() != src->manifest.layers.size()) {
    return Corruption("the image config lists " + std::to_string(src->config.diff_ids.size()) +
                      " diff_ids for " + std::to_string(src->manifest.layers.size()) + " layers");
  }
  slot = std::move(src);
  return slot.get();
}

Status Snapshotter::Materialize(const SnapshotRecord& r, LayerSources* sources) {
  std::lock_guard<std::mutex> lock(materialize_mu_);
  if (Materialized(r.id)) return Status();
  const auto t0 = std::chrono::steady_clock::now();
  auto context = [&](const Status& st) {
    return st.WithContext("unpacking layer " + r.remote->layer + " of " + r.remote->image +
                          " (served from its runtime image) as a lower layer of another image");
  };
  ASSIGN_OR_RETURN(oci::Digest layer_digest, oci::Digest::Parse(r.remote->layer));
  auto source = SourceOf(r, sources);
  if (!source.ok()) return context(source.status());
  const oci::ImageReference& ref = (*source)->ref;
  oci::RegistryClient* client = &*(*source)->client;
  const oci::ImageManifest& manifest = (*source)->manifest;
  const oci::ImageConfig* config = &(*source)->config;
  size_t index = manifest.layers.size();
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    if (manifest.layers[i].digest == layer_digest) {
      index = i;
      break;
    }
  }
  if (index == manifest.layers.size()) {
    return context(Corruption(r.remote->manifest + " does not list the layer"));
  }
  const std::string dir = SnapshotDir(r.id);
  const std::string partial = JoinPath(dir, "fs.partial");
  RETURN_IF_ERROR(MakeDirs(dir, 0700));
  if (::chmod(dir.c_str(), 0700) != 0) return ErrnoStatus(errno, "chmod", dir);
  RETURN_IF_ERROR(RemoveTree(partial));
  if (::mkdir(partial.c_str(), 0755) != 0) return ErrnoStatus(errno, "mkdir", partial);
  const oci::Descriptor& layer = manifest.layers[index];
  oci::UnpackStats stats;
  Status st = oci::UnpackVerifiedLayer(
      layer, config->diff_ids[index], partial,
      [&](const oci::BodySink& sink) {
        return client->FetchBlob(ref.repository, layer.digest, 0, sink);
      },
      {}, &stats);
  if (st.ok() && ::rename(partial.c_str(), JoinPath(dir, "fs").c_str()) != 0) {
    st = ErrnoStatus(errno, "rename", partial);
  }
  if (!st.ok()) {
    (void)RemoveTree(partial);
    return context(st);
  }
  counters_.materialized_layers++;
  setup_->log.Info(
      "layer " + r.remote->layer + " of " + r.remote->image + " unpacked here (" +
      std::to_string(layer.size) + " bytes fetched, " + std::to_string(stats.files) +
      " files) in " +
      std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) +
      " s: another image's layers lie on it");
  // Removed meanwhile: its directory goes too.
  std::lock_guard<std::mutex> store_lock(mu_);
  if (!store_->Get(r.key).ok()) (void)RemoveTree(dir);
  return Status();
}

Status Snapshotter::Commit(const std::string& name, const std::string& key,
                           const std::map<std::string, std::string>& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Status st = store_->Commit(key, name, labels, NowNs());
  if (!st.ok()) counters_.errors++;
  return st;
}

Status Snapshotter::Remove(const std::string& key) {
  SnapshotRecord r;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(r, store_->Get(key));
    RETURN_IF_ERROR(store_->Remove(key));
    // A remote layer has a directory when it was unpacked as a lower layer.
    Status st = RemoveTree(SnapshotDir(r.id));
    if (!st.ok()) setup_->log.Warning("removing snapshot " + key + ": " + st.message());
  }
  if (r.remote && r.remote->top) {
    ASSIGN_OR_RETURN(oci::Digest digest, oci::Digest::Parse(r.remote->manifest));
    // The server ends (unmounts) when this was its last reference.
    RETURN_IF_ERROR(mounts_.Release(digest, Holder(r.id)));
  }
  return Status();
}

Result<Info> Snapshotter::Stat(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(SnapshotRecord r, store_->Get(key));
  return ToInfo(r);
}

Result<Info> Snapshotter::Update(const Info& info, const std::vector<std::string>& paths) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(SnapshotRecord r, store_->Get(info.name));
  std::map<std::string, std::string> labels = r.labels;
  if (paths.empty()) {
    labels = info.labels;
  } else {
    for (const std::string& path : paths) {
      if (path == "labels") {
        labels = info.labels;
      } else if (path.starts_with("labels.")) {
        const std::string k = path.substr(7);
        auto it = info.labels.find(k);
        if (it == info.labels.end()) {
          labels.erase(k);
        } else {
          labels[k] = it->second;
        }
      } else {
        return InvalidArgument("cannot update " + path + " of snapshot " + info.name);
      }
    }
  }
  if (r.remote) labels[kLabelRemote] = "syspgo";  // what containerd relies on stays
  RETURN_IF_ERROR(store_->SetLabels(info.name, labels, NowNs()));
  ASSIGN_OR_RETURN(SnapshotRecord updated, store_->Get(info.name));
  return ToInfo(updated);
}

Result<std::vector<Info>> Snapshotter::List() {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> all, store_->List());
  std::vector<Info> out;
  out.reserve(all.size());
  for (const auto& r : all) out.push_back(ToInfo(r));
  return out;
}

Result<Usage> Snapshotter::DiskUsage(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(SnapshotRecord r, store_->Get(key));
  Usage u;
  // On the node's shared mount, not on this disk, unless unpacked here.
  if (r.remote && !Materialized(r.id)) return u;
  // What is in the upper or layer directory, not the directory itself.
  const std::string fs = JoinPath(SnapshotDir(r.id), "fs");
  const DiskUse use = MeasureDiskUse(fs);
  struct stat st;
  const int64_t self = ::lstat(fs.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_blocks) * 512 : 0;
  u.size = std::max<int64_t>(0, use.bytes - self);
  u.inodes = std::max<int64_t>(0, use.inodes - 1);
  return u;
}

Status Snapshotter::Cleanup() {
  std::vector<SnapshotRecord> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(all, store_->List());
    std::set<std::string> owned;
    for (const auto& r : all) owned.insert(std::to_string(r.id));
    auto dirs = ListDir(JoinPath(state_, "snapshots"));
    if (dirs.ok()) {
      for (const std::string& d : *dirs) {
        if (owned.count(d)) continue;
        setup_->log.Info("cleanup: removing snapshot directory " + d + " that no snapshot owns");
        Status st = RemoveTree(JoinPath(JoinPath(state_, "snapshots"), d));
        if (!st.ok()) setup_->log.Warning(st.message());
      }
    }
  }
  // References on shared mounts held for remote snapshots that are gone.
  std::set<std::pair<std::string, std::string>> held;
  for (const auto& r : all) {
    if (r.remote && r.remote->top) {
      auto digest = oci::Digest::Parse(r.remote->manifest);
      if (digest.ok()) held.insert({digest->hex, Holder(r.id)});
    }
  }
  for (const auto& [hex, holder] : mounts_.References()) {
    if (!holder.starts_with("snap-") || held.count({hex, holder})) continue;
    auto digest = oci::Digest::Parse("sha256:" + hex);
    if (!digest.ok()) continue;
    setup_->log.Info("cleanup: dropping reference " + holder +
                     " on the shared mount of sha256:" + hex);
    (void)mounts_.Release(*digest, holder);
  }
  return Status();
}

std::vector<std::pair<std::string, node::MountStats>> Snapshotter::MountStatistics() {
  std::vector<SnapshotRecord> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto listed = store_->List();
    if (listed.ok()) all = std::move(*listed);
  }
  std::vector<std::pair<std::string, node::MountStats>> out;
  for (const auto& r : all) {
    if (!r.remote || !r.remote->top) continue;
    auto digest = oci::Digest::Parse(r.remote->manifest);
    if (!digest.ok()) continue;
    auto stats = mounts_.Stats(*digest);
    if (stats.ok()) out.push_back({r.remote->image, std::move(*stats)});
  }
  return out;
}

std::string Snapshotter::Metrics(bool up) {
  std::ostringstream o;
  o << "# HELP syspgo_snapshotter_up Whether the snapshotter runs (0: it stopped; totals are "
       "its last).\n# TYPE syspgo_snapshotter_up gauge\nsyspgo_snapshotter_up "
    << (up ? 1 : 0) << "\n";
  auto counter = [&](const char* name, const char* help, int64_t v) {
    o << PrometheusHeader(name, help, "counter") << name << " " << v << "\n";
  };
  counter("syspgo_snapshotter_remote_layers_total",
          "Layers committed as remote snapshots (neither fetched nor unpacked by containerd).",
          counters_.remote_layers.load());
  counter("syspgo_snapshotter_remote_images_total",
          "Images whose root file system is served from their runtime image.",
          counters_.remote_images.load());
  counter("syspgo_snapshotter_unpacked_layers_total",
          "Layers containerd fetched and unpacked into overlayfs snapshots here.",
          counters_.unpacked_layers.load());
  counter("syspgo_snapshotter_materialized_layers_total",
          "Layers served from a runtime image that were unpacked here because another "
          "image's layers lie on them.",
          counters_.materialized_layers.load());
  counter("syspgo_snapshotter_container_starts_total",
          "Container snapshots prepared over an image served from its runtime image.",
          counters_.container_starts.load());
  counter("syspgo_snapshotter_mounts_started_total", "Shared mounts this snapshotter started.",
          counters_.mounts_started.load());
  counter("syspgo_snapshotter_errors_total", "Requests that failed.", counters_.errors.load());
  counter("syspgo_snapshotter_policy_reloads_total", "Trust policies loaded after the start.",
          counters_.policy_reloads.load());
  counter("syspgo_snapshotter_policy_reload_errors_total",
          "Changed trust policies that could not be loaded (the last good one stays).",
          counters_.policy_reload_errors.load());
  counter("syspgo_snapshotter_registry_errors_total",
          "Layers whose image could not be looked up in its registry.",
          counters_.registry_errors.load());
  if (!up) return o.str();
  const auto stats = MountStatistics();
  auto per_mount = [&](const char* name, const char* help, auto get) {
    o << PrometheusHeader(name, help, "counter");
    for (const auto& [image, s] : stats) {
      o << name << "{image=\"" << PrometheusLabelValue(image) << "\",mode=\""
        << PrometheusLabelValue(s.mode) << "\"} " << get(s) << "\n";
    }
  };
  per_mount("syspgo_mount_registry_requests_total",
            "Registry requests of a shared mount (locate, runtime image, fallback).",
            [](const node::MountStats& s) { return s.registry_requests; });
  per_mount("syspgo_mount_registry_bytes_total", "Bytes a shared mount fetched from its registry.",
            [](const node::MountStats& s) { return s.registry_bytes; });
  per_mount("syspgo_mount_runtime_image_bytes_total",
            "Bytes read from a shared mount that its runtime image answered.",
            [](const node::MountStats& s) {
              return s.fs.contains("fuse") ? s.fs["fuse"].value("bytes_runtime_image", int64_t{0})
                                           : int64_t{0};
            });
  per_mount("syspgo_mount_misses_total", "Reads the runtime image could not answer.",
            [](const node::MountStats& s) { return s.misses; });
  per_mount("syspgo_mount_fallback_requests_total",
            "Layer range requests for what the runtime image lacks.",
            [](const node::MountStats& s) { return s.fallback_requests; });
  per_mount("syspgo_mount_read_errors_total", "Reads that failed (EIO).",
            [](const node::MountStats& s) { return s.errors; });
  return o.str();
}

}  // namespace syspgo::snapshotter
