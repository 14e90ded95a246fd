// SPDX-License-Identifier: Apache-2.0
#include "cli/cli_util.h"

#include <cstdio>
#include <cstdlib>

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

std::string StoreRoot(const ParsedArgs& args) {
  if (auto r = args.Get("root")) return *r;
  if (const char* env = std::getenv("SYSPGO_ROOT"); env && *env) return env;
  return "/var/lib/syspgo";
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
  setup->options.cancel = ctx.cancel;
  setup->options.log = &setup->log;
  return setup;
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
