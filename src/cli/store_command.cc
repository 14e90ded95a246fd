// SPDX-License-Identifier: Apache-2.0
// `syspgo images`, `syspgo rmi` and `syspgo gc`: the store (node/store.h).
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "node/store.h"
#include "snapshotter/inventory.h"
#include "oci/progress.h"
#include "oci/reference.h"

namespace syspgo::cli {
namespace {

constexpr char kImagesUsage[] = R"(USAGE: syspgo images [OPTIONS]

Lists the images in the store (pulled, or started in full mode), their size
on disk, and the caches of runtime images and lazy starts.

OPTIONS:
  --json         one JSON document instead of the table
  --root DIR     store directory (default /var/lib/syspgo, or $SYSPGO_ROOT)
)";

constexpr char kRmiUsage[] = R"(USAGE: syspgo rmi [OPTIONS] IMAGE...

Removes images from the store: their references, then every layer and blob
no other stored image and no running container uses. A running container's
layers stay until it ends (`syspgo gc` removes them then).

OPTIONS:
  --root DIR     store directory (default /var/lib/syspgo, or $SYSPGO_ROOT)
)";

constexpr char kGcUsage[] = R"(USAGE: syspgo gc [OPTIONS]

Removes from the store what nothing uses: layers and blobs no stored image
names, and the caches of runtime-image chunks, lazy spans and fetched
runtime images (unless a lazy mount of the store is live). Never what a
running container or a live mount holds; a start that is taking an image
into use makes gc wait until it has.

With --max-size, removes least recently used things first and stops once the
store fits; if it still does not fit, removes whole stored images that no
container runs, least recently pulled or started first (as the kubelet's
image garbage collection does).

OPTIONS:
  --max-size SIZE  stop once the store is at most SIZE (1024-based: 500M,
                   20G); without it, remove all garbage and keep every image
  --dry-run        say what would be removed; remove nothing
  --root DIR       store directory (default /var/lib/syspgo, or $SYSPGO_ROOT)

EXAMPLES:
  syspgo gc
  syspgo gc --max-size 50G      # e.g. from a systemd timer
)";

std::string Bytes(int64_t n) { return oci::HumanBytes(static_cast<double>(n)); }

std::string Age(int64_t when) {
  if (when <= 0) return "-";
  const int64_t s = static_cast<int64_t>(std::time(nullptr)) - when;
  if (s < 120) return std::to_string(s) + " s ago";
  if (s < 7200) return std::to_string(s / 60) + " min ago";
  if (s < 172800) return std::to_string(s / 3600) + " h ago";
  return std::to_string(s / 86400) + " days ago";
}

void PrintGc(const node::GcResult& r, bool dry_run) {
  const char* verb = dry_run ? "would remove" : "removed";
  std::printf("%s %lld layer(s), %lld blob(s), %lld cache entr%s", verb,
              static_cast<long long>(r.layers_removed), static_cast<long long>(r.blobs_removed),
              static_cast<long long>(r.cache_entries_removed),
              r.cache_entries_removed == 1 ? "y" : "ies");
  if (!r.images_removed.empty()) {
    std::printf(", %zu image(s):", r.images_removed.size());
    for (const std::string& ref : r.images_removed) std::printf(" %s", ref.c_str());
  }
  std::printf("\nstore: %s -> %s", Bytes(r.bytes_before).c_str(), Bytes(r.bytes_after).c_str());
  if (r.bytes_in_use > 0)
    std::printf(" (%s held by running containers)", Bytes(r.bytes_in_use).c_str());
  std::printf("\n");
  for (const std::string& note : r.notes) std::printf("note: %s\n", note.c_str());
}

// A reference as the store names it ("busybox" is docker.io/library/busybox:latest).
std::string StoreName(const std::string& text) {
  auto ref = oci::ImageReference::Parse(text);
  return ref.ok() ? ref->ToString() : text;
}

}  // namespace

int ImagesCommand(const std::vector<std::string>& argv, const CommandContext&) {
  auto args = ParseArgs(argv, {{"json", false}, {"root", true}, {"help", false, 'h'}});
  if (!args.ok()) return Usage(kImagesUsage, args.status());
  if (args->Has("help")) return Usage(kImagesUsage);
  if (!args->positional.empty())
    return Usage(kImagesUsage, InvalidArgument("images takes no IMAGE"));
  auto root = StoreRoot(*args);
  if (!root.ok()) return Fail(root.status());
  auto usage = node::InspectStore(*root);
  if (!usage.ok()) return Fail(usage.status());
  // containerd's images on this node, through the snapshotter.
  auto containerd = snapshotter::InspectSnapshotter(*root);
  if (!containerd.ok()) return Fail(containerd.status());
  const int64_t total = usage->total_bytes + containerd->bytes;
  if (args->Has("json")) {
    nlohmann::json j;
    j["images"] = nlohmann::json::array();
    for (const node::StoredImage& i : usage->images) {
      j["images"].push_back({{"reference", i.reference},
                             {"manifest_digest", i.manifest.ToString()},
                             {"layers", i.layers},
                             {"bytes", i.bytes},
                             {"unique_bytes", i.unique_bytes},
                             {"last_used", i.last_used},
                             {"containers", i.containers}});
    }
    auto cache = [](const node::CacheUsage& c) {
      return nlohmann::json{{"entries", c.entries}, {"bytes", c.bytes}};
    };
    j["chunks"] = cache(usage->chunks);
    j["spans"] = cache(usage->spans);
    j["rtimages"] = cache(usage->rtimages);
    j["unreferenced"] = cache(usage->unreferenced);
    j["store_bytes"] = usage->total_bytes;
    j["total_bytes"] = total;
    if (containerd->present) {
      nlohmann::json ci = nlohmann::json::array();
      for (const snapshotter::SnapshotterImage& i : containerd->images) {
        ci.push_back({{"reference", i.reference},
                      {"manifest_digest", i.manifest},
                      {"mode", i.remote ? "runtime-image" : "unpacked"},
                      {"layers", i.layers},
                      {"remote_layers", i.remote_layers},
                      {"bytes", i.bytes},
                      {"containers", i.containers}});
      }
      j["snapshotter"] = {{"images", ci},
                          {"snapshots", containerd->snapshots},
                          {"containers", containerd->containers},
                          {"bytes", containerd->bytes}};
    }
    j["running_containers"] = usage->running_containers;
    j["live_mounts"] = usage->live_mounts;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%-50s %-19s %6s %10s %10s %-14s %s\n", "IMAGE", "DIGEST", "LAYERS", "SIZE", "OWN",
              "LAST USED", "CONTAINERS");
  for (const node::StoredImage& i : usage->images) {
    std::printf("%-50s %-19s %6d %10s %10s %-14s %d\n", i.reference.c_str(),
                ("sha256:" + i.manifest.hex.substr(0, 12)).c_str(), i.layers,
                Bytes(i.bytes).c_str(), Bytes(i.unique_bytes).c_str(), Age(i.last_used).c_str(),
                i.containers);
  }
  std::printf(
      "\nruntime-image chunks %lld (%s), lazy spans %lld (%s), fetched runtime images %lld (%s)\n",
      static_cast<long long>(usage->chunks.entries), Bytes(usage->chunks.bytes).c_str(),
      static_cast<long long>(usage->spans.entries), Bytes(usage->spans.bytes).c_str(),
      static_cast<long long>(usage->rtimages.entries), Bytes(usage->rtimages.bytes).c_str());
  std::printf("unreferenced layers and blobs %lld (%s): `syspgo gc` removes them\n",
              static_cast<long long>(usage->unreferenced.entries),
              Bytes(usage->unreferenced.bytes).c_str());
  if (containerd->present) {
    std::printf("\n%-50s %-19s %-13s %6s %10s %s\n", "CONTAINERD IMAGE (SNAPSHOTTER)", "DIGEST",
                "ROOT FS", "LAYERS", "SIZE HERE", "CONTAINERS");
    for (const snapshotter::SnapshotterImage& i : containerd->images) {
      std::printf("%-50s %-19s %-13s %6d %10s %d\n", i.reference.c_str(),
                  i.manifest.substr(0, std::min<size_t>(i.manifest.size(), 19)).c_str(),
                  i.remote ? "runtime image" : "unpacked", i.layers, Bytes(i.bytes).c_str(),
                  i.containers);
    }
    std::printf("snapshotter: %d snapshot(s), %d container(s), %s in %s/snapshotter\n",
                containerd->snapshots, containerd->containers, Bytes(containerd->bytes).c_str(),
                root->c_str());
  }
  std::printf(
      "store %s in %s (%s with the snapshotter's); %d running container(s), %d lazy "
      "mount(s)\n",
      Bytes(usage->total_bytes).c_str(), root->c_str(), Bytes(total).c_str(),
      usage->running_containers + containerd->containers, usage->live_mounts);
  return 0;
}

int RmiCommand(const std::vector<std::string>& argv, const CommandContext& ctx) {
  auto args = ParseArgs(argv, {{"root", true}, {"help", false, 'h'}});
  if (!args.ok()) return Usage(kRmiUsage, args.status());
  if (args->Has("help")) return Usage(kRmiUsage);
  if (args->positional.empty()) return Usage(kRmiUsage, InvalidArgument("rmi needs an IMAGE"));
  auto root = StoreRoot(*args);
  if (!root.ok()) return Fail(root.status());
  std::vector<std::string> refs;
  for (const std::string& p : args->positional) refs.push_back(StoreName(p));
  auto removed = node::RemoveImages(*root, refs, ctx.cancel);
  if (!removed.ok()) return Fail(removed.status());
  for (const std::string& r : refs) std::printf("untagged %s\n", r.c_str());
  PrintGc(*removed, false);
  return 0;
}

int GcCommand(const std::vector<std::string>& argv, const CommandContext& ctx) {
  auto args = ParseArgs(
      argv, {{"max-size", true}, {"dry-run", false}, {"root", true}, {"help", false, 'h'}});
  if (!args.ok()) return Usage(kGcUsage, args.status());
  if (args->Has("help")) return Usage(kGcUsage);
  if (!args->positional.empty()) return Usage(kGcUsage, InvalidArgument("gc takes no IMAGE"));
  node::GcOptions options;
  options.dry_run = args->Has("dry-run");
  options.cancel = ctx.cancel;
  if (auto size = args->Get("max-size")) {
    auto parsed = node::ParseSize(*size);
    if (!parsed.ok()) return Usage(kGcUsage, parsed.status());
    options.max_size = *parsed;
  }
  auto root = StoreRoot(*args);
  if (!root.ok()) return Fail(root.status());
  auto result = node::CollectGarbage(*root, options);
  if (!result.ok()) return Fail(result.status());
  PrintGc(*result, options.dry_run);
  return 0;
}

}  // namespace syspgo::cli
