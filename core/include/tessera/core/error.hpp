// Tessera's error hierarchy. Every message names the element or path, the operation, and the
// problem; distributed code adds the rank. Callers catch the kind they can handle.
#pragma once

#include <stdexcept>
#include <string>

namespace tessera {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file or encoded element is malformed (bad metadata, unknown encoding, corrupt data).
class FormatError : public Error {
 public:
  using Error::Error;
};

// The operating system or a storage library failed (open, read, write, rename).
class IoError : public Error {
 public:
  using Error::Error;
};

// Shapes or chunk grids that do not fit together.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// An index, slice or mask that does not fit the axis it selects from.
class IndexError : public Error {
 public:
  using Error::Error;
};

// An argument of the right shape but an unusable value (chunk size 0, unknown dtype name).
class ValueError : public Error {
 public:
  using Error::Error;
};

// A failure on another rank, a mismatched collective, or a broken communicator.
class DistributedError : public Error {
 public:
  using Error::Error;
};

// A broken internal invariant: a bug in Tessera, not in the caller's input.
class InternalError : public Error {
 public:
  using Error::Error;
};

namespace detail {
[[noreturn]] void assert_failed(const char* expr, const char* file, int line,
                                const std::string& msg);
}  // namespace detail

}  // namespace tessera

// Programmer errors: checked in every build type, thrown as InternalError with the message.
#define TESSERA_ASSERT(cond, msg)                                                    \
  do {                                                                               \
    if (!(cond)) ::tessera::detail::assert_failed(#cond, __FILE__, __LINE__, (msg)); \
  } while (false)
