// SPDX-License-Identifier: Apache-2.0
// File: cli/image_trace.h
//
// A traced cold start of an image, shared by `syspgo trace IMAGE` and
// `syspgo image optimize`.
#ifndef SYSPGO_CLI_IMAGE_TRACE_H_
#define SYSPGO_CLI_IMAGE_TRACE_H_

#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/status.h"
#include "oci/puller.h"
#include "run/readiness.h"
#include "trace/trace_format.h"

namespace syspgo::cli {

struct ImageTrace {
  oci::LocalImage image;
  trace::Trace trace;
  double running_s = 0;
  double ready_s = 0;
};

// Pulls the image (per --pull), drops the page cache, starts the container
// through runc with the tracer following its mount namespace, waits for
// `ready`, and returns the trace. Uses --root, --runc, --pull and
// --keep-readahead from args and runs args.rest (or the image's command).
Result<ImageTrace> TraceImageStart(const ParsedArgs& args, const std::string& image,
                                   const run::ReadyCondition& ready, int timeout_s,
                                   const CommandContext& ctx);

}  // namespace syspgo::cli

#endif  // SYSPGO_CLI_IMAGE_TRACE_H_
