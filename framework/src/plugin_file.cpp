#include "plugin_file.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

namespace cigl {

namespace {

using Ehdr = ElfW(Ehdr);
using Phdr = ElfW(Phdr);
using Shdr = ElfW(Shdr);
using Sym = ElfW(Sym);

/// Thrown inside this file only: the problem, as the user reads it.
struct Problem {
  std::string what;
};

/// The ELF header this very library was loaded from: class, byte order
/// and machine of the running process, whatever it was compiled for.
const Ehdr& host_header() {
  Dl_info info{};
  dladdr(reinterpret_cast<void*>(&host_header), &info);
  return *static_cast<const Ehdr*>(info.dli_fbase);
}

std::string machine_name(unsigned machine) {
  switch (machine) {
    case EM_386: return "x86 (32-bit)";
    case EM_X86_64: return "x86-64";
    case EM_ARM: return "ARM (32-bit)";
    case EM_AARCH64: return "AArch64";
    case EM_PPC64: return "POWER (64-bit)";
    case EM_RISCV: return "RISC-V";
    case EM_S390: return "s390";
    default: return "machine " + std::to_string(machine);
  }
}

std::string range_text(std::uint64_t begin, std::uint64_t size) {
  return "bytes " + std::to_string(begin) + ".." + std::to_string(begin + size);
}

class ElfFile {
 public:
  explicit ElfFile(const std::string& file) {
    // O_NONBLOCK: a FIFO named *.so must not block the open.
    fd_ = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd_ < 0) {
      throw Problem{std::string("cannot be opened: ") + std::strerror(errno)};
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      throw Problem{"not a regular file"};
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~ElfFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  std::uint64_t size() const { return size_; }

  /// Whether [offset, offset + length) lies inside the file, overflow-safe.
  bool inside(std::uint64_t offset, std::uint64_t length) const {
    return offset <= size_ && length <= size_ - offset;
  }

  /// `length` bytes at `offset`; the caller has checked `inside`.
  std::vector<unsigned char> read(std::uint64_t offset,
                                  std::uint64_t length) const {
    std::vector<unsigned char> bytes(length);
    std::uint64_t done = 0;
    while (done < length) {
      const ssize_t n = ::pread(fd_, bytes.data() + done, length - done,
                                static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        throw Problem{"read failed at byte " + std::to_string(offset + done) +
                      (n < 0 ? std::string(": ") + std::strerror(errno)
                             : std::string(" (the file shrank)"))};
      }
      done += static_cast<std::uint64_t>(n);
    }
    return bytes;
  }

  template <class T>
  std::vector<T> table(std::uint64_t offset, std::uint64_t count,
                       const char* what) const {
    if (count > size_ / sizeof(T) || !inside(offset, count * sizeof(T))) {
      throw Problem{"truncated or corrupt: the " + std::string(what) + " (" +
                    std::to_string(count) + " entries of " +
                    std::to_string(sizeof(T)) + " bytes at byte " +
                    std::to_string(offset) +
                    ") ends past the end of the file (" +
                    std::to_string(size_) + " bytes)"};
    }
    auto bytes = read(offset, count * sizeof(T));
    std::vector<T> out(count);
    if (count > 0) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

Ehdr check_header(const ElfFile& elf) {
  if (elf.size() < EI_NIDENT) {
    throw Problem{"not a shared library: " + std::to_string(elf.size()) +
                  " bytes, too short for an ELF header"};
  }
  auto ident = elf.read(0, EI_NIDENT);
  if (std::memcmp(ident.data(), ELFMAG, SELFMAG) != 0) {
    throw Problem{"not a shared library (no ELF magic number)"};
  }
  const Ehdr& host = host_header();
  if (ident[EI_CLASS] != host.e_ident[EI_CLASS]) {
    throw Problem{
        std::string("a ") + (ident[EI_CLASS] == ELFCLASS32 ? "32" : "64") +
        "-bit ELF file; this cigl is " +
        (host.e_ident[EI_CLASS] == ELFCLASS32 ? "32" : "64") + "-bit"};
  }
  if (ident[EI_DATA] != host.e_ident[EI_DATA]) {
    throw Problem{"an ELF file of the other byte order than this machine"};
  }
  if (elf.size() < sizeof(Ehdr)) {
    throw Problem{"truncated: " + std::to_string(elf.size()) +
                  " bytes, less than the ELF header's " +
                  std::to_string(sizeof(Ehdr))};
  }
  Ehdr header = elf.table<Ehdr>(0, 1, "ELF header").front();
  if (header.e_machine != host.e_machine) {
    throw Problem{"built for " + machine_name(header.e_machine) +
                  ", this machine is " + machine_name(host.e_machine)};
  }
  if (header.e_type != ET_DYN) {
    throw Problem{std::string("not a shared library (ELF type ") +
                  (header.e_type == ET_EXEC  ? "executable"
                   : header.e_type == ET_REL ? "object file"
                                             : std::to_string(header.e_type)) +
                  "); build it with cigl_add_plugin"};
  }
  if (header.e_version != EV_CURRENT || header.e_ehsize < sizeof(Ehdr) ||
      (header.e_phnum > 0 && header.e_phentsize != sizeof(Phdr)) ||
      (header.e_shnum > 0 && header.e_shentsize != sizeof(Shdr))) {
    throw Problem{"corrupt ELF header (version or table entry sizes)"};
  }
  return header;
}

std::vector<Phdr> check_segments(const ElfFile& elf, const Ehdr& header) {
  if (header.e_phnum == 0) throw Problem{"corrupt: no program headers"};
  auto segments =
      elf.table<Phdr>(header.e_phoff, header.e_phnum, "program header table");
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const Phdr& p = segments[i];
    if (p.p_filesz > 0 && !elf.inside(p.p_offset, p.p_filesz)) {
      throw Problem{"truncated: segment " + std::to_string(i) + " (" +
                    range_text(p.p_offset, p.p_filesz) +
                    ") ends past the end of the file (" +
                    std::to_string(elf.size()) + " bytes)"};
    }
  }
  return segments;
}

std::vector<Shdr> check_sections(const ElfFile& elf, const Ehdr& header) {
  if (header.e_shoff == 0 || header.e_shnum == 0) {
    // Extended numbering (e_shnum 0, count in section 0) never occurs in a
    // plugin; a file without sections has been stripped past use.
    throw Problem{
        "has no section header table (stripped with sstrip?); the loader "
        "needs its dynamic symbol table"};
  }
  auto sections =
      elf.table<Shdr>(header.e_shoff, header.e_shnum, "section header table");
  for (std::size_t i = 0; i < sections.size(); ++i) {
    const Shdr& s = sections[i];
    if (s.sh_type != SHT_NOBITS && s.sh_size > 0 &&
        !elf.inside(s.sh_offset, s.sh_size)) {
      throw Problem{"truncated: section " + std::to_string(i) + " (" +
                    range_text(s.sh_offset, s.sh_size) +
                    ") ends past the end of the file (" +
                    std::to_string(elf.size()) + " bytes)"};
    }
  }
  return sections;
}

const char* symbol_type_name(unsigned type) {
  switch (type) {
    case STT_OBJECT: return "a data object";
    case STT_NOTYPE: return "an untyped symbol";
    case STT_TLS: return "a thread-local variable";
    case STT_GNU_IFUNC: return "an indirect function";
    case STT_SECTION: return "a section symbol";
    default: return "not a function";
  }
}

void check_entry(const ElfFile& elf, const std::vector<Shdr>& sections,
                 const std::vector<Phdr>& segments, const char* entry_symbol) {
  const Shdr* dynsym = nullptr;
  for (const auto& s : sections) {
    if (s.sh_type == SHT_DYNSYM) dynsym = &s;
  }
  if (!dynsym || dynsym->sh_link >= sections.size() ||
      sections[dynsym->sh_link].sh_type != SHT_STRTAB ||
      dynsym->sh_entsize != sizeof(Sym)) {
    throw Problem{"has no usable dynamic symbol table"};
  }
  const Shdr& strtab = sections[dynsym->sh_link];
  auto symbols = elf.table<Sym>(
      dynsym->sh_offset, dynsym->sh_size / sizeof(Sym), "dynamic symbol table");
  auto names = elf.read(strtab.sh_offset, strtab.sh_size);
  const std::size_t wanted = std::strlen(entry_symbol);
  for (const Sym& sym : symbols) {
    if (sym.st_name >= names.size() ||
        names.size() - sym.st_name < wanted + 1 ||
        std::memcmp(names.data() + sym.st_name, entry_symbol, wanted + 1) !=
            0) {
      continue;
    }
    if (sym.st_shndx == SHN_UNDEF) continue;  // a reference, not ours
    const unsigned type = ELF64_ST_TYPE(sym.st_info);
    if (type != STT_FUNC) {
      throw Problem{std::string("entry point '") + entry_symbol + "' is " +
                    symbol_type_name(type) +
                    ", not a function; define it with CIGL_PLUGIN"};
    }
    for (const auto& p : segments) {
      if (p.p_type == PT_LOAD && (p.p_flags & PF_X) &&
          sym.st_value >= p.p_vaddr && sym.st_value - p.p_vaddr < p.p_memsz) {
        return;
      }
    }
    throw Problem{std::string("corrupt: entry point '") + entry_symbol +
                  "' does not lie in an executable segment"};
  }
  throw Problem{std::string("no entry point '") + entry_symbol +
                "' (is it a cigl plugin? define one with CIGL_PLUGIN)"};
}

}  // namespace

std::string plugin_file_problem(const std::string& file,
                                const char* entry_symbol) {
  try {
    ElfFile elf(file);
    const Ehdr header = check_header(elf);
    const auto segments = check_segments(elf, header);
    const auto sections = check_sections(elf, header);
    check_entry(elf, sections, segments, entry_symbol);
    return "";
  } catch (const Problem& p) {
    return p.what;
  } catch (const std::bad_alloc&) {
    return "corrupt: its headers announce more data than fits in memory";
  }
}

}  // namespace cigl
