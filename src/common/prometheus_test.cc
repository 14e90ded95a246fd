// SPDX-License-Identifier: Apache-2.0
// Prometheus text: a hostile label value cannot end its label or line.
#include "common/prometheus.h"

#include <gtest/gtest.h>

namespace syspgo {
namespace {

TEST(PrometheusTest, EscapesLabelValues) {
  EXPECT_EQ(PrometheusLabelValue("plain/image:1"), "plain/image:1");
  EXPECT_EQ(PrometheusLabelValue("a\"} 1\nevil 2"), "a\\\"} 1\\nevil 2");
  EXPECT_EQ(PrometheusLabelValue("back\\slash"), "back\\\\slash");
  EXPECT_EQ(PrometheusLabelValue(""), "");
}

TEST(PrometheusTest, WritesHelpAndType) {
  EXPECT_EQ(PrometheusHeader("x_total", "Things \"done\".\nMore", "counter"),
            "# HELP x_total Things \"done\".\\nMore\n# TYPE x_total counter\n");
}

}  // namespace
}  // namespace syspgo
