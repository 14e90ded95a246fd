// SPDX-License-Identifier: Apache-2.0
// File: node/access_profile.h
//
// What a traced start of an image read, as the runtime image builder takes
// it (rtimage::AccessProfile): the files of the image's own layers with
// their page ranges, plus what every start of any image reads before the
// traced process tree exists.
#ifndef SYSPGO_NODE_ACCESS_PROFILE_H_
#define SYSPGO_NODE_ACCESS_PROFILE_H_

#include <cstdint>

#include "oci/puller.h"
#include "rtimage/builder.h"
#include "trace/trace_format.h"

namespace syspgo::node {

// Files the trace saw in other images' layers are left out and counted in
// `foreign`; host paths are left to the builder, which keeps only paths
// the image has. /etc/passwd and /etc/group are added: syspgo and runc read
// them to resolve the image's user before the container's first process
// runs (the builder drops them when the image has none).
rtimage::AccessProfile AccessProfileOf(const trace::Trace& trace, const oci::LocalImage& image,
                                       uint64_t* foreign);

}  // namespace syspgo::node

#endif  // SYSPGO_NODE_ACCESS_PROFILE_H_
