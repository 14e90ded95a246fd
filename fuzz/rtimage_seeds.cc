// SPDX-License-Identifier: Apache-2.0
// Valid inputs for the runtime image fuzz targets' short CI runs (the
// standalone driver mutates them): small metadata and a checkpoint index of
// a two-member gzip stream, followed by the stream itself.
#include <zlib.h>

#include <string>
#include <vector>

#include "common/sha256.h"
#include "common/stream.h"
#include "rtimage/format.h"
#include "rtimage/layer_index.h"

using namespace syspgo::rtimage;

namespace {

std::string Gzip(const std::string& data) {
  z_stream s{};
  deflateInit2(&s, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&s, static_cast<uLong>(data.size())) + 64, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  s.avail_in = static_cast<uInt>(data.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

std::string MetadataSeed() {
  Metadata m;
  m.image_digest = "sha256:" + std::string(64, 'a');
  m.sources = {"seed"};
  m.layers.push_back({"sha256:" + std::string(64, 'b'), "sha256:" + std::string(64, 'b'),
                      "application/vnd.oci.image.layer.v1.tar", 1 << 16, 1 << 16,
                      LayerAccess::kUncompressed});
  std::string data(300, 'x');
  m.chunks.push_back({syspgo::Sha256::Of(data), 0, 300, 300});
  m.blob_size = 4096;
  m.blob_digest = "sha256:" + std::string(64, 'c');
  m.index_digest = "sha256:" + std::string(64, 'd');
  FileContent c;
  c.size = 300;
  c.tar_offset = 512;
  c.extents = {{0, 300, 0}};
  m.contents = {c};
  Entry root;
  root.path = "/";
  root.mode = 0755;
  Entry dir = root;
  dir.path = "/etc";
  Entry file = root;
  file.path = "/etc/f";
  file.type = EntryType::kRegular;
  file.content = 0;
  file.xattrs = {{"user.a", "b"}};
  Entry link = root;
  link.path = "/etc/l";
  link.type = EntryType::kSymlink;
  link.symlink_target = "f";
  m.entries = {root, dir, file, link};
  return EncodeMetadata(m);
}

std::string IndexSeed() {
  std::string plain;
  for (int i = 0; plain.size() < 200000; ++i)
    plain += "record " + std::to_string(i * 7919 % 1000) + "\n";
  std::string gz = Gzip(plain) + Gzip(plain.substr(0, 5000));
  syspgo::StringReader source(gz);
  auto reader = IndexingReader::Create(StreamCompression::kGzip, &source, 16384);
  char buf[4096];
  while (reader.ok()) {
    auto n = (*reader)->Read(buf);
    if (!n.ok() || *n == 0) break;
  }
  auto index = (*reader)->TakeIndex();
  std::vector<LayerIndex> layers;
  if (index.ok()) layers.push_back(*index);
  return EncodeLayerIndexes(layers) + gz;
}

}  // namespace

std::vector<std::string> BuiltInSeeds() {
  std::string index_and_stream = IndexSeed();
  return {MetadataSeed(), index_and_stream};
}
