// SPDX-License-Identifier: Apache-2.0
// File: profile/symbolizer.h
//
// Source locations of machine addresses from DWARF, with elfutils' libdw:
// for an address of a binary, the chain of functions it executes in, the
// innermost (inlined) first and the function it was compiled into last,
// each with its name (the linkage name when there is one: what compilers
// match profiles by), its start line (DW_AT_decl_line) and the location in
// it (file, line, column, discriminator). For the inlined ones the location
// in the caller is the call site (DW_AT_call_line and the call's
// discriminator).
//
// Debug information is found in the binary itself, beside it (.debug/,
// the .gnu_debuglink name), under /usr/lib/debug (.build-id/xx/yyyy.debug)
// or in the directories given. A binary without it gets one frame per
// address from its symbol table (no line).
//
// Results are cached per (build-id, address). Threading: one thread uses a
// Symbolizer.
#ifndef SYSPGO_PROFILE_SYMBOLIZER_H_
#define SYSPGO_PROFILE_SYMBOLIZER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "profile/elf_file.h"

namespace syspgo::profile {

struct SourceFrame {
  std::string function;  // linkage name, else name; "" when unknown
  std::string file;      // "" when the address has no line
  uint32_t line = 0;     // 0: unknown
  uint32_t column = 0;
  uint32_t discriminator = 0;  // as encoded in the line table (LLVM: base, duplication, copy)
  uint32_t start_line = 0;     // the function's DW_AT_decl_line; 0: unknown
};
// Innermost first; the last frame is the function compiled out of line.
using InlineChain = std::vector<SourceFrame>;

// LLVM's base discriminator of an encoded one (what its sample profile
// loader matches: DILocation::getBaseDiscriminatorFromDiscriminator with
// prefix encoding and no flow-sensitive discriminators).
uint32_t LlvmBaseDiscriminator(uint32_t encoded);

class Symbolizer {
 public:
  // `debug_dirs`: more directories holding debug files (as
  // /usr/lib/debug: .build-id/xx/yyyy.debug, or by debuglink name).
  explicit Symbolizer(const std::vector<std::string>& debug_dirs = {});
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // The chain at `address` (a link-time virtual address of `elf`, as
  // ElfFile::AddressOfOffset gives). Never empty: without DWARF, the
  // symbol table's function (or "" when none covers it).
  const InlineChain& Symbolize(const ElfFile& elf, uint64_t address);
  // The line table's rows within [low, high) (link-time addresses of
  // `elf`): `row(address, bytes)` for each row's first address and the
  // bytes of code it covers there, in address order. Nothing without DWARF.
  // What the profile writer weighs samples by (code per source line).
  void ForEachLineRow(const ElfFile& elf, uint64_t low, uint64_t high,
                      const std::function<void(uint64_t address, uint64_t bytes)>& row);
  // Whether DWARF was found for the binary (after a Symbolize of it).
  bool HasDwarf(const std::string& build_id) const;

 private:
  struct Module;
  Module& ModuleFor(const ElfFile& elf);
  std::string debuginfo_path_;                              // libdwfl's search path
  std::map<std::string, std::unique_ptr<Module>> modules_;  // by build-id
};

}  // namespace syspgo::profile

#endif  // SYSPGO_PROFILE_SYMBOLIZER_H_
