#include "tessera/distributed/collective.hpp"

#include <exception>
#include <string>

#include "tessera/core/error.hpp"

namespace tessera {
namespace {

std::string message_of(const std::exception& e, const char* what) {
  std::string message = e.what();
  if (message.empty()) message = std::string("failed while ") + what;
  return message;
}

[[noreturn]] void follow(const char* what, int source, const std::string& message) {
  throw DistributedError(std::string(what) + " failed on rank " + std::to_string(source) + ": " +
                         message);
}

}  // namespace

void on_root(const Comm& comm, int root, const char* what, const std::function<void()>& action) {
  std::exception_ptr error;
  std::string message;
  if (comm.rank() == root) {
    try {
      action();
    } catch (const std::exception& e) {
      error = std::current_exception();
      message = message_of(e, what);
    } catch (...) {
      error = std::current_exception();
      message = std::string("failed while ") + what + " (an exception of an unknown type)";
    }
  }
  comm.broadcast(message, root, what);
  if (error) std::rethrow_exception(error);
  if (!message.empty()) follow(what, root, message);
}

void on_all(const Comm& comm, const char* what, const std::function<void()>& action) {
  std::exception_ptr error;
  std::string message;
  try {
    action();
  } catch (const std::exception& e) {
    error = std::current_exception();
    message = message_of(e, what);
  } catch (...) {
    error = std::current_exception();
    message = std::string("failed while ") + what + " (an exception of an unknown type)";
  }
  // The highest failing rank, plus one (0: none failed).
  const std::uint64_t failed =
      comm.all_reduce_max(error ? static_cast<std::uint64_t>(comm.rank()) + 1 : 0, what);
  if (failed == 0) return;
  const int source = static_cast<int>(failed - 1);
  comm.broadcast(message, source, what);
  if (error) std::rethrow_exception(error);
  follow(what, source, message);
}

}  // namespace tessera
