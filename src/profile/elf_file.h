// SPDX-License-Identifier: Apache-2.0
// File: profile/elf_file.h
//
// What the profiler needs from an ELF file without debug information: its
// build-id (the NT_GNU_BUILD_ID note, which names a binary across hosts,
// containers and rebuilds), the mapping from file offsets to addresses
// (PT_LOAD), and its function symbols (.symtab, else .dynsym). The file
// stays open, so that DWARF (profile/symbolizer.h) can be read after the
// process that mapped it is gone. Move-only.
#ifndef SYSPGO_PROFILE_ELF_FILE_H_
#define SYSPGO_PROFILE_ELF_FILE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "profile/bb_addr_map.h"
#include "common/unique_fd.h"

namespace syspgo::profile {

struct ElfSymbol {
  uint64_t address = 0;  // st_value
  uint64_t size = 0;
  std::string name;
};

struct ElfSegment {
  uint64_t offset = 0;  // p_offset
  uint64_t vaddr = 0;   // p_vaddr
  uint64_t filesz = 0;
};

class ElfFile {
 public:
  // Reads the file's build-id, segments and function symbols.
  static Result<ElfFile> Load(const std::string& path);
  // Hex: the GNU build-id note; for Go binaries without one, 40 hex digits
  // derived from the Go build ID note; "" when the file has neither.
  const std::string& build_id() const { return build_id_; }
  // Built by Go (it has Go's build ID note): its profile is the .pprof.
  bool is_go() const { return go_; }
  // The address a file offset is loaded at (executable segments only).
  std::optional<uint64_t> AddressOfOffset(uint64_t offset) const;
  // The function containing an address, or nullptr.
  const ElfSymbol* FunctionAt(uint64_t address) const;
  size_t symbol_count() const { return symbols_.size(); }
  // The machine blocks in [low, high) (profile/bb_addr_map.h): empty when
  // the binary has no BB address map (or an unreadable one).
  std::span<const MachineBlock> BlocksIn(uint64_t low, uint64_t high) const;
  bool has_blocks() const { return !blocks_.empty(); }
  // The open file (read-only, O_CLOEXEC) and the name it was opened by.
  int fd() const { return fd_.get(); }
  const std::string& opened_path() const { return path_; }

 private:
  UniqueFd fd_;
  std::string path_;
  std::string build_id_;
  bool go_ = false;
  std::vector<ElfSegment> exec_segments_;
  std::vector<ElfSymbol> symbols_;    // sorted by address
  std::vector<MachineBlock> blocks_;  // sorted by address
};

// The build-id of the ELF file at path (hex), "" when it has none.
Result<std::string> ReadBuildId(const std::string& path);

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_ELF_FILE_H_
