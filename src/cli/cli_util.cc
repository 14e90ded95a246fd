// SPDX-License-Identifier: Apache-2.0
#include "cli/cli_util.h"

#include <unistd.h>

#include <csignal>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/file_util.h"
#include "oci/http.h"

namespace syspgo::cli {
namespace {

const std::vector<OptionSpec> kCommonOptions = {
    {"root", true},               // store and state directory
    {"insecure-registry", true},  // plain HTTP allowed for this host
    {"tls-verify", true},         // =false: TLS without certificate checks
    {"certs-dir", true},          // certs.d directories (hosts.toml, ca.crt)
    {"authfile", true},           // docker config.json with credentials
    {"verbose", false, 'v'},
    {"help", false, 'h'},
};

}  // namespace

void PrepareProcess(void (*on_stop)(int)) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  oci::GlobalHttpInit();
}

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
  if (st.ok()) {
    std::fputs(text, stdout);
    return 0;
  }
  // The error, the synopsis (up to the first blank line) and where the rest
  // is: a usage error stays on the screen, not above a full page of help.
  const std::string_view page(text);
  const size_t blank = page.find("\n\n");
  const std::string_view synopsis =
      page.substr(0, blank == std::string_view::npos ? page.size() : blank + 1);
  std::string command;  // "syspgo image build": the synopsis' leading words
  std::string_view first = synopsis.substr(0, synopsis.find('\n'));
  if (first.starts_with("USAGE: ")) first.remove_prefix(7);
  for (std::string_view word : Split(first, ' ', false)) {
    if (word.empty() || !std::islower(static_cast<unsigned char>(word[0]))) break;
    command += (command.empty() ? "" : " ") + std::string(word);
  }
  std::fprintf(stderr, "syspgo: %s\n\n%.*sRun '%s --help' for every option.\n",
               st.message().c_str(), static_cast<int>(synopsis.size()), synopsis.data(),
               command.c_str());
  return kExitUsage;
}

Result<std::unique_ptr<node::RegistrySetup>> MakeRegistrySetup(const ParsedArgs& args,
                                                               const CommandContext& ctx) {
  node::RegistryFlags flags;
  flags.log_level = args.Has("verbose") ? LogLevel::kDebug : LogLevel::kWarning;
  flags.authfile = args.Get("authfile").value_or("");
  flags.insecure_hosts = args.GetAll("insecure-registry");
  flags.certs_dirs = args.GetAll("certs-dir");
  if (auto v = args.Get("tls-verify")) {
    if (*v != "true" && *v != "false") {
      return InvalidArgument("--tls-verify takes true or false, not '" + *v + "'");
    }
    flags.tls_verify = *v == "true";
  }
  return node::RegistrySetup::Create(flags, ctx.cancel);
}

std::vector<OptionSpec> WithLazyOptions(std::vector<OptionSpec> specs) {
  specs.push_back({"streams", true});
  specs.push_back({"fetch-timeout", true});
  specs.push_back({"trust-policy", true});
  return specs;
}

Result<node::LazyOptions> ParseLazyOptions(const ParsedArgs& args) {
  node::LazyOptions o;
  ASSIGN_OR_RETURN(int streams, args.GetInt("streams", 2, 1, 16));
  ASSIGN_OR_RETURN(int timeout, args.GetInt("fetch-timeout", 10, 1, 3600));
  o.streams = streams;
  o.fetch_timeout = std::chrono::seconds(timeout);
  return o;
}

std::string SelfBinary() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("syspgo");
}

std::vector<std::string> MountServerArgs(const ParsedArgs& args, const std::string& root) {
  std::vector<std::string> out = {"--root", root};
  for (const std::string& host : args.GetAll("insecure-registry")) {
    out.insert(out.end(), {"--insecure-registry", host});
  }
  for (const std::string& dir : args.GetAll("certs-dir")) {
    out.insert(out.end(), {"--certs-dir", dir});
  }
  for (const char* name : {"authfile", "tls-verify", "trust-policy", "fetch-timeout", "streams"}) {
    if (auto v = args.Get(name)) out.insert(out.end(), {std::string("--") + name, *v});
  }
  if (args.Has("verbose")) out.push_back("-v");
  return out;
}

std::string MountServerLog(const std::string& root) {
  const std::string dir = JoinPath(root, "logs");
  (void)MakePrivateDir(dir);
  return JoinPath(dir, "mount-server.log");
}

Result<rtimage::TrustPolicy> LoadTrustPolicy(const ParsedArgs& args) {
  if (auto path = args.Get("trust-policy")) return rtimage::TrustPolicy::Load(*path);
  const std::string fallback(rtimage::kDefaultTrustPolicyPath);
  if (PathExists(fallback)) return rtimage::TrustPolicy::Load(fallback);
  return rtimage::TrustPolicy();
}

}  // namespace syspgo::cli
