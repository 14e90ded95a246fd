// SPDX-License-Identifier: Apache-2.0
#include "profile/pprof_profile.h"

#include "common/stream.h"
#include "oci/compression.h"
#include "proto/profile.pb.h"

namespace syspgo::profile {

namespace pb = perftools::profiles;

PprofBuilder::PprofBuilder(int64_t period_ns, int64_t duration_ns)
    : profile_(std::make_unique<pb::Profile>()) {
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

int64_t PprofBuilder::Intern(const std::string& s) {
  auto [it, added] = strings_.emplace(s, static_cast<int64_t>(strings_.size()));
  if (added) profile_->add_string_table(s);
  return it->second;
}

uint64_t PprofBuilder::MappingId(const PprofFrame& f) {
  auto key = std::make_pair(f.binary, f.build_id);
  auto it = mappings_.find(key);
  if (it != mappings_.end()) return it->second;
  const uint64_t id = mappings_.size() + 1;
  pb::Mapping* m = profile_->add_mapping();
  m->set_id(id);
  m->set_memory_start(0);
  m->set_memory_limit(~0ull);
  m->set_file_offset(0);
  m->set_filename(Intern(f.binary));
  m->set_build_id(Intern(f.build_id));
  m->set_has_functions(true);
  m->set_has_filenames(true);
  m->set_has_line_numbers(true);
  m->set_has_inline_frames(true);
  mappings_.emplace(key, id);
  return id;
}

uint64_t PprofBuilder::FunctionId(const PprofLine& l) {
  auto key = std::make_tuple(l.function, l.file, l.start_line);
  auto it = functions_.find(key);
  if (it != functions_.end()) return it->second;
  const uint64_t id = functions_.size() + 1;
  pb::Function* fn = profile_->add_function();
  fn->set_id(id);
  fn->set_name(Intern(l.function));
  fn->set_system_name(Intern(l.function));
  fn->set_filename(Intern(l.file));
  fn->set_start_line(l.start_line);
  functions_.emplace(key, id);
  return id;
}

uint64_t PprofBuilder::LocationId(const PprofFrame& f) {
  auto key = std::make_tuple(f.binary, f.build_id, f.address);
  auto it = locations_.find(key);
  if (it != locations_.end()) return it->second;
  const uint64_t id = locations_.size() + 1;
  const uint64_t mapping = MappingId(f);
  pb::Location* loc = profile_->add_location();
  loc->set_id(id);
  loc->set_mapping_id(mapping);
  loc->set_address(f.address);
  for (const PprofLine& l : f.lines) {
    pb::Line* line = loc->add_line();
    line->set_function_id(FunctionId(l));
    line->set_line(l.line);
  }
  locations_.emplace(key, id);
  return id;
}

void PprofBuilder::AddSample(const std::vector<PprofFrame>& frames, uint64_t count) {
  if (frames.empty() || count == 0) return;
  std::vector<uint64_t> ids;
  ids.reserve(frames.size());
  for (const PprofFrame& f : frames) ids.push_back(LocationId(f));
  auto [it, added] = sample_index_.emplace(ids, profile_->sample_size());
  pb::Sample* s;
  if (added) {
    s = profile_->add_sample();
    for (uint64_t id : ids) s->add_location_id(id);
    s->add_value(0);
    s->add_value(0);
  } else {
    s = profile_->mutable_sample(it->second);
  }
  s->set_value(0, s->value(0) + static_cast<int64_t>(count));
  s->set_value(1, s->value(1) + static_cast<int64_t>(count) * profile_->period());
  samples_ += count;
}

Status PprofBuilder::AddProfile(std::string_view bytes) {
  std::string raw;
  if (oci::SniffCompression(std::span<const char>(
          bytes.data(), std::min<size_t>(bytes.size(), 8))) == oci::Compression::kGzip) {
    StringReader source(bytes);
    ASSIGN_OR_RETURN(auto reader, oci::NewDecompressingReader(oci::Compression::kGzip, &source));
    char buf[1 << 16];
    for (;;) {
      ASSIGN_OR_RETURN(size_t n, reader->Read(buf));
      if (n == 0) break;
      raw.append(buf, n);
      if (raw.size() > (1u << 30)) return Corruption("pprof profile larger than 1 GiB");
    }
    bytes = raw;
  }
  pb::Profile in;
  if (!in.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Corruption("not a pprof profile (protobuf)");
  }
  auto str = [&](int64_t i) -> std::string {
    return i >= 0 && i < in.string_table_size() ? in.string_table(static_cast<int>(i)) : "";
  };
  int count_index = -1;
  for (int i = 0; i < in.sample_type_size(); ++i) {
    if (str(in.sample_type(i).type()) == "samples" && str(in.sample_type(i).unit()) == "count")
      count_index = i;
  }
  if (count_index < 0) return Corruption("pprof profile without a samples/count value");
  std::map<uint64_t, const pb::Mapping*> mappings;
  for (const pb::Mapping& m : in.mapping()) mappings[m.id()] = &m;
  std::map<uint64_t, const pb::Function*> functions;
  for (const pb::Function& fn : in.function()) functions[fn.id()] = &fn;
  std::map<uint64_t, PprofFrame> locations;
  for (const pb::Location& loc : in.location()) {
    PprofFrame f;
    f.address = loc.address();
    if (auto m = mappings.find(loc.mapping_id()); m != mappings.end()) {
      f.binary = str(m->second->filename());
      f.build_id = str(m->second->build_id());
      f.address = loc.address() - m->second->memory_start() + m->second->file_offset();
    }
    for (const pb::Line& l : loc.line()) {
      auto fn = functions.find(l.function_id());
      if (fn == functions.end()) return Corruption("pprof location names an unknown function");
      f.lines.push_back({str(fn->second->name()), str(fn->second->filename()),
                         fn->second->start_line(), l.line()});
    }
    locations[loc.id()] = std::move(f);
  }
  for (const pb::Sample& s : in.sample()) {
    std::vector<PprofFrame> frames;
    for (uint64_t id : s.location_id()) {
      auto it = locations.find(id);
      if (it == locations.end()) return Corruption("pprof sample names an unknown location");
      frames.push_back(it->second);
    }
    if (count_index < s.value_size() && s.value(count_index) > 0) {
      AddSample(frames, static_cast<uint64_t>(s.value(count_index)));
    }
  }
  profile_->set_duration_nanos(profile_->duration_nanos() + in.duration_nanos());
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
