// SPDX-License-Identifier: Apache-2.0
#include "cli/cli_util.h"

#include <cstdio>
#include <cstdlib>

#include "common/file_util.h"

namespace syspgo::cli {
namespace {

const std::vector<OptionSpec> kCommonOptions = {
    {"root", true},              // store and state directory
    {"insecure-registry", true}, // plain HTTP allowed for this host
    {"authfile", true},          // docker config.json with credentials
    {"verbose", false, 'v'},
    {"help", false, 'h'},
};

}  // namespace

std::vector<OptionSpec> WithCommon(std::vector<OptionSpec> specs) {
  specs.insert(specs.end(), kCommonOptions.begin(), kCommonOptions.end());
  return specs;
}

Result<std::string> StoreRoot(const ParsedArgs& args) {
  std::string root = "/var/lib/syspgo";
  if (auto r = args.Get("root")) {
    root = *r;
  } else if (const char* env = std::getenv("SYSPGO_ROOT"); env && *env) {
    root = env;
  }
  bool tightened = false;
  RETURN_IF_ERROR(MakePrivateDir(root, &tightened));
  if (tightened) {
    std::fprintf(stderr,
                 "syspgo: warning: %s was readable by others; it is now mode 0700 (it holds "
                 "image files, caches of them and container state)\n",
                 root.c_str());
  }
  return root;
}

int Fail(const Status& st) {
  std::fprintf(stderr, "syspgo: %s\n", st.message().c_str());
  if (st.code() == StatusCode::kCancelled) return kExitCancelled;
  return kExitFailure;
}

int Usage(const char* text, const Status& st) {
  if (!st.ok()) std::fprintf(stderr, "syspgo: %s\n\n", st.message().c_str());
  std::fputs(text, st.ok() ? stdout : stderr);
  return st.ok() ? 0 : kExitUsage;
}

Result<std::unique_ptr<RegistrySetup>> RegistrySetup::Make(const ParsedArgs& args,
                                                          const CommandContext& ctx) {
  auto setup = std::make_unique<RegistrySetup>();
  setup->log = Logger(args.Has("verbose") ? LogLevel::kDebug : LogLevel::kWarning);
  ASSIGN_OR_RETURN(setup->credentials,
                   oci::CredentialStore::Load(args.Get("authfile").value_or("")));
  setup->options.insecure_hosts = args.GetAll("insecure-registry");
  setup->options.credentials = &setup->credentials;
  setup->options.tokens = &setup->tokens;
  setup->options.health = &setup->health;
  setup->options.cancel = ctx.cancel;
  setup->options.log = &setup->log;
  return setup;
}

Result<rtimage::TrustPolicy> LoadTrustPolicy(const ParsedArgs& args) {
  if (auto path = args.Get("trust-policy")) return rtimage::TrustPolicy::Load(*path);
  const std::string fallback(rtimage::kDefaultTrustPolicyPath);
  if (PathExists(fallback)) return rtimage::TrustPolicy::Load(fallback);
  return rtimage::TrustPolicy();
}

Result<oci::LocalImage> ObtainImage(oci::Puller& puller, const oci::ImageReference& ref,
                                    const std::string& policy, int jobs,
                                    const Logger& log) {
  if (policy == "never") return puller.LoadLocal(ref);
  if (policy == "missing") {
    auto local = puller.LoadLocal(ref);
    if (local.ok()) return local;
  }
  oci::PullOptions options;
  options.jobs = jobs;
  auto pulled = puller.Pull(ref, options);
  if (pulled.ok() || pulled.status().code() != StatusCode::kUnavailable) return pulled;
  auto local = puller.LoadLocal(ref);
  if (!local.ok()) return pulled.status();
  log.Warning("registry unreachable (" + pulled.status().message() +
              "); using the local copy of " + ref.ToString());
  return local;
}


}  // namespace syspgo::cli
