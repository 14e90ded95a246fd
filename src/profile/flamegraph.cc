// SPDX-License-Identifier: Apache-2.0
#include "profile/flamegraph.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string_view>
#include <vector>

#include "common/file_util.h"

namespace syspgo::profile {
namespace {

constexpr double kWidth = 1200;
constexpr double kFrameHeight = 16;
constexpr double kPad = 10;
constexpr double kMinWidth = 0.1;  // narrower boxes are not drawn
constexpr double kCharWidth = 7;   // at font-size 12

struct Node {
  std::string name;
  uint64_t value = 0;
  std::map<std::string, std::unique_ptr<Node>> children;
};

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
    }
  }
  return out;
}

// Warm colours, stable per name; kernel frames in orange.
std::string Colour(const std::string& name) {
  uint32_t h = 2166136261u;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  char buf[32];
  if (name.ends_with("_[k]")) {
    std::snprintf(buf, sizeof(buf), "rgb(%u,%u,%u)", 230 + h % 25, 140 + (h >> 8) % 50,
                  40 + (h >> 16) % 30);
  } else {
    std::snprintf(buf, sizeof(buf), "rgb(%u,%u,%u)", 205 + h % 50, 60 + (h >> 8) % 140,
                  40 + (h >> 16) % 40);
  }
  return buf;
}

int Depth(const Node& n) {
  int d = 0;
  for (const auto& [name, c] : n.children) d = std::max(d, Depth(*c));
  return d + 1;
}

void Draw(const Node& n, double x, int depth, double per_sample, uint64_t total, double height,
          std::string* out) {
  const double w = static_cast<double>(n.value) * per_sample;
  if (w < kMinWidth) return;
  if (depth >= 0) {
    const double y = height - kPad - (depth + 1) * kFrameHeight;
    char head[256];
    std::snprintf(head, sizeof(head), "<g><title>%s (%llu samples, %.2f%%)</title>",
                  Escape(n.name).c_str(), static_cast<unsigned long long>(n.value),
                  100.0 * static_cast<double>(n.value) / static_cast<double>(total));
    *out += head;
    char rect[256];
    std::snprintf(
        rect, sizeof(rect),
        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" rx=\"2\"/>", x, y,
        w, kFrameHeight - 1, Colour(n.name).c_str());
    *out += rect;
    const size_t fits = w > 3 * kCharWidth ? static_cast<size_t>((w - 6) / kCharWidth) : 0;
    if (fits > 0) {
      std::string label = n.name.size() <= fits ? n.name : n.name.substr(0, fits - 2) + "..";
      char text[128];
      std::snprintf(text, sizeof(text), "<text x=\"%.1f\" y=\"%.1f\">", x + 3,
                    y + kFrameHeight - 4);
      *out += text + Escape(label) + "</text>";
    }
    *out += "</g>\n";
  }
  double cx = x;
  for (const auto& [name, c] : n.children) {
    Draw(*c, cx, depth + 1, per_sample, total, height, out);
    cx += static_cast<double>(c->value) * per_sample;
  }
}

}  // namespace

std::string FlameGraphSvg(const std::map<std::string, uint64_t>& folded, const std::string& title) {
  Node root;
  for (const auto& [stack, count] : folded) {
    root.value += count;
    Node* n = &root;
    for (std::string_view frame : Split(stack, ';', false)) {
      auto& child = n->children[std::string(frame)];
      if (!child) {
        child = std::make_unique<Node>();
        child->name = std::string(frame);
      }
      child->value += count;
      n = child.get();
    }
  }
  const int depth = std::max(1, Depth(root) - 1);
  const double height = depth * kFrameHeight + 2 * kPad + 24;
  const double per_sample = root.value ? (kWidth - 2 * kPad) / static_cast<double>(root.value) : 0;
  std::string out;
  char head[512];
  std::snprintf(
      head, sizeof(head),
      "<?xml version=\"1.0\" standalone=\"no\"?>\n"
      "<svg version=\"1.1\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
      "xmlns=\"http://www.w3.org/2000/svg\" font-family=\"Verdana, sans-serif\" font-size=\"12\">\n"
      "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"rgb(248,248,240)\"/>\n",
      kWidth, height, kWidth, height);
  out += head;
  char caption[128];
  std::snprintf(caption, sizeof(caption),
                "<text x=\"%.0f\" y=\"20\" text-anchor=\"middle\" font-size=\"16\">", kWidth / 2);
  out += caption + Escape(title) + " (" + std::to_string(root.value) + " samples)</text>\n";
  Draw(root, kPad, -1, per_sample, std::max<uint64_t>(root.value, 1), height, &out);
  out += "</svg>\n";
  return out;
}

}  // namespace syspgo::profile
