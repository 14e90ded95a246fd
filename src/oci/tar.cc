// SPDX-License-Identifier: Apache-2.0
#include "oci/tar.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/base64.h"

namespace syspgo::oci {
namespace {

constexpr size_t kBlock = 512;
constexpr int64_t kMaxMetaSize = 1 << 20;  // PAX / GNU long-name data

struct RawHeader {
  const char* b;
  std::string_view Field(size_t off, size_t len) const {
    std::string_view f(b + off, len);
    size_t nul = f.find('\0');
    return nul == std::string_view::npos ? f : f.substr(0, nul);
  }
};

// Octal (space or NUL padded) or base-256 (high bit of the first byte).
Result<int64_t> ParseNumber(const char* p, size_t len, const char* field) {
  auto bad = [&] { return Corruption(std::string("tar header: invalid ") + field + " field"); };
  unsigned char first = static_cast<unsigned char>(p[0]);
  if (first & 0x80) {
    if (first == 0xff) return bad();  // negative numbers are not valid here
    uint64_t v = first & 0x7f;
    for (size_t i = 1; i < len; ++i) {
      if (v > (UINT64_MAX >> 8)) return bad();
      v = (v << 8) | static_cast<unsigned char>(p[i]);
    }
    if (v > static_cast<uint64_t>(INT64_MAX)) return bad();
    return static_cast<int64_t>(v);
  }
  size_t i = 0;
  while (i < len && (p[i] == ' ' || p[i] == '\0')) ++i;
  uint64_t v = 0;
  bool any = false;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v > (static_cast<uint64_t>(INT64_MAX) >> 3)) return bad();
    v = v * 8 + static_cast<uint64_t>(p[i] - '0');
    any = true;
  }
  for (; i < len; ++i) {
    if (p[i] != ' ' && p[i] != '\0') return bad();
  }
  (void)any;  // an all-blank field is zero
  return static_cast<int64_t>(v);
}

bool ChecksumMatches(const char* b) {
  auto stored = ParseNumber(b + 148, 8, "checksum");
  if (!stored.ok()) return false;
  int64_t unsigned_sum = 0, signed_sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    char c = (i >= 148 && i < 156) ? ' ' : b[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  return *stored == unsigned_sum || *stored == signed_sum;
}

bool IsZeroBlock(const char* b) {
  return std::all_of(b, b + kBlock, [](char c) { return c == 0; });
}

// "%-encoded" names in LIBARCHIVE.xattr keys.
std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

Status ParsePaxRecords(std::string_view data, std::map<std::string, std::string>* out) {
  while (!data.empty()) {
    size_t sp = data.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp > 20) {
      return Corruption("tar: malformed PAX record length");
    }
    uint64_t len = 0;
    for (size_t i = 0; i < sp; ++i) {
      if (data[i] < '0' || data[i] > '9') {
        return Corruption("tar: malformed PAX record length");
      }
      len = len * 10 + static_cast<uint64_t>(data[i] - '0');
    }
    if (len <= sp + 1 || len > data.size()) {
      return Corruption("tar: PAX record length out of bounds");
    }
    std::string_view record = data.substr(sp + 1, len - sp - 1);
    if (record.empty() || record.back() != '\n') {
      return Corruption("tar: PAX record does not end in a newline");
    }
    record.remove_suffix(1);
    size_t eq = record.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Corruption("tar: PAX record has no key");
    }
    (*out)[std::string(record.substr(0, eq))] = std::string(record.substr(eq + 1));
    data.remove_prefix(len);
  }
  return Status::Ok();
}

Result<int64_t> PaxNumber(const std::string& v, const char* key) {
  if (v.empty() || v.size() > 19 ||
      !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Corruption(std::string("tar: invalid PAX ") + key + " '" + v + "'");
  }
  return static_cast<int64_t>(std::stoll(v));
}

Status ApplyPax(const std::map<std::string, std::string>& pax, TarEntry* e) {
  for (const auto& [key, value] : pax) {
    if (key == "path") {
      e->name = value;
    } else if (key == "linkpath") {
      e->linkname = value;
    } else if (key == "size") {
      ASSIGN_OR_RETURN(e->size, PaxNumber(value, "size"));
    } else if (key == "uid") {
      ASSIGN_OR_RETURN(e->uid, PaxNumber(value, "uid"));
    } else if (key == "gid") {
      ASSIGN_OR_RETURN(e->gid, PaxNumber(value, "gid"));
    } else if (key == "uname") {
      e->uname = value;
    } else if (key == "gname") {
      e->gname = value;
    } else if (key == "mtime") {
      size_t dot = value.find('.');
      std::string sec = value.substr(0, dot);
      bool negative = !sec.empty() && sec[0] == '-';
      ASSIGN_OR_RETURN(int64_t s, PaxNumber(negative ? sec.substr(1) : sec, "mtime"));
      e->mtime_sec = negative ? -s : s;
      e->mtime_nsec = 0;
      if (dot != std::string::npos && !negative) {
        std::string frac = value.substr(dot + 1, 9);
        frac.resize(9, '0');
        if (!std::all_of(frac.begin(), frac.end(), [](char c) { return c >= '0' && c <= '9'; })) {
          return Corruption("tar: invalid PAX mtime '" + value + "'");
        }
        e->mtime_nsec = static_cast<uint32_t>(std::stoul(frac));
      }
    } else if (key.rfind("SCHILY.xattr.", 0) == 0) {
      e->xattrs[key.substr(13)] = value;
    } else if (key.rfind("LIBARCHIVE.xattr.", 0) == 0) {
      auto decoded = Base64Decode(value);
      if (!decoded) return Corruption("tar: LIBARCHIVE.xattr value is not base64");
      e->xattrs[PercentDecode(key.substr(17))] = *decoded;
    }
  }
  return Status::Ok();
}

}  // namespace

Status TarReader::ReadExact(std::span<char> buf) {
  ASSIGN_OR_RETURN(size_t n, ReadFully(*source_, buf));
  offset_ += static_cast<int64_t>(n);
  if (n != buf.size()) return Corruption("tar stream is truncated");
  return Status::Ok();
}

Status TarReader::Skip(int64_t bytes) {
  char buf[16384];
  while (bytes > 0) {
    size_t want = static_cast<size_t>(std::min<int64_t>(bytes, sizeof(buf)));
    RETURN_IF_ERROR(ReadExact({buf, want}));
    bytes -= static_cast<int64_t>(want);
  }
  return Status::Ok();
}

Result<std::string> TarReader::ReadMetaData(int64_t size, const char* what) {
  if (size < 0 || size > kMaxMetaSize) {
    return Corruption(std::string("tar: ") + what + " of " + std::to_string(size) +
                      " bytes is too large");
  }
  std::string data(static_cast<size_t>(size), '\0');
  RETURN_IF_ERROR(ReadExact(data));
  RETURN_IF_ERROR(Skip((kBlock - size % kBlock) % kBlock));
  return data;
}

Result<std::optional<TarEntry>> TarReader::Next() {
  if (ended_) return std::optional<TarEntry>();
  RETURN_IF_ERROR(Skip(remaining_));
  remaining_ = 0;
  if (padding_ > 0) {
    // A stream that ends right after the last entry's data, without its
    // padding or the end-of-archive blocks, is accepted as Go's archive/tar
    // (and so containerd and docker) accept it: umoci 0.4 writes such
    // layers. A stream cut inside the padding is not.
    std::vector<char> pad(static_cast<size_t>(padding_));
    ASSIGN_OR_RETURN(size_t n, ReadFully(*source_, pad));
    offset_ += static_cast<int64_t>(n);
    padding_ = 0;
    if (n == 0) {
      ended_ = true;
      return std::optional<TarEntry>();
    }
    if (n != pad.size()) return Corruption("tar stream is truncated");
  }

  std::map<std::string, std::string> pax = global_pax_;
  std::optional<std::string> long_name, long_link;
  char block[kBlock];
  for (int meta = 0;; ++meta) {
    if (meta > 16) return Corruption("tar: too many extended headers in a row");
    ASSIGN_OR_RETURN(size_t n, ReadFully(*source_, block));
    offset_ += static_cast<int64_t>(n);
    if (n == 0 && meta == 0) {
      // No end-of-archive marker; accepted, as other readers do.
      ended_ = true;
      return std::optional<TarEntry>();
    }
    if (n != kBlock) return Corruption("tar stream is truncated inside a header");
    if (IsZeroBlock(block)) {
      if (meta != 0) return Corruption("tar: extended header without an entry");
      ended_ = true;
      return std::optional<TarEntry>();
    }
    if (!ChecksumMatches(block)) {
      return Corruption("tar: header checksum mismatch at offset " +
                        std::to_string(offset_ - static_cast<int64_t>(kBlock)));
    }
    RawHeader h{block};
    char type = block[156];
    ASSIGN_OR_RETURN(int64_t size, ParseNumber(block + 124, 12, "size"));
    if (type == 'x' || type == 'g') {
      ASSIGN_OR_RETURN(std::string data, ReadMetaData(size, "PAX header"));
      std::map<std::string, std::string> records;
      RETURN_IF_ERROR(ParsePaxRecords(data, &records));
      for (auto& [k, v] : records) {
        if (type == 'g') global_pax_[k] = v;
        pax[k] = v;
      }
      continue;
    }
    if (type == 'L' || type == 'K') {
      ASSIGN_OR_RETURN(std::string data, ReadMetaData(size, "GNU long name"));
      size_t nul = data.find('\0');
      if (nul != std::string::npos) data.resize(nul);
      (type == 'L' ? long_name : long_link) = std::move(data);
      continue;
    }

    TarEntry e;
    std::string_view magic = h.Field(257, 6);
    std::string name(h.Field(0, 100));
    if (magic == "ustar" && block[263] == '0') {  // POSIX ustar: prefix field
      std::string prefix(h.Field(345, 155));
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    e.name = long_name ? *long_name : name;
    e.linkname = long_link ? *long_link : std::string(h.Field(157, 100));
    ASSIGN_OR_RETURN(int64_t mode, ParseNumber(block + 100, 8, "mode"));
    e.mode = static_cast<uint32_t>(mode & 07777);
    ASSIGN_OR_RETURN(e.uid, ParseNumber(block + 108, 8, "uid"));
    ASSIGN_OR_RETURN(e.gid, ParseNumber(block + 116, 8, "gid"));
    ASSIGN_OR_RETURN(e.mtime_sec, ParseNumber(block + 136, 12, "mtime"));
    e.uname = std::string(h.Field(265, 32));
    e.gname = std::string(h.Field(297, 32));
    e.size = size;
    switch (type) {
      case '0':
      case '\0':
      case '7':
        e.type = TarType::kRegular;
        break;
      case '1':
        e.type = TarType::kHardLink;
        break;
      case '2':
        e.type = TarType::kSymlink;
        break;
      case '3':
        e.type = TarType::kCharDevice;
        break;
      case '4':
        e.type = TarType::kBlockDevice;
        break;
      case '5':
        e.type = TarType::kDirectory;
        break;
      case '6':
        e.type = TarType::kFifo;
        break;
      case 'S':
        return Unimplemented("tar: GNU sparse files are not supported ('" + e.name + "')");
      default:
        return Corruption(std::string("tar: unsupported entry type '") + type + "' for '" + e.name +
                          "'");
    }
    if (e.type == TarType::kCharDevice || e.type == TarType::kBlockDevice) {
      ASSIGN_OR_RETURN(int64_t major, ParseNumber(block + 329, 8, "devmajor"));
      ASSIGN_OR_RETURN(int64_t minor, ParseNumber(block + 337, 8, "devminor"));
      if (major > UINT32_MAX || minor > UINT32_MAX) {
        return Corruption("tar: device number out of range");
      }
      e.devmajor = static_cast<uint32_t>(major);
      e.devminor = static_cast<uint32_t>(minor);
    }
    RETURN_IF_ERROR(ApplyPax(pax, &e));
    if (e.size < 0) return Corruption("tar: negative size for '" + e.name + "'");
    // Only regular files carry data; a size on anything else is skipped.
    int64_t data = e.size;
    if (e.type != TarType::kRegular) e.size = 0;
    remaining_ = e.type == TarType::kRegular ? data : 0;
    padding_ = (e.type == TarType::kRegular ? 0 : data) +
               (static_cast<int64_t>(kBlock) - data % kBlock) % kBlock;
    e.data_offset = offset_;
    if (e.name.empty()) return Corruption("tar: entry with an empty name");
    return std::optional<TarEntry>(std::move(e));
  }
}

Result<size_t> TarReader::ReadData(std::span<char> buf) {
  if (remaining_ == 0 || buf.empty()) return size_t{0};
  size_t want = static_cast<size_t>(std::min<int64_t>(remaining_, buf.size()));
  ASSIGN_OR_RETURN(size_t n, source_->Read(buf.subspan(0, want)));
  if (n == 0) return Corruption("tar stream is truncated inside file data");
  offset_ += static_cast<int64_t>(n);
  remaining_ -= static_cast<int64_t>(n);
  return n;
}

// ---- writer ----

namespace {

void PutOctal(char* field, size_t len, int64_t value) {
  // len-1 digits and a NUL.
  std::string digits(len - 1, '0');
  for (size_t i = len - 1; i-- > 0 && value > 0;) {
    digits[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  std::memcpy(field, digits.data(), len - 1);
  field[len - 1] = '\0';
}

bool FitsOctal(int64_t value, size_t len) {
  return value >= 0 && (len - 1 >= 21 || value < (int64_t{1} << (3 * (len - 1))));
}

void AddPaxRecord(std::string* out, const std::string& key, const std::string& value) {
  // "<len> key=value\n", where len counts its own digits.
  size_t base = key.size() + value.size() + 3;
  size_t len = base + 1;
  while (std::to_string(len).size() + base != len) ++len;
  *out += std::to_string(len) + " " + key + "=" + value + "\n";
}

}  // namespace

Status TarWriter::Emit(std::span<const char> data) { return sink_(data); }

Status TarWriter::Pad() {
  static const char kZeros[kBlock] = {};
  int64_t pad = (kBlock - written_in_entry_ % kBlock) % kBlock;
  written_in_entry_ = 0;
  if (pad == 0) return Status::Ok();
  return Emit({kZeros, static_cast<size_t>(pad)});
}

Status TarWriter::WriteHeader(const TarEntry& e) {
  if (remaining_ != 0) {
    return Internal("tar writer: previous entry is missing " + std::to_string(remaining_) +
                    " data bytes");
  }
  RETURN_IF_ERROR(Pad());
  const int64_t size = e.type == TarType::kRegular ? e.size : 0;
  std::string pax;
  if (e.name.size() > 100) AddPaxRecord(&pax, "path", e.name);
  if (e.linkname.size() > 100) AddPaxRecord(&pax, "linkpath", e.linkname);
  if (!FitsOctal(size, 12)) AddPaxRecord(&pax, "size", std::to_string(size));
  if (!FitsOctal(e.uid, 8)) AddPaxRecord(&pax, "uid", std::to_string(e.uid));
  if (!FitsOctal(e.gid, 8)) AddPaxRecord(&pax, "gid", std::to_string(e.gid));
  if (e.mtime_nsec != 0 || !FitsOctal(e.mtime_sec, 12)) {
    char frac[16];
    std::snprintf(frac, sizeof(frac), "%09u", e.mtime_nsec);
    AddPaxRecord(&pax, "mtime", std::to_string(e.mtime_sec) + "." + frac);
  }
  for (const auto& [k, v] : e.xattrs) AddPaxRecord(&pax, "SCHILY.xattr." + k, v);

  auto header = [&](char type, const std::string& name, int64_t hsize) {
    std::vector<char> b(kBlock, '\0');
    std::memcpy(b.data(), name.data(), std::min<size_t>(name.size(), 100));
    PutOctal(b.data() + 100, 8, e.mode & 07777);
    PutOctal(b.data() + 108, 8, FitsOctal(e.uid, 8) ? e.uid : 0);
    PutOctal(b.data() + 116, 8, FitsOctal(e.gid, 8) ? e.gid : 0);
    PutOctal(b.data() + 124, 12, FitsOctal(hsize, 12) ? hsize : 0);
    PutOctal(b.data() + 136, 12, FitsOctal(e.mtime_sec, 12) ? e.mtime_sec : 0);
    b[156] = type;
    if (type != 'x') {
      std::memcpy(b.data() + 157, e.linkname.data(), std::min<size_t>(e.linkname.size(), 100));
    }
    std::memcpy(b.data() + 257,
                "ustar\0"
                "00",
                8);
    std::memcpy(b.data() + 265, e.uname.data(), std::min<size_t>(e.uname.size(), 31));
    std::memcpy(b.data() + 297, e.gname.data(), std::min<size_t>(e.gname.size(), 31));
    PutOctal(b.data() + 329, 8, e.devmajor);
    PutOctal(b.data() + 337, 8, e.devminor);
    std::memset(b.data() + 148, ' ', 8);
    int64_t sum = 0;
    for (char c : b) sum += static_cast<unsigned char>(c);
    PutOctal(b.data() + 148, 7, sum);
    b[155] = ' ';
    return b;
  };

  if (!pax.empty()) {
    std::string pax_name = "PaxHeaders/" + e.name.substr(0, 80);
    RETURN_IF_ERROR(Emit(header('x', pax_name, static_cast<int64_t>(pax.size()))));
    RETURN_IF_ERROR(Emit(pax));
    written_in_entry_ = static_cast<int64_t>(pax.size());
    RETURN_IF_ERROR(Pad());
  }
  char type = '0';
  switch (e.type) {
    case TarType::kRegular:
      type = '0';
      break;
    case TarType::kHardLink:
      type = '1';
      break;
    case TarType::kSymlink:
      type = '2';
      break;
    case TarType::kCharDevice:
      type = '3';
      break;
    case TarType::kBlockDevice:
      type = '4';
      break;
    case TarType::kDirectory:
      type = '5';
      break;
    case TarType::kFifo:
      type = '6';
      break;
  }
  RETURN_IF_ERROR(Emit(header(type, e.name, size)));
  remaining_ = size;
  written_in_entry_ = 0;
  return Status::Ok();
}

Status TarWriter::WriteData(std::span<const char> data) {
  if (static_cast<int64_t>(data.size()) > remaining_) {
    return Internal("tar writer: more data than the entry's size");
  }
  remaining_ -= static_cast<int64_t>(data.size());
  written_in_entry_ += static_cast<int64_t>(data.size());
  return Emit(data);
}

Status TarWriter::Finish() {
  if (remaining_ != 0) return Internal("tar writer: last entry is short");
  RETURN_IF_ERROR(Pad());
  static const char kZeros[2 * kBlock] = {};
  return Emit({kZeros, sizeof(kZeros)});
}

}  // namespace syspgo::oci
