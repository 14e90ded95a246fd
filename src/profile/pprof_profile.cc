// SPDX-License-Identifier: Apache-2.0
#include "profile/pprof_profile.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

#include "common/stream.h"
#include "oci/compression.h"
#include "proto/profile.pb.h"

namespace syspgo::profile {

namespace pb = perftools::profiles;

namespace {

// profile.proto's field numbers (google/pprof proto/profile.proto).
namespace field {
constexpr uint32_t kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4, kFunction = 5,
                   kStringTable = 6, kDurationNanos = 10;
constexpr uint32_t kValueTypeType = 1, kValueTypeUnit = 2;
constexpr uint32_t kSampleLocationId = 1, kSampleValue = 2;
constexpr uint32_t kMappingId = 1, kMappingMemoryStart = 2, kMappingFileOffset = 4,
                   kMappingFilename = 5, kMappingBuildId = 6;
constexpr uint32_t kLocationId = 1, kLocationMappingId = 2, kLocationAddress = 3, kLocationLine = 4;
constexpr uint32_t kLineFunctionId = 1, kLineLine = 2;
constexpr uint32_t kFunctionId = 1, kFunctionName = 2, kFunctionFilename = 4,
                   kFunctionStartLine = 5;
}  // namespace field

enum WireType { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

// The protobuf wire format over a byte range, every read bounds-checked.
// A message is a sequence of (tag, value); Next() reads a tag, then the
// caller reads its value with Varint() or Bytes(), or Skip()s it.
class Wire {
 public:
  explicit Wire(std::string_view bytes) : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}
  bool done() const { return p_ == end_; }

  bool Next(uint32_t* number, int* type) {
    uint64_t tag = 0;
    if (!Varint(&tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return false;
    *number = static_cast<uint32_t>(tag >> 3);
    *type = static_cast<int>(tag & 7);
    return true;
  }
  bool Varint(uint64_t* v) {
    uint64_t out = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      const auto b = static_cast<uint8_t>(*p_++);
      out |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *v = out;
        return true;
      }
    }
    return false;
  }
  bool Bytes(std::string_view* v) {
    uint64_t n = 0;
    if (!Varint(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    *v = std::string_view(p_, static_cast<size_t>(n));
    p_ += n;
    return true;
  }
  bool Skip(int type) {
    uint64_t ignored = 0;
    std::string_view bytes;
    switch (type) {
      case kVarint:
        return Varint(&ignored);
      case kLen:
        return Bytes(&bytes);
      case kFixed64:
        return Advance(8);
      case kFixed32:
        return Advance(4);
      default:  // groups (3, 4) are not in profile.proto
        return false;
    }
  }
  // A repeated integer field, packed (kLen) or one element (kVarint).
  template <typename Fn>
  bool Repeated(int type, Fn&& each) {
    uint64_t v = 0;
    if (type == kVarint) return Varint(&v) && each(v);
    std::string_view packed;
    if (type != kLen || !Bytes(&packed)) return false;
    Wire inner(packed);
    while (!inner.done()) {
      if (!inner.Varint(&v) || !each(v)) return false;
    }
    return true;
  }

 private:
  bool Advance(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    p_ += n;
    return true;
  }
  const char* p_;
  const char* end_;
};

// A varint field into `*out`; the field must be a varint.
bool ReadVarintField(Wire& w, int type, uint64_t* out) { return type == kVarint && w.Varint(out); }

// Where a message's varint field goes.
struct VarintField {
  uint32_t number;
  uint64_t* into;
};

// Reads a message: the varint fields `fields` names into their places, a
// length-delimited field of another number to `on_len(number, bytes)`
// (false refuses the message), anything else skipped. False when the
// message is malformed or refused.
template <typename OnLen>
bool ReadMessage(std::string_view msg, std::initializer_list<VarintField> fields, OnLen&& on_len) {
  Wire w(msg);
  while (!w.done()) {
    uint32_t number = 0;
    int type = 0;
    if (!w.Next(&number, &type)) return false;
    const VarintField* match = nullptr;
    for (const VarintField& f : fields) {
      if (f.number == number) match = &f;
    }
    std::string_view bytes;
    if (match != nullptr) {
      if (!ReadVarintField(w, type, match->into)) return false;
    } else if (type == kLen) {
      if (!w.Bytes(&bytes) || !on_len(number, bytes)) return false;
    } else if (!w.Skip(type)) {
      return false;
    }
  }
  return true;
}

bool ReadMessage(std::string_view msg, std::initializer_list<VarintField> fields) {
  return ReadMessage(msg, fields, [](uint32_t, std::string_view) { return true; });
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) return b > 0 ? std::numeric_limits<int64_t>::max() : 0;
  return out;
}

int64_t SaturatingMul(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) return std::numeric_limits<int64_t>::max();
  return out;
}

// What AddProfile keeps of a profile between its two passes: indices into
// the string table and the decoded bytes, no copies.
struct InMapping {
  uint64_t memory_start = 0, file_offset = 0, filename = 0, build_id = 0;
};
struct InFunction {
  uint64_t name = 0, filename = 0;
  int64_t start_line = 0;
};
struct InLine {
  uint64_t function = 0;
  int64_t line = 0;
};
struct InLocation {
  uint64_t mapping = 0, address = 0;
  size_t first_line = 0, lines = 0;
  uint64_t merged_id = 0;  // the builder's location, once made
};

}  // namespace

PprofBuilder::PprofBuilder(int64_t period_ns, int64_t duration_ns, const PprofLimits& limits)
    : limits_(limits), profile_(std::make_unique<pb::Profile>()) {
  Intern("");  // string_table[0] is ""
  auto* count = profile_->add_sample_type();
  count->set_type(Intern("samples"));
  count->set_unit(Intern("count"));
  auto* cpu = profile_->add_sample_type();
  cpu->set_type(Intern("cpu"));
  cpu->set_unit(Intern("nanoseconds"));
  profile_->mutable_period_type()->set_type(Intern("cpu"));
  profile_->mutable_period_type()->set_unit(Intern("nanoseconds"));
  profile_->set_period(period_ns);
  profile_->set_duration_nanos(duration_ns);
  profile_->set_default_sample_type(Intern("cpu"));
}

PprofBuilder::~PprofBuilder() = default;

Status PprofBuilder::Exhausted(std::string_view what, size_t limit) const {
  return ResourceExhausted("merged pprof profile: more than " + std::to_string(limit) + " " +
                           std::string(what) + " (docs/profile.md, Limits)");
}

int64_t PprofBuilder::Intern(std::string_view s) {
  auto it = strings_.find(s);
  if (it != strings_.end()) return it->second;
  const auto id = static_cast<int64_t>(strings_.size());
  strings_.emplace(std::string(s), id);
  profile_->add_string_table(std::string(s));
  string_bytes_ += s.size();
  return id;
}

Result<uint64_t> PprofBuilder::MappingId(int64_t file, int64_t build_id) {
  auto key = std::make_pair(file, build_id);
  auto it = mappings_.find(key);
  if (it != mappings_.end()) return it->second;
  if (mappings_.size() >= limits_.mappings) return Exhausted("mappings", limits_.mappings);
  const uint64_t id = mappings_.size() + 1;
  pb::Mapping* m = profile_->add_mapping();
  m->set_id(id);
  m->set_memory_start(0);
  m->set_memory_limit(~0ull);
  m->set_file_offset(0);
  m->set_filename(file);
  m->set_build_id(build_id);
  m->set_has_functions(true);
  m->set_has_filenames(true);
  m->set_has_line_numbers(true);
  m->set_has_inline_frames(true);
  mappings_.emplace(key, id);
  return id;
}

Result<uint64_t> PprofBuilder::FunctionId(int64_t name, int64_t file, int64_t start_line) {
  auto key = std::make_tuple(name, file, start_line);
  auto it = functions_.find(key);
  if (it != functions_.end()) return it->second;
  if (functions_.size() >= limits_.merged_functions) {
    return Exhausted("functions", limits_.merged_functions);
  }
  const uint64_t id = functions_.size() + 1;
  pb::Function* fn = profile_->add_function();
  fn->set_id(id);
  fn->set_name(name);
  fn->set_system_name(name);
  fn->set_filename(file);
  fn->set_start_line(start_line);
  functions_.emplace(key, id);
  return id;
}

Result<uint64_t> PprofBuilder::LocationId(uint64_t mapping, uint64_t address,
                                          std::span<const LineIds> lines) {
  auto key = std::make_pair(mapping, address);
  auto it = locations_.find(key);
  if (it != locations_.end()) return it->second;
  if (locations_.size() >= limits_.merged_locations) {
    return Exhausted("locations", limits_.merged_locations);
  }
  const uint64_t id = locations_.size() + 1;
  pb::Location* loc = profile_->add_location();
  loc->set_id(id);
  loc->set_mapping_id(mapping);
  loc->set_address(address);
  for (const LineIds& l : lines) {
    pb::Line* line = loc->add_line();
    line->set_function_id(l.function);
    line->set_line(l.line);
  }
  locations_.emplace(key, id);
  return id;
}

Status PprofBuilder::AddStack(const std::vector<uint64_t>& ids, uint64_t count) {
  if (ids.empty() || count == 0) return Status::Ok();
  if (string_bytes_ > limits_.merged_string_bytes) {
    return Exhausted("bytes of strings", limits_.merged_string_bytes);
  }
  auto it = sample_index_.find(ids);
  pb::Sample* s;
  if (it == sample_index_.end()) {
    if (sample_index_.size() >= limits_.merged_stacks) {
      return Exhausted("distinct stacks", limits_.merged_stacks);
    }
    if (frames_ + ids.size() > limits_.merged_frames) {
      return Exhausted("frames in distinct stacks", limits_.merged_frames);
    }
    sample_index_.emplace(ids, profile_->sample_size());
    frames_ += ids.size();
    s = profile_->add_sample();
    for (uint64_t id : ids) s->add_location_id(id);
    s->add_value(0);
    s->add_value(0);
  } else {
    s = profile_->mutable_sample(it->second);
  }
  const int64_t n = count > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                        ? std::numeric_limits<int64_t>::max()
                        : static_cast<int64_t>(count);
  s->set_value(0, SaturatingAdd(s->value(0), n));
  s->set_value(1, SaturatingAdd(s->value(1), SaturatingMul(n, profile_->period())));
  samples_ += count;
  return Status::Ok();
}

Status PprofBuilder::AddSample(const std::vector<PprofFrame>& frames, uint64_t count) {
  if (frames.empty() || count == 0) return Status::Ok();
  std::vector<uint64_t> ids;
  ids.reserve(frames.size());
  std::vector<LineIds> lines;
  for (const PprofFrame& f : frames) {
    ASSIGN_OR_RETURN(uint64_t mapping, MappingId(Intern(f.binary), Intern(f.build_id)));
    lines.clear();
    for (const PprofLine& l : f.lines) {
      ASSIGN_OR_RETURN(uint64_t fn, FunctionId(Intern(l.function), Intern(l.file), l.start_line));
      lines.push_back({fn, l.line});
    }
    ASSIGN_OR_RETURN(uint64_t id, LocationId(mapping, f.address, lines));
    ids.push_back(id);
  }
  return AddStack(ids, count);
}

Status PprofBuilder::AddProfile(std::string_view bytes) {
  const PprofLimits& lim = limits_;
  auto too_many = [](std::string_view what, size_t limit) {
    return ResourceExhausted("pprof profile: more than " + std::to_string(limit) + " " +
                             std::string(what) + " (docs/profile.md, Limits)");
  };
  auto bad = [](std::string_view why) {
    return Corruption("not a pprof profile: " + std::string(why));
  };
  std::string raw;
  if (oci::SniffCompression(std::span<const char>(
          bytes.data(), std::min<size_t>(bytes.size(), 8))) == oci::Compression::kGzip) {
    StringReader source(bytes);
    ASSIGN_OR_RETURN(auto reader, oci::NewDecompressingReader(oci::Compression::kGzip, &source));
    char buf[1 << 16];
    for (;;) {
      ASSIGN_OR_RETURN(size_t n, reader->Read(buf));
      if (n == 0) break;
      if (raw.size() + n > lim.decoded_bytes) {
        return too_many("bytes decoded", lim.decoded_bytes);
      }
      raw.append(buf, n);
    }
    bytes = raw;
  } else if (bytes.size() > lim.decoded_bytes) {
    return too_many("bytes", lim.decoded_bytes);
  }

  // Pass 1: everything but the samples.
  std::vector<std::string_view> strings;
  std::vector<std::pair<uint64_t, uint64_t>> sample_types;  // (type, unit)
  std::unordered_map<uint64_t, InMapping> mappings;
  std::unordered_map<uint64_t, InFunction> functions;
  std::unordered_map<uint64_t, size_t> location_index;
  std::vector<InLocation> locations;
  std::vector<InLine> lines;
  size_t samples = 0;
  int64_t duration = 0;
  Wire top(bytes);
  while (!top.done()) {
    uint32_t number = 0;
    int type = 0;
    if (!top.Next(&number, &type)) return bad("a malformed field");
    std::string_view msg;
    const bool len = type == kLen;
    if (number == field::kStringTable || number == field::kSampleType || number == field::kSample ||
        number == field::kMapping || number == field::kLocation || number == field::kFunction) {
      if (!len || !top.Bytes(&msg)) return bad("a malformed message");
    }
    uint64_t v = 0;
    switch (number) {
      case field::kStringTable:
        if (strings.size() >= lim.strings) return too_many("strings", lim.strings);
        strings.push_back(msg);
        break;
      case field::kSampleType: {
        std::pair<uint64_t, uint64_t> st{0, 0};
        if (!ReadMessage(
                msg, {{field::kValueTypeType, &st.first}, {field::kValueTypeUnit, &st.second}})) {
          return bad("a malformed sample type");
        }
        if (sample_types.size() >= 64) return too_many("sample types", 64);
        sample_types.push_back(st);
        break;
      }
      case field::kSample:
        if (++samples > lim.samples) return too_many("samples", lim.samples);
        break;  // pass 2
      case field::kMapping: {
        if (mappings.size() >= lim.mappings) return too_many("mappings", lim.mappings);
        uint64_t id = 0;
        InMapping m;
        if (!ReadMessage(msg, {{field::kMappingId, &id},
                               {field::kMappingMemoryStart, &m.memory_start},
                               {field::kMappingFileOffset, &m.file_offset},
                               {field::kMappingFilename, &m.filename},
                               {field::kMappingBuildId, &m.build_id}})) {
          return bad("a malformed mapping");
        }
        mappings[id] = m;
        break;
      }
      case field::kFunction: {
        if (functions.size() >= lim.functions) return too_many("functions", lim.functions);
        uint64_t id = 0, start = 0;
        InFunction fn;
        if (!ReadMessage(msg, {{field::kFunctionId, &id},
                               {field::kFunctionName, &fn.name},
                               {field::kFunctionFilename, &fn.filename},
                               {field::kFunctionStartLine, &start}})) {
          return bad("a malformed function");
        }
        fn.start_line = static_cast<int64_t>(start);
        functions[id] = fn;
        break;
      }
      case field::kLocation: {
        if (locations.size() >= lim.locations) return too_many("locations", lim.locations);
        uint64_t id = 0;
        InLocation loc;
        loc.first_line = lines.size();
        bool too_many_lines = false;
        auto line = [&](uint32_t f, std::string_view line_msg) {
          if (f != field::kLocationLine) return true;
          if (lines.size() >= lim.lines) {
            too_many_lines = true;
            return false;
          }
          InLine l;
          uint64_t line_no = 0;
          if (!ReadMessage(line_msg,
                           {{field::kLineFunctionId, &l.function}, {field::kLineLine, &line_no}})) {
            return false;
          }
          l.line = static_cast<int64_t>(line_no);
          lines.push_back(l);
          return true;
        };
        if (!ReadMessage(msg,
                         {{field::kLocationId, &id},
                          {field::kLocationMappingId, &loc.mapping},
                          {field::kLocationAddress, &loc.address}},
                         line)) {
          return too_many_lines ? too_many("lines", lim.lines) : bad("a malformed location");
        }
        loc.lines = lines.size() - loc.first_line;
        location_index[id] = locations.size();
        locations.push_back(loc);
        break;
      }
      case field::kDurationNanos:
        if (!ReadVarintField(top, type, &v)) return bad("a malformed duration");
        duration = static_cast<int64_t>(v);
        break;
      default:
        if (!top.Skip(type)) return bad("a malformed field");
    }
  }
  auto str = [&](uint64_t i) -> Result<std::string_view> {
    if (i >= strings.size()) return bad("a string index out of range");
    return strings[i];
  };
  int count_index = -1;
  for (size_t i = 0; i < sample_types.size(); ++i) {
    ASSIGN_OR_RETURN(std::string_view type, str(sample_types[i].first));
    ASSIGN_OR_RETURN(std::string_view unit, str(sample_types[i].second));
    if (type == "samples" && unit == "count") count_index = static_cast<int>(i);
  }
  if (count_index < 0) return Corruption("pprof profile without a samples/count value");

  // The builder's location for an input location id, made on first use.
  std::vector<LineIds> line_ids;
  auto merged_location = [&](uint64_t id) -> Result<uint64_t> {
    auto idx = location_index.find(id);
    if (idx == location_index.end()) return bad("a sample names an unknown location");
    InLocation& loc = locations[idx->second];
    if (loc.merged_id != 0) return loc.merged_id;
    std::string_view binary, build_id;
    uint64_t address = loc.address;
    if (auto m = mappings.find(loc.mapping); m != mappings.end()) {
      ASSIGN_OR_RETURN(binary, str(m->second.filename));
      ASSIGN_OR_RETURN(build_id, str(m->second.build_id));
      address = loc.address - m->second.memory_start + m->second.file_offset;
    }
    ASSIGN_OR_RETURN(uint64_t mapping, MappingId(Intern(binary), Intern(build_id)));
    line_ids.clear();
    for (size_t i = loc.first_line; i < loc.first_line + loc.lines; ++i) {
      auto fn = functions.find(lines[i].function);
      if (fn == functions.end()) return bad("a location names an unknown function");
      ASSIGN_OR_RETURN(std::string_view name, str(fn->second.name));
      ASSIGN_OR_RETURN(std::string_view file, str(fn->second.filename));
      ASSIGN_OR_RETURN(uint64_t merged_fn,
                       FunctionId(Intern(name), Intern(file), fn->second.start_line));
      line_ids.push_back({merged_fn, lines[i].line});
    }
    ASSIGN_OR_RETURN(loc.merged_id, LocationId(mapping, address, line_ids));
    return loc.merged_id;
  };

  // Pass 2: the samples, one at a time.
  size_t frames = 0;
  std::vector<uint64_t> ids;
  std::vector<uint64_t> stack;
  Wire again(bytes);
  while (!again.done()) {
    uint32_t number = 0;
    int type = 0;
    if (!again.Next(&number, &type)) return bad("a malformed field");
    if (number != field::kSample) {
      if (!again.Skip(type)) return bad("a malformed field");
      continue;
    }
    std::string_view msg;
    if (type != kLen || !again.Bytes(&msg)) return bad("a malformed sample");
    ids.clear();
    int64_t count = 0;
    int value_index = 0;
    Wire w(msg);
    while (!w.done()) {
      uint32_t f = 0;
      int t = 0;
      if (!w.Next(&f, &t)) return bad("a malformed sample");
      bool ok = true;
      if (f == field::kSampleLocationId) {
        ok = w.Repeated(t, [&](uint64_t v) {
          if (++frames > lim.frames) return false;
          ids.push_back(v);
          return true;
        });
        if (!ok && frames > lim.frames) return too_many("frames", lim.frames);
      } else if (f == field::kSampleValue) {
        ok = w.Repeated(t, [&](uint64_t v) {
          if (value_index++ == count_index) count = static_cast<int64_t>(v);
          return true;
        });
      } else {
        ok = w.Skip(t);
      }
      if (!ok) return bad("a malformed sample");
    }
    if (count <= 0 || ids.empty()) continue;
    stack.clear();
    for (uint64_t id : ids) {
      ASSIGN_OR_RETURN(uint64_t merged, merged_location(id));
      stack.push_back(merged);
    }
    RETURN_IF_ERROR(AddStack(stack, static_cast<uint64_t>(count)));
  }
  profile_->set_duration_nanos(
      SaturatingAdd(profile_->duration_nanos(), std::max<int64_t>(0, duration)));
  return Status::Ok();
}

Result<std::string> PprofBuilder::Gzipped() const {
  std::string raw;
  if (!profile_->SerializeToString(&raw)) return Internal("serialize pprof profile");
  std::string out;
  ASSIGN_OR_RETURN(auto writer, oci::NewCompressingWriter(oci::Compression::kGzip,
                                                          [&](std::span<const char> chunk) {
                                                            out.append(chunk.data(), chunk.size());
                                                            return Status::Ok();
                                                          }));
  RETURN_IF_ERROR(writer->Write(raw));
  RETURN_IF_ERROR(writer->Finish());
  return out;
}

}  // namespace syspgo::profile
