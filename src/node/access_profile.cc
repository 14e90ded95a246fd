// SPDX-License-Identifier: Apache-2.0
#include "node/access_profile.h"

#include <algorithm>

namespace syspgo::node {

rtimage::AccessProfile AccessProfileOf(const trace::Trace& trace, const oci::LocalImage& image,
                                       uint64_t* foreign) {
  rtimage::AccessProfile profile;
  profile.source = trace.target + " until " + trace.ready;
  profile.page_size = trace.page_size;
  for (const trace::TracedFile& f : trace.files) {
    if (f.path.empty()) continue;
    if (!f.layer.empty()) {
      const bool ours = std::any_of(image.config.diff_ids.begin(), image.config.diff_ids.end(),
                                    [&](const oci::Digest& d) { return d.ToString() == f.layer; });
      if (!ours) {
        ++*foreign;
        continue;
      }
    }
    rtimage::AccessedFile a;
    a.path = f.path;
    a.first_access_ns = f.first_access_ns;
    for (const trace::PageRange& r : f.ranges) a.pages.emplace_back(r.first_page, r.pages);
    profile.files.push_back(std::move(a));
  }
  // The builder cuts the ranges at the end of each file.
  for (const char* path : {"/etc/passwd", "/etc/group"}) {
    profile.files.push_back({path, 0, {{0, 16}}});
  }
  return profile;
}

}  // namespace syspgo::node
