// SPDX-License-Identifier: Apache-2.0
#include "profile/elf_file.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/sha256.h"
#include "common/unique_fd.h"

namespace syspgo::profile {
namespace {

constexpr uint32_t kGoBuildIdNote = 4;  // owner "Go"

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};

std::string Hex(const unsigned char* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 15]);
  }
  return out;
}

}  // namespace

Result<ElfFile> ElfFile::Load(const std::string& path) {
  if (elf_version(EV_CURRENT) == EV_NONE) return Internal("libelf: version mismatch");
  ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open(path, O_RDONLY));
  std::unique_ptr<Elf, ElfCloser> elf(elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) {
    return InvalidArgument(path + " is not an ELF file");
  }
  ElfFile out;
  std::string go_build_id;
  size_t phnum = 0;
  if (elf_getphdrnum(elf.get(), &phnum) != 0) return Corruption(path + ": no program headers");
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf.get(), static_cast<int>(i), &ph)) continue;
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
      out.exec_segments_.push_back({ph.p_offset, ph.p_vaddr, ph.p_filesz});
    }
    if (ph.p_type == PT_NOTE) {
      Elf_Data* data = elf_getdata_rawchunk(elf.get(), static_cast<int64_t>(ph.p_offset),
                                            ph.p_filesz, ELF_T_NHDR);
      if (!data) continue;
      size_t off = 0, name_off = 0, desc_off = 0;
      GElf_Nhdr nh;
      while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
        const char* name = static_cast<const char*>(data->d_buf) + name_off;
        const auto* desc = static_cast<const unsigned char*>(data->d_buf) + desc_off;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0 &&
            out.build_id_.empty()) {
          out.build_id_ = Hex(desc, nh.n_descsz);
        }
        // Go writes its own build ID (text) and no GNU one unless asked
        // (-ldflags=-B gobuildid): 40 hex digits derived from it.
        if (nh.n_type == kGoBuildIdNote && nh.n_namesz >= 3 && std::memcmp(name, "Go", 3) == 0) {
          go_build_id.assign(reinterpret_cast<const char*>(desc), nh.n_descsz);
        }
      }
    }
  }
  out.go_ = !go_build_id.empty();
  if (out.build_id_.empty() && !go_build_id.empty()) {
    out.build_id_ = Sha256::HexOf("go:" + go_build_id).substr(0, 40);
  }
  // Function symbols: .symtab when present (not stripped), else .dynsym.
  for (Elf64_Word wanted : {SHT_SYMTAB, SHT_DYNSYM}) {
    if (!out.symbols_.empty()) break;
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(elf.get(), scn)) != nullptr) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh) || sh.sh_type != wanted || sh.sh_entsize == 0) continue;
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (!data) continue;
      const size_t n = sh.sh_size / sh.sh_entsize;
      for (size_t i = 0; i < n; ++i) {
        GElf_Sym sym;
        if (!gelf_getsym(data, static_cast<int>(i), &sym)) continue;
        if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_value == 0) continue;
        const char* name = elf_strptr(elf.get(), sh.sh_link, sym.st_name);
        if (!name || !*name) continue;
        out.symbols_.push_back({sym.st_value, sym.st_size, name});
      }
    }
  }
  std::sort(out.symbols_.begin(), out.symbols_.end(),
            [](const ElfSymbol& a, const ElfSymbol& b) { return a.address < b.address; });
  // Machine blocks (-fbasic-block-address-map); a map that does not parse
  // is as good as none (the profile falls back to source lines).
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf.get(), scn)) != nullptr;) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != kShtLlvmBbAddrMap) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data || !data->d_buf) continue;
    auto blocks = ParseBbAddrMap(
        std::span<const uint8_t>(static_cast<const uint8_t*>(data->d_buf), data->d_size));
    if (!blocks.ok()) {
      out.blocks_.clear();
      break;
    }
    out.blocks_.insert(out.blocks_.end(), blocks->begin(), blocks->end());
  }
  std::sort(out.blocks_.begin(), out.blocks_.end(),
            [](const MachineBlock& a, const MachineBlock& b) { return a.address < b.address; });
  elf.reset();
  out.fd_ = std::move(fd);
  out.path_ = path;
  return out;
}

std::optional<uint64_t> ElfFile::AddressOfOffset(uint64_t offset) const {
  for (const ElfSegment& s : exec_segments_) {
    if (offset >= s.offset && offset < s.offset + s.filesz) return s.vaddr + (offset - s.offset);
  }
  return std::nullopt;
}

const ElfSymbol* ElfFile::FunctionAt(uint64_t address) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](uint64_t a, const ElfSymbol& s) { return a < s.address; });
  if (it == symbols_.begin()) return nullptr;
  --it;
  // A symbol without a size (hand-written assembly) takes up to the next.
  if (it->size == 0 || address < it->address + it->size) return &*it;
  return nullptr;
}

std::span<const MachineBlock> ElfFile::BlocksIn(uint64_t low, uint64_t high) const {
  auto first = std::lower_bound(blocks_.begin(), blocks_.end(), low,
                                [](const MachineBlock& b, uint64_t a) { return b.address < a; });
  auto last = std::lower_bound(first, blocks_.end(), high,
                               [](const MachineBlock& b, uint64_t a) { return b.address < a; });
  return {first, last};
}

Result<std::string> ReadBuildId(const std::string& path) {
  ASSIGN_OR_RETURN(ElfFile f, ElfFile::Load(path));
  return f.build_id();
}

}  // namespace syspgo::profile
