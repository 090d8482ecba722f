#pragma once
// Checks a plugin file before the dynamic loader sees it (private to
// libcigl). dlopen maps whatever the headers claim: a truncated library
// dies with SIGBUS inside the loader, and an entry point that is really a
// data object dies with SIGSEGV when called. Both are found here from the
// file's own bytes, so they become one error line instead.
#include <string>

namespace cigl {

/// Why `file` cannot be loaded as a plugin of this process, or "" when it
/// can: a complete ELF shared object of this machine's class, byte order
/// and architecture, every program header, segment and section inside the
/// file, and `entry_symbol` a defined function of its dynamic symbol table
/// lying in an executable segment. Reads headers only, never maps the file.
std::string plugin_file_problem(const std::string& file,
                                const char* entry_symbol);

}  // namespace cigl
