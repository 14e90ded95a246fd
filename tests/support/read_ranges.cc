// SPDX-License-Identifier: Apache-2.0
// Test helper: reads byte ranges of files in a given way, so a trace can be
// checked against exactly what was read.
//   read_ranges FILE MODE OFFSET LENGTH [FILE MODE OFFSET LENGTH ...]
//   MODE: read (lseek + read), pread, mmap (touch one byte per page)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 5 || (argc - 1) % 4 != 0) {
    std::fprintf(stderr, "usage: read_ranges FILE MODE OFFSET LENGTH ...\n");
    return 2;
  }
  long page = ::sysconf(_SC_PAGESIZE);
  volatile unsigned sum = 0;
  for (int i = 1; i < argc; i += 4) {
    const char* file = argv[i];
    std::string mode = argv[i + 1];
    off_t offset = std::strtoll(argv[i + 2], nullptr, 10);
    size_t length = std::strtoull(argv[i + 3], nullptr, 10);
    int fd = ::open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      std::perror(file);
      return 1;
    }
    std::vector<char> buf(length);
    if (mode == "read") {
      if (::lseek(fd, offset, SEEK_SET) != offset ||
          ::read(fd, buf.data(), length) != static_cast<ssize_t>(length)) {
        std::perror("read");
        return 1;
      }
    } else if (mode == "pread") {
      if (::pread(fd, buf.data(), length, offset) != static_cast<ssize_t>(length)) {
        std::perror("pread");
        return 1;
      }
    } else if (mode == "mmap") {
      struct stat st;
      ::fstat(fd, &st);
      void* map = ::mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (map == MAP_FAILED) {
        std::perror("mmap");
        return 1;
      }
      const char* p = static_cast<const char*>(map);
      for (off_t at = offset; at < offset + static_cast<off_t>(length); at += page) sum += p[at];
      ::munmap(map, st.st_size);
    } else {
      std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
      return 2;
    }
    ::close(fd);
  }
  return 0;
}
