// toml++ compiled into libcigl rather than taken from Debian's
// libtomlplusplus.so: that build formats floats with 17 significant digits
// (0.1 as 0.10000000000000001). Built here with TOML_FLOAT_CHARCONV, its
// formatter writes std::to_chars's shortest round trip, the same text as
// cigl::shortest(). Every other file of libcigl includes the declarations
// only (TOML_HEADER_ONLY=0); the symbols stay hidden inside libcigl.
#define TOML_IMPLEMENTATION
#include <toml++/toml.h>
