// SPDX-License-Identifier: Apache-2.0
#include "snapshotter/service.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "common/file_util.h"
#include "common/unix_socket.h"
#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.grpc.pb.h"

namespace syspgo::snapshotter {
namespace {

namespace api = ::containerd::services::snapshots::v1;

grpc::Status ToGrpc(const Status& st) {
  if (st.ok()) return grpc::Status::OK;
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  switch (st.code()) {
    case StatusCode::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case StatusCode::kAlreadyExists:
      code = grpc::StatusCode::ALREADY_EXISTS;
      break;
    case StatusCode::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case StatusCode::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case StatusCode::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case StatusCode::kDeadlineExceeded:
      code = grpc::StatusCode::DEADLINE_EXCEEDED;
      break;
    case StatusCode::kPermissionDenied:
      code = grpc::StatusCode::PERMISSION_DENIED;
      break;
    case StatusCode::kUnimplemented:
      code = grpc::StatusCode::UNIMPLEMENTED;
      break;
    case StatusCode::kCancelled:
      code = grpc::StatusCode::CANCELLED;
      break;
    case StatusCode::kResourceExhausted:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    default:
      break;
  }
  return grpc::Status(code, st.message());
}

// containerd puts the namespace in the request metadata when it knows it.
std::string Namespace(const grpc::ServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("containerd-namespace");
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

std::map<std::string, std::string> Labels(
    const google::protobuf::Map<std::string, std::string>& m) {
  return std::map<std::string, std::string>(m.begin(), m.end());
}

template <typename Response>
void PutMounts(const std::vector<Mount>& mounts, Response* resp) {
  for (const Mount& m : mounts) {
    auto* out = resp->add_mounts();
    out->set_type(m.type);
    out->set_source(m.source);
    for (const std::string& o : m.options) out->add_options(o);
  }
}

void SetTime(int64_t ns, google::protobuf::Timestamp* t) {
  t->set_seconds(ns / 1000000000);
  t->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

void PutInfo(const Info& info, api::Info* out) {
  out->set_name(info.name);
  out->set_parent(info.parent);
  out->set_kind(static_cast<api::Kind>(static_cast<int>(info.kind)));
  SetTime(info.created_ns, out->mutable_created_at());
  SetTime(info.updated_ns, out->mutable_updated_at());
  for (const auto& [k, v] : info.labels) (*out->mutable_labels())[k] = v;
}

class SnapshotsService final : public api::Snapshots::Service {
 public:
  SnapshotsService(Snapshotter* s, const Logger* log) : s_(s), log_(log) {}

  grpc::Status Prepare(grpc::ServerContext* ctx, const api::PrepareSnapshotRequest* req,
                       api::PrepareSnapshotResponse* resp) override {
    auto m = s_->Prepare(Namespace(ctx), req->key(), req->parent(), Labels(req->labels()));
    if (!m.ok()) return Failed("prepare " + req->key(), m.status());
    PutMounts(*m, resp);
    return grpc::Status::OK;
  }
  grpc::Status View(grpc::ServerContext* ctx, const api::ViewSnapshotRequest* req,
                    api::ViewSnapshotResponse* resp) override {
    auto m = s_->View(Namespace(ctx), req->key(), req->parent(), Labels(req->labels()));
    if (!m.ok()) return Failed("view " + req->key(), m.status());
    PutMounts(*m, resp);
    return grpc::Status::OK;
  }
  grpc::Status Mounts(grpc::ServerContext*, const api::MountsRequest* req,
                      api::MountsResponse* resp) override {
    auto m = s_->Mounts(req->key());
    if (!m.ok()) return Failed("mounts " + req->key(), m.status());
    PutMounts(*m, resp);
    return grpc::Status::OK;
  }
  grpc::Status Commit(grpc::ServerContext*, const api::CommitSnapshotRequest* req,
                      google::protobuf::Empty*) override {
    return Failed("commit " + req->key(),
                  s_->Commit(req->name(), req->key(), Labels(req->labels())));
  }
  grpc::Status Remove(grpc::ServerContext*, const api::RemoveSnapshotRequest* req,
                      google::protobuf::Empty*) override {
    return Failed("remove " + req->key(), s_->Remove(req->key()));
  }
  grpc::Status Stat(grpc::ServerContext*, const api::StatSnapshotRequest* req,
                    api::StatSnapshotResponse* resp) override {
    auto info = s_->Stat(req->key());
    if (!info.ok()) return Failed("stat " + req->key(), info.status());
    PutInfo(*info, resp->mutable_info());
    return grpc::Status::OK;
  }
  grpc::Status Update(grpc::ServerContext*, const api::UpdateSnapshotRequest* req,
                      api::UpdateSnapshotResponse* resp) override {
    Info in;
    in.name = req->info().name();
    in.labels = Labels(req->info().labels());
    std::vector<std::string> paths(req->update_mask().paths().begin(),
                                   req->update_mask().paths().end());
    auto info = s_->Update(in, paths);
    if (!info.ok()) return Failed("update " + in.name, info.status());
    PutInfo(*info, resp->mutable_info());
    return grpc::Status::OK;
  }
  grpc::Status List(grpc::ServerContext*, const api::ListSnapshotsRequest*,
                    grpc::ServerWriter<api::ListSnapshotsResponse>* writer) override {
    // Every snapshot; containerd checks what it looks for itself (filters
    // are an optimisation of the protocol, docs/containerd.md).
    auto all = s_->List();
    if (!all.ok()) return Failed("list", all.status());
    constexpr size_t kBatch = 100;
    for (size_t i = 0; i < all->size(); i += kBatch) {
      api::ListSnapshotsResponse resp;
      for (size_t j = i; j < std::min(all->size(), i + kBatch); ++j)
        PutInfo((*all)[j], resp.add_info());
      if (!writer->Write(resp)) break;
    }
    return grpc::Status::OK;
  }
  grpc::Status Usage(grpc::ServerContext*, const api::UsageRequest* req,
                     api::UsageResponse* resp) override {
    auto u = s_->DiskUsage(req->key());
    if (!u.ok()) return Failed("usage " + req->key(), u.status());
    resp->set_size(u->size);
    resp->set_inodes(u->inodes);
    return grpc::Status::OK;
  }
  grpc::Status Cleanup(grpc::ServerContext*, const api::CleanupRequest*,
                       google::protobuf::Empty*) override {
    return Failed("cleanup", s_->Cleanup());
  }

 private:
  // Logs what failed (not what containerd expects to fail: AlreadyExists
  // answers remote layers, NotFound answers Stat probes).
  grpc::Status Failed(const std::string& what, const Status& st) {
    if (!st.ok() && log_ && st.code() != StatusCode::kAlreadyExists &&
        st.code() != StatusCode::kNotFound) {
      log_->Warning(what + ": " + st.message());
    } else if (!st.ok() && log_) {
      log_->Debug(what + ": " + st.message());
    }
    return ToGrpc(st);
  }

  Snapshotter* s_;
  const Logger* log_;
};

}  // namespace

Status Serve(Snapshotter* snapshotter, const ServeOptions& options, const CancelToken& cancel) {
  const std::string dir = DirName(options.address);
  if (!dir.empty()) RETURN_IF_ERROR(MakeDirs(dir, 0711));
  if (!options.metrics_file.empty()) {
    RETURN_IF_ERROR(PrepareOutputDir(options.metrics_file, "--metrics-file"));
  }
  if (::unlink(options.address.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "unlink", options.address);
  }
  SnapshotsService service(snapshotter, options.log);
  // Only root (containerd) may connect, from the first moment: the socket
  // is bound in a private directory, made 0600 there, then moved to its
  // address (common/unix_socket.h).
  ASSIGN_OR_RETURN(PrivateSocketPlace place, PrivateSocketPlace::Make(options.address));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("unix:" + place.bind_path(), grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(16 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return Unavailable("cannot listen on unix:" + options.address);
  if (Status st = place.Publish(); !st.ok()) {
    server->Shutdown();
    return st;
  }
  if (options.on_ready) options.on_ready();
  auto next_metrics = std::chrono::steady_clock::now();
  auto next_tick = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!cancel.cancelled()) {
    if (options.on_tick && std::chrono::steady_clock::now() >= next_tick) {
      options.on_tick();
      next_tick = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    if (!options.metrics_file.empty() && std::chrono::steady_clock::now() >= next_metrics) {
      Status st = WriteFileAtomic(options.metrics_file, snapshotter->Metrics(), 0644, false);
      if (!st.ok() && options.log) options.log->Warning("metrics: " + st.message());
      next_metrics = std::chrono::steady_clock::now() + options.metrics_interval;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // The address goes first: a client that dials while the server shuts
  // down finds no socket (and dials again, as it would at a restart), not
  // a socket nobody listens on.
  ::unlink(options.address.c_str());
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server->Wait();
  if (!options.metrics_file.empty()) {
    (void)WriteFileAtomic(options.metrics_file, snapshotter->Metrics(/*up=*/false), 0644, false);
  }
  if (options.log)
    options.log->Info("stopped serving containerd's snapshots API on " + options.address);
  return Status();
}

}  // namespace syspgo::snapshotter
