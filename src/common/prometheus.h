// SPDX-License-Identifier: Apache-2.0
// File: common/prometheus.h
//
// Prometheus' text exposition format, the pieces every exporter here
// writes: a metric's # HELP and # TYPE lines, and label values escaped.
#ifndef SYSPGO_COMMON_PROMETHEUS_H_
#define SYSPGO_COMMON_PROMETHEUS_H_

#include <string>
#include <string_view>

namespace syspgo {

// A label value: \, " and newline escaped (as \\, \" and \n), so that a
// value from outside (a tag, an image name, a command) cannot end the
// label or the line.
std::string PrometheusLabelValue(std::string_view value);

// "# HELP NAME HELP\n# TYPE NAME TYPE\n", with \ and newlines in HELP
// escaped. TYPE: counter, gauge, histogram, summary or untyped.
std::string PrometheusHeader(std::string_view name, std::string_view help, std::string_view type);

}  // namespace syspgo

#endif  // SYSPGO_COMMON_PROMETHEUS_H_
