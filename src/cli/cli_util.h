// SPDX-License-Identifier: Apache-2.0
// File: cli/cli_util.h
//
// What several subcommands share: common options, the store root, registry
// set-up, getting an image into the store, and error reporting.
#ifndef SYSPGO_CLI_CLI_UTIL_H_
#define SYSPGO_CLI_CLI_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/log.h"
#include "common/status.h"
#include "oci/auth.h"
#include "node/image_source.h"
#include "oci/puller.h"
#include "rtimage/trust_policy.h"

namespace syspgo::cli {

// --root, --insecure-registry, --tls-verify, --certs-dir, --authfile, -v,
// -h added to a command's own.
std::vector<OptionSpec> WithCommon(std::vector<OptionSpec> specs);
// --root, else $SYSPGO_ROOT, else /var/lib/syspgo; made private (0700):
// one that others may enter is tightened (with a warning) when we own it,
// refused otherwise. It holds image bytes, some of them root's only.
Result<std::string> StoreRoot(const ParsedArgs& args);
// Prints "syspgo: <message>" and returns the exit code for it.
int Fail(const Status& st);
// Prints the error (if any) and the usage text; 0 for --help, else 2.
int Usage(const char* text, const Status& st = Status());

// What every registry-facing command needs (node/image_source.h), from
// --insecure-registry, --tls-verify, --certs-dir, --authfile, -v, and
// $SSL_CERT_FILE / $CURL_CA_BUNDLE (CAs trusted for every registry).
Result<std::unique_ptr<node::RegistrySetup>> MakeRegistrySetup(const ParsedArgs& args,
                                                               const CommandContext& ctx);

// --streams, --fetch-timeout and --trust-policy added to a command's options.
std::vector<OptionSpec> WithLazyOptions(std::vector<OptionSpec> specs);
Result<node::LazyOptions> ParseLazyOptions(const ParsedArgs& args);

// What every syspgo program's main does first: SIGINT and SIGTERM call
// `on_stop` (which sets the flag its CancelToken reads), SIGPIPE is
// ignored (a closed socket is an error value, not a death), libcurl is
// initialized once.
void PrepareProcess(void (*on_stop)(int));

// This program's path (/proc/self/exe), to start mount servers with.
std::string SelfBinary();
// The options a mount server started for this command needs (its store
// root, registries, credentials, trust policy, fetch options, -v).
std::vector<std::string> MountServerArgs(const ParsedArgs& args, const std::string& root);
// Where mount servers started by front ends log: <root>/logs/mount-server.log.
std::string MountServerLog(const std::string& root);

// --trust-policy FILE, else /etc/syspgo/trust-policy.json when it exists,
// else the default policy (rtimage/trust_policy.h).
Result<rtimage::TrustPolicy> LoadTrustPolicy(const ParsedArgs& args);

}  // namespace syspgo::cli

#endif  // SYSPGO_CLI_CLI_UTIL_H_
