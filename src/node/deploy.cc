// SPDX-License-Identifier: Apache-2.0
#include "node/deploy.h"

#include <algorithm>

#include "common/clock.h"
#include "oci/layer_store.h"

namespace syspgo::node {

Result<PullPolicy> ParsePullPolicy(std::string_view name) {
  if (name == "always") return PullPolicy::kAlways;
  if (name == "missing") return PullPolicy::kMissing;
  if (name == "never") return PullPolicy::kNever;
  return InvalidArgument("--pull must be always, missing or never");
}

Result<oci::LocalImage> ObtainImage(oci::Puller& puller, const oci::ImageReference& ref,
                                    PullPolicy policy, int jobs, const Logger& log) {
  if (policy == PullPolicy::kNever) return puller.LoadLocal(ref);
  if (policy == PullPolicy::kMissing) {
    auto local = puller.LoadLocal(ref);
    if (local.ok()) return local;
  }
  oci::PullOptions options;
  options.jobs = jobs;
  auto pulled = puller.Pull(ref, options);
  if (pulled.ok() || pulled.status().code() != StatusCode::kUnavailable) return pulled;
  auto local = puller.LoadLocal(ref);
  if (!local.ok()) return pulled.status();
  log.Warning("registry unreachable (" + pulled.status().message() + "); using the local copy of " +
              ref.ToString());
  return local;
}

DeployPlan PlanDeploy(const DeployRequest& request, const rtimage::TrustDecision& decision) {
  DeployPlan plan;
  if (request.full) return plan;
  if (request.lazy && *request.lazy != fs::LazyMode::kRuntimeImage) {
    plan.kind = DeployPlan::kOwnMount;
    return plan;
  }
  // auto with --pull never stays with what the store has.
  if (!request.lazy && request.pull == PullPolicy::kNever) return plan;
  if (decision.accept == rtimage::Acceptance::kNone) {
    plan.not_shared = rtimage::NotUsed(decision).WithContext(request.ref.ToString());
    // A forced rtimage mode fails on it in Deploy.
    if (!request.lazy) return plan;
  }
  plan.kind = DeployPlan::kSharedMount;
  return plan;
}

Deployment::~Deployment() = default;

std::string Deployment::ModeLabel() const {
  return mode_ ? std::string(fs::LazyModeName(*mode_)) : "full";
}

std::string Deployment::signed_by() const {
  if (!shared_.mnt().empty()) return shared_.signed_by();
  if (lazy_ && lazy_->signature) return lazy_->signature->key_id;
  return "";
}

void Deployment::StopFetching() {
  if (mounted_) mounted_->StopFetching();
}

DeployStats Deployment::Stats(const Logger& log) const {
  DeployStats s;
  if (mounted_) {
    s.fs = mounted_->Stats();
    s.metadata_requests = lazy_->counters.requests.load();
    s.metadata_bytes = lazy_->counters.bytes.load();
    s.registry_requests = *s.metadata_requests;
    s.registry_bytes = *s.metadata_bytes;
    for (const char* part : {"fallback", "page_cache"}) {
      if (!s.fs.contains(part)) continue;
      s.registry_requests += s.fs[part].value("requests", int64_t{0});
      s.registry_bytes += s.fs[part].value("bytes", int64_t{0});
    }
    return s;
  }
  if (shared_.mnt().empty()) return s;
  // The resolve that found the mount, and the mount's own traffic when
  // this start began it (a start does not own another's).
  s.registry_requests = shared_counters_.requests.load();
  s.registry_bytes = shared_counters_.bytes.load();
  auto st = shared_.Stats();
  if (!st.ok()) {
    log.Warning("statistics of the shared mount: " + st.status().message());
    return s;
  }
  if (shared_.started()) {
    s.registry_requests += st->registry_requests;
    s.registry_bytes += st->registry_bytes;
  }
  s.fs = st->fs;
  s.shared = std::move(*st);
  return s;
}

Status Deployment::Stop() {
  if (!mounted_) return Status::Ok();
  return mounted_->Stop();
}

Result<std::unique_ptr<Deployment>> Deploy(const DeployRequest& request, const RegistrySetup& setup,
                                           const rtimage::TrustPolicy& policy, SharedMounts& mounts,
                                           const CancelToken* cancel) {
  const auto t0 = SteadyClock::now();
  const std::string& root = mounts.root();
  const Logger& log = setup.log;
  const rtimage::TrustDecision decision = policy.Decide(request.ref);
  DeployPlan plan = PlanDeploy(request, decision);
  std::unique_ptr<Deployment> d(new Deployment());
  if (plan.kind == DeployPlan::kSharedMount) {
    if (!plan.not_shared.ok()) return plan.not_shared;  // a forced rtimage mode
    AcquireOptions ao = request.server;
    ao.mode = request.lazy;
    ao.timeout = TimeLeft(request.deadline);
    auto acquired = mounts.Acquire(request.ref, decision, ao, &d->shared_counters_);
    d->mount_s_ = SecondsSince(t0);
    if (acquired.ok()) {
      d->shared_ = std::move(*acquired);
      d->image_ = d->shared_.image();
      d->mode_ = d->shared_.mode();
    } else if (request.lazy) {
      return acquired.status();
    } else if (acquired.status().code() == StatusCode::kNotFound) {
      log.Info(acquired.status().message());
      plan.kind = DeployPlan::kFull;
    } else {
      // Said without -v: a runtime image that was refused (or could not be
      // checked) is something the user wants to know about.
      log.Warning("not starting from a runtime image: " + acquired.status().message() +
                  "; starting from the full image");
      plan.kind = DeployPlan::kFull;
    }
  } else if (!plan.not_shared.ok()) {
    log.Info(plan.not_shared.message());
  }
  // Held until the container's root is mounted (Prepared): what the start
  // takes from the store is then visibly in use (syspgo gc).
  ASSIGN_OR_RETURN(d->gc_hold_, oci::LayerStore::HoldAgainstGc(root, cancel));
  if (plan.kind == DeployPlan::kOwnMount) {
    ASSIGN_OR_RETURN(d->lazy_, LocateLazyImage(request.ref, setup, policy, true));
    d->locate_s_ = SecondsSince(t0);
    ASSIGN_OR_RETURN(d->mount_dir_, fs::MountDir::Create(root));
    d->mode_ = request.lazy;
    ASSIGN_OR_RETURN(d->mounted_, MountLazyImage(*d->lazy_, *request.lazy, request.lazy_options,
                                                 root, setup, d->mount_dir_.mnt()));
    d->mount_s_ = SecondsSince(t0) - d->locate_s_;
    d->image_ = d->lazy_->image;
    d->image_.layer_paths = {d->mount_dir_.mnt()};
  } else if (plan.kind == DeployPlan::kFull) {
    d->mode_.reset();
    ASSIGN_OR_RETURN(oci::LayerStore store, oci::LayerStore::Open(root));
    oci::Puller puller(&store, setup.options, &log);
    ASSIGN_OR_RETURN(d->image_, ObtainImage(puller, request.ref, request.pull, request.jobs, log));
  }
  return d;
}

}  // namespace syspgo::node
