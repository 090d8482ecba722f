#pragma once
/// Symbols of the core library that plugins and apps use. Everything else
/// is built with hidden visibility (see the top-level CMakeLists.txt).
#define CIGL_API __attribute__((visibility("default")))
