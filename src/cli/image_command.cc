// SPDX-License-Identifier: Apache-2.0
// `syspgo image build|push|optimize|inspect|fetch`: runtime images.
#include <cinttypes>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/image_trace.h"
#include "common/file_util.h"
#include "oci/layer_store.h"
#include "oci/progress.h"
#include "oci/puller.h"
#include "node/access_profile.h"
#include "node/deploy.h"
#include "node/runtime_image_report.h"
#include "oci/registry_client.h"
#include "rtimage/artifact.h"
#include "rtimage/builder.h"
#include "rtimage/chunk_store.h"
#include "rtimage/format.h"
#include "rtimage/layer_index.h"
#include "rtimage/signature.h"
#include "rtimage/trust_policy.h"
#include "run/readiness.h"
#include "trace/trace_format.h"

namespace syspgo::cli {
namespace {

constexpr char kImageUsage[] =
    R"(USAGE: syspgo image build [OPTIONS] IMAGE --trace FILE [--trace FILE...] -o DIR
       syspgo image push [OPTIONS] IMAGE DIR
       syspgo image optimize [OPTIONS] IMAGE [-- CMD ARGS...]
       syspgo image sign --sign-key KEY [OPTIONS] IMAGE
       syspgo image inspect [OPTIONS] IMAGE|DIR
       syspgo image fetch [OPTIONS] IMAGE

Runtime images (docs/runtime-image.md): the data a container's start reads,
in the order it reads it, in zstd-compressed chunks verified by the digests
of their bytes, plus the whole merged root file system's metadata and a
checkpoint index for random access into the original layers. Stored in the registry as an OCI
artifact whose subject is the image; the image itself is not changed.

  build     read the image's layers from the store (pulled if missing) and
            one or more trace files (`syspgo trace IMAGE`), write DIR
  push      store DIR in the image's registry, attached to the image
  optimize  trace a cold start of IMAGE, build, and push, in one go
  sign      sign IMAGE's runtime image (cosign's format) after checking that
            it belongs to IMAGE; nodes whose trust policy names the public
            key then use it
  inspect   whether IMAGE has a runtime image and what it holds (or DIR's),
            and whether this node's trust policy accepts it
  fetch     fetch IMAGE's runtime image chunks into the node's chunk store
            (chunks another runtime image brought are not fetched again)

OPTIONS:
  --trace FILE        (build) a trace of IMAGE; repeat to merge several
  -o, --output DIR    (build) the runtime image directory to write;
                      (optimize) also keep the runtime image in DIR
  --no-trace          (build) metadata and index only: no blob data
  --chunk-span BYTES  (build) the chunk grid (default 262144)
  --chunk-compression LEVEL
                      (build, optimize) zstd level for the chunks, 1-19, each
                      kept compressed where it saves an eighth; 0 stores them
                      as they are (default 9)
  --ready COND        (optimize) readiness, as for `syspgo run`
  --timeout SECS      (optimize) give up when not ready (default 300)
  --json              (inspect) machine-readable output
  --sign-key KEY      (push, optimize, sign) sign the pushed runtime image with KEY,
                      an unencrypted PEM private key, Ed25519 or ECDSA P-256
                      (openssl genpkey -algorithm ed25519 -out KEY)
  --trust-policy FILE (inspect, fetch) as for `syspgo run`
  --pull POLICY       always (default for optimize), missing (default for
                      build), never
  --root, --insecure-registry, --authfile, --runc, --keep-readahead,
  --after-ready MS:   as for `syspgo run` / `syspgo trace`

EXAMPLES:
  syspgo trace -o py.trace 127.0.0.1:5000/py:1 -- python3 -c 'import numpy'
  syspgo image build 127.0.0.1:5000/py:1 --trace py.trace -o py.rtimage
  syspgo image push 127.0.0.1:5000/py:1 py.rtimage
  syspgo image optimize --sign-key ci.key 127.0.0.1:5000/py:1 -- python3 -c 'import numpy'
  syspgo image inspect --trust-policy policy.json 127.0.0.1:5000/py@sha256:...
)";

int ImageUsage(const Status& st) { return Usage(kImageUsage, st); }

// `syspgo image SUB --help`: that subcommand's page.
struct SubPage {
  const char* sub;
  const char* text;
};
constexpr SubPage kSubPages[] = {
    {"build", R"(USAGE: syspgo image build [OPTIONS] IMAGE --trace FILE [--trace FILE...] -o DIR

Reads IMAGE's layers from the store (pulled if missing) and one or more
traces of its start (`syspgo trace IMAGE`), and writes the runtime image to
DIR (docs/runtime-image.md).

OPTIONS:
  --trace FILE        a trace of IMAGE; repeat to merge several
  -o, --output DIR    the runtime image directory to write
  --no-trace          metadata and index only: no blob data (lazy starts)
  --chunk-span BYTES  the chunk grid (default 262144)
  --chunk-compression LEVEL
                      zstd level for the chunks, 1-19, each kept compressed
                      where it saves an eighth; 0 stores them as they are
                      (default 9)
  --pull POLICY       always, missing (default), never
  --root, --insecure-registry, --tls-verify, --certs-dir, --authfile, -v:
                      as for `syspgo pull`
)"},
    {"push", R"(USAGE: syspgo image push [OPTIONS] IMAGE DIR

Stores the runtime image in DIR in IMAGE's registry as an OCI artifact whose
subject is IMAGE (the referrers API, or the tag schema where the registry
has none). IMAGE itself is not changed.

OPTIONS:
  --sign-key KEY      also sign it with KEY (unencrypted PEM, Ed25519 or
                      ECDSA P-256; openssl genpkey -algorithm ed25519 -out KEY)
  --root, --insecure-registry, --tls-verify, --certs-dir, --authfile, -v:
                      as for `syspgo pull`
)"},
    {"optimize", R"(USAGE: syspgo image optimize [OPTIONS] IMAGE [-- CMD ARGS...]

Traces a cold start of IMAGE (its own command, or CMD) until it is ready,
builds its runtime image and pushes it, in one go. It drops the page cache
and turns readahead off while tracing: run it in CI, not on a serving node
(docs/operating.md).

OPTIONS:
  --ready COND        readiness, as for `syspgo run` (default: the exit)
  --timeout SECS      give up when not ready (default 300)
  --after-ready MS    keep tracing this long after readiness
  -o, --output DIR    also keep the runtime image in DIR
  --chunk-compression LEVEL  as for `image build`
  --sign-key KEY      sign the pushed runtime image (see `image push`)
  --pull POLICY       always (default), missing, never
  --keep-readahead    leave readahead on while tracing
  --root, --insecure-registry, --tls-verify, --certs-dir, --authfile,
  --runc, -v:         as for `syspgo run`

EXAMPLE:
  syspgo image optimize --sign-key ci.key 127.0.0.1:5000/py:1 -- python3 -c 'import numpy'
)"},
    {"sign", R"(USAGE: syspgo image sign --sign-key KEY [OPTIONS] IMAGE

Signs IMAGE's runtime image (cosign's format) after checking that it belongs
to IMAGE; nodes whose trust policy names the public key then use it.

OPTIONS:
  --sign-key KEY      unencrypted PEM private key, Ed25519 or ECDSA P-256
  --root, --insecure-registry, --tls-verify, --certs-dir, --authfile, -v:
                      as for `syspgo pull`
)"},
    {"inspect", R"(USAGE: syspgo image inspect [OPTIONS] IMAGE|DIR

Says whether IMAGE has a runtime image, what it holds, who signed it and
whether this node's trust policy accepts it (or what the directory DIR
holds).

OPTIONS:
  --json              machine-readable output
  --trust-policy FILE as for `syspgo run`
  --root, --insecure-registry, --tls-verify, --certs-dir, --authfile, -v:
                      as for `syspgo pull`
)"},
    {"fetch", R"(USAGE: syspgo image fetch [OPTIONS] IMAGE

Fetches IMAGE's runtime image chunks into the node's chunk store ahead of a
start (chunks another runtime image brought are not fetched again).

OPTIONS:
  --trust-policy FILE as for `syspgo run`
  --root, --insecure-registry, --tls-verify, --certs-dir, --authfile, -v:
                      as for `syspgo pull`
)"},
};

const char* SubUsage(const std::string& sub) {
  for (const SubPage& p : kSubPages) {
    if (sub == p.sub) return p.text;
  }
  return kImageUsage;
}

std::string Bytes(uint64_t n) { return oci::HumanBytes(static_cast<double>(n)); }

// Registry set-up, store and puller; heap-held because the puller points
// at the other two and the session moves.
struct ImageSession {
  std::unique_ptr<node::RegistrySetup> setup;
  std::unique_ptr<oci::LayerStore> store;
  std::unique_ptr<oci::Puller> puller;
};

Result<ImageSession> OpenSession(const ParsedArgs& args, const CommandContext& ctx) {
  ImageSession s;
  ASSIGN_OR_RETURN(s.setup, MakeRegistrySetup(args, ctx));
  ASSIGN_OR_RETURN(std::string root, StoreRoot(args));
  ASSIGN_OR_RETURN(oci::LayerStore store, oci::LayerStore::Open(root));
  s.store = std::make_unique<oci::LayerStore>(std::move(store));
  s.puller = std::make_unique<oci::Puller>(s.store.get(), s.setup->options, &s.setup->log);
  return s;
}

// A session and the image named by the first positional argument, in the
// store per --pull (default_pull when not given).
struct SessionImage {
  ImageSession session;
  oci::LocalImage image;
};

Result<SessionImage> OpenSessionImage(const ParsedArgs& args, const CommandContext& ctx,
                                      const char* default_pull) {
  ASSIGN_OR_RETURN(oci::ImageReference ref, oci::ImageReference::Parse(args.positional[0]));
  SessionImage out;
  ASSIGN_OR_RETURN(out.session, OpenSession(args, ctx));
  ASSIGN_OR_RETURN(node::PullPolicy pull,
                   node::ParsePullPolicy(args.Get("pull").value_or(default_pull)));
  ASSIGN_OR_RETURN(out.image,
                   node::ObtainImage(*out.session.puller, ref, pull, 4, out.session.setup->log));
  return out;
}

// The trust verdict as `image inspect --json` writes it.
nlohmann::json TrustJson(const node::RuntimeImageTrust& t) {
  nlohmann::json j = {
      {"policy", t.policy}, {"accept", t.accept}, {"accepted", t.accepted}, {"why", t.why}};
  if (!t.signer.empty()) j["signer"] = t.signer;
  return j;
}

// IMAGE's runtime image and this node's verdict, with a client of its
// registry kept for what comes next.
struct Remote {
  std::unique_ptr<node::RegistrySetup> setup;
  std::optional<oci::RegistryClient> client;
  node::RuntimeImageReport report;
};

Result<Remote> Inspect(const ParsedArgs& args, const CommandContext& ctx,
                       const std::string& reference, oci::TransferCounters* counters = nullptr) {
  Remote r;
  ASSIGN_OR_RETURN(oci::ImageReference ref, oci::ImageReference::Parse(reference));
  ASSIGN_OR_RETURN(rtimage::TrustPolicy policy, LoadTrustPolicy(args));
  ASSIGN_OR_RETURN(r.setup, MakeRegistrySetup(args, ctx));
  ASSIGN_OR_RETURN(oci::RegistryClient client,
                   oci::RegistryClient::Create(ref.registry, r.setup->options, counters));
  r.client.emplace(std::move(client));
  ASSIGN_OR_RETURN(r.report, node::InspectRuntimeImage(*r.client, ref, policy));
  return r;
}

oci::Descriptor SubjectOf(const oci::LocalImage& image) {
  oci::Descriptor d;
  d.media_type = image.manifest.media_type;
  d.digest = image.manifest_digest;
  d.size = image.manifest_size;
  return d;
}

// Builds from the image's compressed layers, fetching those the store lacks.
Result<rtimage::BuildReport> Build(const oci::LocalImage& image, ImageSession& session,
                                   std::vector<rtimage::AccessProfile> profiles,
                                   const std::string& output, uint32_t chunk_span,
                                   int compression_level) {
  RETURN_IF_ERROR(session.puller->FetchLayerBlobs(image));
  const oci::LayerStore& store = *session.store;
  const Logger* log = &session.setup->log;
  rtimage::BuildOptions options;
  options.image_digest = image.manifest_digest.ToString();
  options.image_reference = image.reference.ToString();
  options.output_dir = output;
  options.chunk_span = chunk_span;
  options.chunk_compression_level = compression_level;
  options.profiles = std::move(profiles);
  options.log = log;
  for (size_t i = 0; i < image.manifest.layers.size(); ++i) {
    rtimage::BuildLayer layer;
    layer.descriptor = image.manifest.layers[i];
    layer.diff_id = image.config.diff_ids[i];
    layer.blob_path = store.BlobPath(layer.descriptor.digest);
    options.layers.push_back(std::move(layer));
  }
  return rtimage::BuildRuntimeImage(options);
}

// --sign-key, loaded before any work is done (a bad key fails at once).
Result<std::optional<rtimage::SigningKey>> SigningKeyOf(const ParsedArgs& args) {
  auto path = args.Get("sign-key");
  if (!path) return std::optional<rtimage::SigningKey>();
  ASSIGN_OR_RETURN(rtimage::SigningKey key, rtimage::SigningKey::Load(*path));
  return std::optional<rtimage::SigningKey>(std::move(key));
}

Status Sign(oci::RegistryClient& client, const oci::ImageReference& ref,
            const rtimage::SignedArtifact& what, const rtimage::SigningKey& key) {
  RETURN_IF_ERROR(rtimage::SignRuntimeImage(client, ref.repository, what, key));
  std::printf("signed runtime image %s with key %s (tag %s)\n", what.artifact.ToString().c_str(),
              key.id().c_str(), rtimage::SignatureTag(what.artifact).c_str());
  return Status::Ok();
}

// Pushes the runtime image in `dir` and, with a key, signs it.
Result<rtimage::PushedRuntimeImage> Push(ImageSession& s, const oci::LocalImage& image,
                                         const std::string& dir,
                                         const std::optional<rtimage::SigningKey>& key) {
  ASSIGN_OR_RETURN(oci::RegistryClient client,
                   oci::RegistryClient::Create(image.reference.registry, s.setup->options));
  ASSIGN_OR_RETURN(
      rtimage::PushedRuntimeImage pushed,
      rtimage::PushRuntimeImage(client, image.reference.repository, SubjectOf(image), dir));
  std::printf("pushed runtime image %s for %s@%s (%s)\n", pushed.artifact.ToString().c_str(),
              image.reference.ToString().c_str(), image.manifest_digest.ToString().c_str(),
              pushed.referrers_api ? "indexed by the registry's referrers API"
                                   : ("referrers tag " + pushed.fallback_tag).c_str());
  if (key) {
    RETURN_IF_ERROR(Sign(client, image.reference,
                         {image.reference.registry + "/" + image.reference.repository,
                          pushed.artifact, pushed.metadata.digest, image.manifest_digest},
                         *key));
  }
  return pushed;
}

int BuildCommand(const ParsedArgs& args, const CommandContext& ctx) {
  if (args.positional.size() != 1)
    return Usage(SubUsage("build"), InvalidArgument("build takes one IMAGE"));
  if (args.Has("sign-key")) {
    // A signature names the pushed artifact, which exists once pushed.
    return Usage(SubUsage("build"),
                 InvalidArgument("build writes a directory; sign when pushing it: syspgo image "
                                 "push --sign-key KEY IMAGE DIR"));
  }
  auto output = args.Get("output");
  if (!output) return Usage(SubUsage("build"), InvalidArgument("build needs -o DIR"));
  std::vector<std::string> traces = args.GetAll("trace");
  if (traces.empty() && !args.Has("no-trace")) {
    return Usage(SubUsage("build"), InvalidArgument("build needs --trace FILE (or --no-trace)"));
  }
  auto span = args.GetInt("chunk-span", static_cast<int>(rtimage::kDefaultChunkSpan), 4096,
                          static_cast<int>(rtimage::kMaxChunkSpan));
  if (!span.ok()) return Usage(SubUsage("build"), span.status());
  auto level = args.GetInt("chunk-compression", rtimage::kDefaultChunkCompressionLevel, 0, 19);
  if (!level.ok()) return Usage(SubUsage("build"), level.status());
  auto opened = OpenSessionImage(args, ctx, "missing");
  if (!opened.ok()) return Fail(opened.status());
  ImageSession* s = &opened->session;
  const oci::LocalImage* image = &opened->image;
  std::vector<rtimage::AccessProfile> profiles;
  for (const std::string& file : traces) {
    auto t = trace::ReadTraceFile(file);
    if (!t.ok()) return Fail(t.status());
    uint64_t foreign = 0;
    profiles.push_back(node::AccessProfileOf(*t, *image, &foreign));
    if (foreign > 0) {
      s->setup->log.Warning(file + ": " + std::to_string(foreign) +
                            " traced files are in layers of another image; left out");
    }
  }
  auto report =
      Build(*image, *s, std::move(profiles), *output, static_cast<uint32_t>(*span), *level);
  if (!report.ok()) return Fail(report.status());
  std::printf("runtime image for %s@%s in %s\n%s", image->reference.ToString().c_str(),
              image->manifest_digest.ToString().c_str(), output->c_str(),
              rtimage::FormatBuildReport(*report).c_str());
  return 0;
}

int PushCommand(const ParsedArgs& args, const CommandContext& ctx) {
  if (args.positional.size() != 2)
    return Usage(SubUsage("push"), InvalidArgument("push takes IMAGE DIR"));
  auto key = SigningKeyOf(args);
  if (!key.ok()) return Fail(key.status());
  auto opened = OpenSessionImage(args, ctx, "always");
  if (!opened.ok()) return Fail(opened.status());
  auto pushed = Push(opened->session, opened->image, args.positional[1], *key);
  if (!pushed.ok()) return Fail(pushed.status());
  return 0;
}

int SignCommand(const ParsedArgs& args, const CommandContext& ctx) {
  if (args.positional.size() != 1)
    return Usage(SubUsage("sign"), InvalidArgument("sign takes one IMAGE"));
  auto key = SigningKeyOf(args);
  if (!key.ok()) return Fail(key.status());
  if (!*key) return Usage(SubUsage("sign"), InvalidArgument("sign needs --sign-key KEY"));
  auto remote = Inspect(args, ctx, args.positional[0]);
  if (!remote.ok()) return Fail(remote.status());
  const node::RuntimeImageReport& r = remote->report;
  if (!r.found) return Fail(NotFound(r.ref.ToString() + " has no runtime image"));
  // Vouch only for a runtime image that belongs to the image.
  if (!r.binding.ok()) return Fail(r.binding);
  Status st = Sign(*remote->client, r.ref,
                   {r.ref.registry + "/" + r.ref.repository, r.found->artifact,
                    r.found->metadata.digest, r.image},
                   **key);
  return st.ok() ? 0 : Fail(st);
}

int OptimizeCommand(const ParsedArgs& args, const CommandContext& ctx) {
  if (args.positional.size() != 1)
    return Usage(SubUsage("optimize"), InvalidArgument("optimize takes one IMAGE"));
  auto key = SigningKeyOf(args);
  if (!key.ok()) return Fail(key.status());
  auto ready = run::ReadyCondition::Parse(args.Get("ready").value_or("exit"));
  if (!ready.ok()) return Usage(SubUsage("optimize"), ready.status());
  auto timeout = args.GetInt("timeout", 300, 1, 24 * 3600);
  if (!timeout.ok()) return Usage(SubUsage("optimize"), timeout.status());
  auto level = args.GetInt("chunk-compression", rtimage::kDefaultChunkCompressionLevel, 0, 19);
  if (!level.ok()) return Usage(SubUsage("optimize"), level.status());
  auto traced = TraceImageStart(args, args.positional[0], *ready, *timeout, ctx);
  if (!traced.ok()) return Fail(traced.status());
  std::printf("traced %s: %zu files, ready (%s) after %.3f s\n",
              traced->image.reference.ToString().c_str(), traced->trace.files.size(),
              traced->trace.ready.c_str(), static_cast<double>(traced->trace.duration_ns) / 1e9);
  auto s = OpenSession(args, ctx);
  if (!s.ok()) return Fail(s.status());
  std::optional<TempDir> temp;
  std::string dir;
  if (auto keep = args.Get("output")) {
    dir = *keep;
  } else {
    auto made = s->store->NewTempDir("rtimage-");
    if (!made.ok()) return Fail(made.status());
    temp = std::move(*made);
    dir = temp->path();
  }
  uint64_t foreign = 0;
  auto report =
      Build(traced->image, *s, {node::AccessProfileOf(traced->trace, traced->image, &foreign)}, dir,
            rtimage::kDefaultChunkSpan, *level);
  if (!report.ok()) return Fail(report.status());
  std::printf("%s", rtimage::FormatBuildReport(*report).c_str());
  auto pushed = Push(*s, traced->image, dir, *key);
  if (!pushed.ok()) return Fail(pushed.status());
  return 0;
}

// What a runtime image holds, for people or as JSON.
nlohmann::json Summary(const rtimage::Metadata& m, const std::string& index_bytes,
                       uint64_t metadata_bytes) {
  std::map<std::string, uint64_t> types;
  for (const rtimage::Entry& e : m.entries) types[std::string(rtimage::EntryTypeName(e.type))]++;
  uint64_t extents = 0;
  uint64_t files_with_extents = 0;
  uint64_t chunk_bytes = 0;
  uint64_t compressed = 0;
  for (const rtimage::Chunk& c : m.chunks) {
    chunk_bytes += c.length;
    compressed += c.compressed() ? 1 : 0;
  }
  for (const rtimage::FileContent& c : m.contents) {
    extents += c.extents.size();
    files_with_extents += c.extents.empty() ? 0 : 1;
  }
  nlohmann::json layers = nlohmann::json::array();
  auto indexes = rtimage::DecodeLayerIndexes(index_bytes);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const rtimage::LayerInfo& l = m.layers[i];
    layers.push_back(
        {{"digest", l.digest},
         {"compressed_bytes", l.compressed_size},
         {"uncompressed_bytes", l.uncompressed_size},
         {"access", rtimage::LayerAccessName(l.access)},
         {"access_points", indexes.ok() && i < indexes->size() ? (*indexes)[i].points.size() : 0}});
  }
  return {{"image_digest", m.image_digest},
          {"image_reference", m.image_reference},
          {"sources", m.sources},
          {"entries", m.entries.size()},
          {"entry_types", types},
          {"image_file_bytes", m.RegularBytes()},
          {"traced_bytes", m.traced_bytes},
          {"traced_files", files_with_extents},
          {"extents", extents},
          {"chunks", m.chunks.size()},
          {"compressed_chunks", compressed},
          {"chunk_bytes", chunk_bytes},
          {"blob_bytes", m.blob_size},
          {"blob_digest", m.blob_digest},
          {"metadata_bytes", metadata_bytes},
          {"index_bytes", index_bytes.size()},
          {"index_ok", indexes.ok()},
          {"layers", layers}};
}

void PrintSummary(const nlohmann::json& j) {
  std::printf("image:           %s@%s\n", j["image_reference"].get<std::string>().c_str(),
              j["image_digest"].get<std::string>().c_str());
  for (const auto& src : j["sources"])
    std::printf("built from:      %s\n", src.get<std::string>().c_str());
  std::string types;
  for (const auto& [name, n] : j["entry_types"].items()) {
    types += (types.empty() ? "" : ", ") + std::to_string(n.get<uint64_t>()) + " " + name;
  }
  std::printf("entries:         %" PRIu64 " (%s)\n", j["entries"].get<uint64_t>(), types.c_str());
  const uint64_t image_bytes = j["image_file_bytes"].get<uint64_t>();
  const uint64_t blob = j["blob_bytes"].get<uint64_t>();
  std::printf("file bytes:      %s\n", Bytes(image_bytes).c_str());
  std::printf("traced:          %" PRIu64 " files, %s\n", j["traced_files"].get<uint64_t>(),
              Bytes(j["traced_bytes"].get<uint64_t>()).c_str());
  std::printf(
      "blob:            %s in %" PRIu64 " chunks, %" PRIu64 " extents (%.1f%% of the file bytes)\n",
      Bytes(blob).c_str(), j["chunks"].get<uint64_t>(), j["extents"].get<uint64_t>(),
      image_bytes ? 100.0 * static_cast<double>(blob) / static_cast<double>(image_bytes) : 0.0);
  const uint64_t chunk_bytes = j["chunk_bytes"].get<uint64_t>();
  std::printf("chunks:          %s of data, %" PRIu64
              " of them zstd-compressed (blob %.2fx smaller)\n",
              Bytes(chunk_bytes).c_str(), j["compressed_chunks"].get<uint64_t>(),
              blob ? static_cast<double>(chunk_bytes) / static_cast<double>(blob) : 1.0);
  std::printf("metadata:        %s\n", Bytes(j["metadata_bytes"].get<uint64_t>()).c_str());
  std::printf("index:           %s%s\n", Bytes(j["index_bytes"].get<uint64_t>()).c_str(),
              j["index_ok"].get<bool>() ? "" : " (DOES NOT DECODE)");
  for (const auto& l : j["layers"]) {
    std::printf("layer:           %s %s -> %s, %s, %" PRIu64 " access points\n",
                l["digest"].get<std::string>().substr(7, 12).c_str(),
                Bytes(l["compressed_bytes"].get<uint64_t>()).c_str(),
                Bytes(l["uncompressed_bytes"].get<uint64_t>()).c_str(),
                l["access"].get<std::string>().c_str(), l["access_points"].get<uint64_t>());
  }
}

int InspectCommand(const ParsedArgs& args, const CommandContext& ctx) {
  if (args.positional.size() != 1)
    return Usage(SubUsage("inspect"), InvalidArgument("inspect takes IMAGE or DIR"));
  const std::string& target = args.positional[0];
  const bool json = args.Has("json");
  if (PathExists(JoinPath(target, rtimage::kMetadataFile))) {
    auto dir = rtimage::RuntimeImageDir::Open(target);
    if (!dir.ok()) return Fail(dir.status());
    if (Status st = dir->VerifyBlob(); !st.ok()) return Fail(st);
    nlohmann::json j = Summary(dir->metadata(), dir->index_bytes(), dir->metadata_bytes().size());
    j["directory"] = target;
    if (json) {
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      std::printf("runtime image:   %s (verified)\n", target.c_str());
      PrintSummary(j);
    }
    return 0;
  }
  auto remote = Inspect(args, ctx, target);
  if (!remote.ok()) return Fail(remote.status());
  const node::RuntimeImageReport& report = remote->report;
  if (!report.found) {
    const std::string image = report.image.ToString();
    if (json) {
      std::printf(
          "%s\n",
          nlohmann::json({{"image_digest", image}, {"runtime_image", nullptr}}).dump(2).c_str());
    } else {
      std::printf("%s@%s has no runtime image\n", report.ref.ToString().c_str(), image.c_str());
    }
    return 1;
  }
  const rtimage::FetchedMetadata* fetched = &report.fetched;
  const rtimage::FoundRuntimeImage* found = &*report.found;
  nlohmann::json j =
      Summary(fetched->metadata, fetched->index_bytes, fetched->metadata_bytes.size());
  j["runtime_image"] = found->artifact.ToString();
  j["found_via"] = found->referrers_api ? "referrers API" : "referrers tag schema";
  j["trust"] = TrustJson(report.trust);
  if (json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("runtime image:   %s (via the %s)\n", found->artifact.ToString().c_str(),
                j["found_via"].get<std::string>().c_str());
    PrintSummary(j);
    std::printf("trust:           %s: %s (%s)\n",
                j["trust"]["accepted"].get<bool>() ? "accepted" : "NOT USED",
                j["trust"]["why"].get<std::string>().c_str(),
                j["trust"]["policy"].get<std::string>().c_str());
  }
  return 0;
}

int FetchCommand(const ParsedArgs& args, const CommandContext& ctx) {
  if (args.positional.size() != 1)
    return Usage(SubUsage("fetch"), InvalidArgument("fetch takes one IMAGE"));
  oci::TransferCounters counters;
  auto remote = Inspect(args, ctx, args.positional[0], &counters);
  if (!remote.ok()) return Fail(remote.status());
  auto private_root = StoreRoot(args);
  if (!private_root.ok()) return Fail(private_root.status());
  auto fetched = node::FetchRuntimeImage(*remote->client, remote->report, *private_root);
  if (!fetched.ok()) return Fail(fetched.status());
  std::printf("runtime image %s: %" PRIu64 " chunks, %" PRIu64 " already local, %" PRIu64
              " fetched (%s in %" PRIu64 " range requests; %" PRId64 " requests in all)\n",
              remote->report.found->artifact.ToString().c_str(), fetched->chunks,
              fetched->chunks_local, fetched->chunks_fetched, Bytes(fetched->bytes_fetched).c_str(),
              fetched->requests, counters.requests.load());
  return 0;
}

}  // namespace

int ImageCommand(const std::vector<std::string>& argv, const CommandContext& ctx) {
  if (argv.empty() || argv[0] == "-h" || argv[0] == "--help") {
    return Usage(kImageUsage,
                 argv.empty() ? InvalidArgument("image needs a subcommand") : Status());
  }
  const std::string& sub = argv[0];
  auto args = ParseArgs({argv.begin() + 1, argv.end()},
                        WithCommon({{"trace", true},
                                    {"output", true, 'o'},
                                    {"no-trace", false},
                                    {"chunk-span", true},
                                    {"chunk-compression", true},
                                    {"ready", true},
                                    {"timeout", true},
                                    {"json", false},
                                    {"pull", true},
                                    {"runc", true},
                                    {"keep-readahead", false},
                                    {"after-ready", true},
                                    {"sign-key", true},
                                    {"trust-policy", true}}),
                        /*stop_after_positionals=*/sub == "optimize" ? 1 : 0);
  if (!args.ok()) return Usage(SubUsage(sub), args.status());
  if (args->Has("help")) return Usage(SubUsage(sub));
  if (sub == "build") return BuildCommand(*args, ctx);
  if (sub == "push") return PushCommand(*args, ctx);
  if (sub == "optimize") return OptimizeCommand(*args, ctx);
  if (sub == "sign") return SignCommand(*args, ctx);
  if (sub == "inspect") return InspectCommand(*args, ctx);
  if (sub == "fetch") return FetchCommand(*args, ctx);
  return ImageUsage(InvalidArgument("unknown image subcommand: " + sub));
}

}  // namespace syspgo::cli
