// SPDX-License-Identifier: Apache-2.0
#include "profile/symbolizer.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <unordered_map>

namespace syspgo::profile {
namespace {

// The call's discriminator on an inlined subroutine (GCC and LLVM emit it;
// elfutils' dwarf.h does not name it).
constexpr int kAtGnuDiscriminator = 0x2136;

// Decoding as LLVM's DILocation::getUnsignedFromPrefixEncoding.
uint32_t FromPrefixEncoding(uint32_t u) {
  if (u & 1) return 0;
  u >>= 1;
  if (u & 64) return ((u >> 1) & 0xfe0) | (u & 0x1f);
  return u & 0x3f;
}

struct DwflCloser {
  void operator()(Dwfl* d) const { dwfl_end(d); }
};

// An attribute of a DIE or of the DIE it is an instance or declaration of
// (DW_AT_abstract_origin, DW_AT_specification).
const char* StringAttr(Dwarf_Die* die, int name) {
  Dwarf_Attribute attr;
  if (!dwarf_attr_integrate(die, name, &attr)) return nullptr;
  return dwarf_formstring(&attr);
}
uint32_t NumberAttr(Dwarf_Die* die, int name) {
  Dwarf_Attribute attr;
  Dwarf_Word v = 0;
  if (!dwarf_attr_integrate(die, name, &attr) || dwarf_formudata(&attr, &v) != 0) return 0;
  return static_cast<uint32_t>(v);
}

std::string FunctionName(Dwarf_Die* die) {
  for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name, DW_AT_name}) {
    if (const char* s = StringAttr(die, at)) return s;
  }
  return "";
}

}  // namespace

uint32_t LlvmBaseDiscriminator(uint32_t encoded) { return FromPrefixEncoding(encoded); }

struct Symbolizer::Module {
  std::string path;
  char* path_ptr = nullptr;
  Dwfl_Callbacks callbacks{};
  std::unique_ptr<Dwfl, DwflCloser> dwfl;  // after what it points at
  Dwfl_Module* mod = nullptr;
  Dwarf* dw = nullptr;    // owned by dwfl
  Dwarf_Addr dwbias = 0;  // libdwfl's addresses minus DWARF's
  GElf_Addr bias = 0;     // libdwfl's addresses minus the file's
  bool dwarf = false;
  // Address ranges of the compile units, sorted: found from the units
  // themselves (clang writes no .debug_aranges, which libdw's own lookup
  // needs).
  struct UnitRange {
    Dwarf_Addr low, high;
    Dwarf_Die unit;
  };
  std::vector<UnitRange> units;
  Dwarf_Die* UnitAt(Dwarf_Addr a) {
    auto it = std::upper_bound(units.begin(), units.end(), a,
                               [](Dwarf_Addr x, const UnitRange& r) { return x < r.low; });
    // Units' ranges do not overlap: the last one starting at or below.
    if (it == units.begin()) return nullptr;
    --it;
    return a < it->high ? &it->unit : nullptr;
  }
  const ElfFile* elf = nullptr;  // for the symbol-table fallback
  std::unordered_map<uint64_t, InlineChain> cache;

  // The functions of a unit (subprograms and inlined subroutines) by
  // address, built once per unit on its first lookup: libdw's
  // dwarf_getscopes walks the unit's tree from its root on every call,
  // which on a unit of a hundred thousand entries (sqlite's amalgamation)
  // makes each address cost milliseconds.
  struct Scope {
    Dwarf_Die die;
    int parent;  // index of the enclosing function scope, -1: none
  };
  struct ScopeIndex {
    std::vector<Scope> scopes;
    // Disjoint address ranges -> the innermost scope covering them.
    std::map<Dwarf_Addr, std::pair<Dwarf_Addr, int>> segments;  // start -> (end, scope)
  };
  std::map<Dwarf_Off, ScopeIndex> scope_index;  // by unit offset
  const ScopeIndex& IndexOf(Dwarf_Die* unit);
};

namespace {

// Paints [lo, hi) with `scope` over what is there (parents are painted
// before their children, so the innermost stays).
void Paint(std::map<Dwarf_Addr, std::pair<Dwarf_Addr, int>>* segs, Dwarf_Addr lo, Dwarf_Addr hi,
           int scope) {
  auto split = [&](Dwarf_Addr x) {
    auto it = segs->upper_bound(x);
    if (it == segs->begin()) return;
    --it;
    if (it->first < x && x < it->second.first) {
      const auto right = std::make_pair(it->second.first, it->second.second);
      it->second.first = x;
      segs->emplace(x, right);
    }
  };
  split(lo);
  split(hi);
  segs->erase(segs->lower_bound(lo), segs->lower_bound(hi));
  segs->emplace(lo, std::make_pair(hi, scope));
}

}  // namespace

const Symbolizer::Module::ScopeIndex& Symbolizer::Module::IndexOf(Dwarf_Die* unit) {
  const Dwarf_Off off = dwarf_dieoffset(unit);
  auto it = scope_index.find(off);
  if (it != scope_index.end()) return it->second;
  ScopeIndex& index = scope_index[off];
  // Depth-first, parents first; an explicit stack (units nest deeply).
  std::vector<std::pair<Dwarf_Die, int>> todo;
  Dwarf_Die child;
  if (dwarf_child(unit, &child) == 0) todo.push_back({child, -1});
  while (!todo.empty()) {
    auto [die, parent] = todo.back();
    todo.pop_back();
    Dwarf_Die sibling;
    if (dwarf_siblingof(&die, &sibling) == 0) todo.push_back({sibling, parent});
    int self = parent;
    const int tag = dwarf_tag(&die);
    if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
      ptrdiff_t roff = 0;
      Dwarf_Addr base = 0, start = 0, end = 0;
      std::vector<std::pair<Dwarf_Addr, Dwarf_Addr>> ranges;
      while ((roff = dwarf_ranges(&die, roff, &base, &start, &end)) > 0) {
        if (end > start) ranges.emplace_back(start, end);
      }
      if (!ranges.empty()) {
        self = static_cast<int>(index.scopes.size());
        index.scopes.push_back({die, parent});
        for (const auto& [lo, hi] : ranges) Paint(&index.segments, lo, hi, self);
      }
    }
    // Children after the siblings pushed above: popped first, so a scope's
    // subtree is painted before the next sibling (and after the scope).
    if (dwarf_haschildren(&die) > 0 && dwarf_child(&die, &child) == 0) {
      todo.push_back({child, self});
    }
  }
  return index;
}

Symbolizer::Symbolizer(const std::vector<std::string>& debug_dirs) {
  // "-": no CRC checks (build-ids are); "": beside the binary; ".debug";
  // then absolute directories (searched by build-id and by name).
  debuginfo_path_ = "-:.debug:/usr/lib/debug";
  for (const std::string& d : debug_dirs) debuginfo_path_ += ":" + d;
}

Symbolizer::~Symbolizer() = default;

Symbolizer::Module& Symbolizer::ModuleFor(const ElfFile& elf) {
  auto it = modules_.find(elf.build_id());
  if (it != modules_.end()) return *it->second;
  auto m = std::make_unique<Module>();
  m->elf = &elf;
  // libdwfl keeps pointers to the callbacks and the path for the Dwfl's
  // life: both live in the Module, declared before the Dwfl.
  m->path = debuginfo_path_;
  m->path_ptr = m->path.data();
  m->callbacks.find_elf = dwfl_build_id_find_elf;
  m->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
  m->callbacks.section_address = dwfl_offline_section_address;
  m->callbacks.debuginfo_path = &m->path_ptr;
  m->dwfl.reset(dwfl_begin(&m->callbacks));
  const int fd = elf.fd() >= 0 ? ::fcntl(elf.fd(), F_DUPFD_CLOEXEC, 0) : -1;
  if (m->dwfl && fd >= 0) {
    // libdwfl owns fd from here on.
    m->mod = dwfl_report_elf(m->dwfl.get(), elf.build_id().c_str(), elf.opened_path().c_str(), fd,
                             0, false);
    dwfl_report_end(m->dwfl.get(), nullptr, nullptr);
    if (m->mod) {
      dwfl_module_getelf(m->mod, &m->bias);
      m->dw = dwfl_module_getdwarf(m->mod, &m->dwbias);
      m->dwarf = m->dw != nullptr;
    }
    if (m->dw) {
      Dwarf_CU* cu = nullptr;
      Dwarf_Die unit;
      uint8_t type = 0;
      while (dwarf_get_units(m->dw, cu, &cu, nullptr, &type, &unit, nullptr) == 0) {
        if (type != DW_UT_compile && type != DW_UT_partial && type != DW_UT_skeleton) continue;
        ptrdiff_t off = 0;
        Dwarf_Addr base = 0, start = 0, end = 0;
        while ((off = dwarf_ranges(&unit, off, &base, &start, &end)) > 0) {
          if (end > start) m->units.push_back({start, end, unit});
        }
      }
      std::sort(
          m->units.begin(), m->units.end(),
          [](const Module::UnitRange& a, const Module::UnitRange& b) { return a.low < b.low; });
    }
  } else if (fd >= 0) {
    ::close(fd);
  }
  Module& ref = *m;
  modules_.emplace(elf.build_id(), std::move(m));
  return ref;
}

bool Symbolizer::HasDwarf(const std::string& build_id) const {
  auto it = modules_.find(build_id);
  return it != modules_.end() && it->second->dwarf;
}

void Symbolizer::ForEachLineRow(const ElfFile& elf, uint64_t low, uint64_t high,
                                const std::function<void(uint64_t, uint64_t)>& row) {
  Module& m = ModuleFor(elf);
  if (!m.dwarf || high <= low) return;
  // DWARF's addresses; a function lies in one unit.
  const Dwarf_Addr lo = low + m.bias - m.dwbias, hi = high + m.bias - m.dwbias;
  Dwarf_Die* cu = m.UnitAt(lo);
  Dwarf_Lines* lines = nullptr;
  size_t n = 0;
  if (!cu || dwarf_getsrclines(cu, &lines, &n) != 0) return;
  // Rows are sorted by address within a sequence; a row's code runs to
  // the next row's address (an end_sequence row ends it).
  std::vector<std::pair<Dwarf_Addr, Dwarf_Addr>> ranges;
  for (size_t i = 0; i + 1 < n; ++i) {
    Dwarf_Line* a = dwarf_onesrcline(lines, i);
    Dwarf_Line* b = dwarf_onesrcline(lines, i + 1);
    bool end = false;
    Dwarf_Addr start = 0, next = 0;
    if (!a || !b || dwarf_lineendsequence(a, &end) != 0 || end) continue;
    if (dwarf_lineaddr(a, &start) != 0 || dwarf_lineaddr(b, &next) != 0 || next <= start) continue;
    start = std::max(start, lo);
    next = std::min(next, hi);
    if (next > start) ranges.emplace_back(start, next);
  }
  std::sort(ranges.begin(), ranges.end());
  for (const auto& [start, next] : ranges) row(start - m.bias + m.dwbias, next - start);
}

const InlineChain& Symbolizer::Symbolize(const ElfFile& elf, uint64_t address) {
  Module& m = ModuleFor(elf);
  auto cached = m.cache.find(address);
  if (cached != m.cache.end()) return cached->second;
  InlineChain chain;
  // DWARF's address of the instruction.
  const Dwarf_Addr pc = address + m.bias - m.dwbias;
  if (Dwarf_Die* cu = m.dwarf ? m.UnitAt(pc) : nullptr) {
    SourceFrame loc;  // the location in the function being walked
    if (Dwarf_Line* line = dwarf_getsrc_die(cu, pc)) {
      int lineno = 0, col = 0;
      if (const char* file = dwarf_linesrc(line, nullptr, nullptr)) loc.file = file;
      if (dwarf_lineno(line, &lineno) == 0) loc.line = static_cast<uint32_t>(std::max(lineno, 0));
      if (dwarf_linecol(line, &col) == 0) loc.column = static_cast<uint32_t>(std::max(col, 0));
      unsigned int disc = 0;
      if (dwarf_linediscriminator(line, &disc) == 0) loc.discriminator = disc;
    }
    {
      // The innermost function scope, then the ones it is nested in (the
      // concrete callers, not the abstract definition of an inlined one).
      const Module::ScopeIndex& index = m.IndexOf(cu);
      int innermost = -1;
      auto seg = index.segments.upper_bound(pc);
      if (seg != index.segments.begin()) {
        --seg;
        if (pc < seg->second.first) innermost = seg->second.second;
      }
      Dwarf_Files* files = nullptr;
      size_t nfiles = 0;
      if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0) files = nullptr;
      for (int i = innermost; i >= 0; i = index.scopes[static_cast<size_t>(i)].parent) {
        Dwarf_Die die = index.scopes[static_cast<size_t>(i)].die;
        Dwarf_Die* s = &die;
        const int tag = dwarf_tag(s);
        SourceFrame f = loc;
        f.function = FunctionName(s);
        f.start_line = NumberAttr(s, DW_AT_decl_line);
        chain.push_back(std::move(f));
        if (tag == DW_TAG_subprogram) break;
        // The caller's location: where this one was inlined.
        loc = SourceFrame();
        loc.line = NumberAttr(s, DW_AT_call_line);
        loc.column = NumberAttr(s, DW_AT_call_column);
        loc.discriminator = NumberAttr(s, kAtGnuDiscriminator);
        const uint32_t file = NumberAttr(s, DW_AT_call_file);
        if (files && file < nfiles) {
          if (const char* name = dwarf_filesrc(files, file, nullptr, nullptr)) loc.file = name;
        }
      }
    }
  }
  if (chain.empty()) {
    SourceFrame f;
    if (const ElfSymbol* sym = elf.FunctionAt(address)) f.function = sym->name;
    chain.push_back(std::move(f));
  }
  return m.cache.emplace(address, std::move(chain)).first->second;
}

}  // namespace syspgo::profile
