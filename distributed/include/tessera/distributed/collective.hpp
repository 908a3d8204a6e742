// Steps outside plans that some ranks run (rank 0 creating a file, every rank writing its own
// band) with the executor's failure protocol (plan_executor.hpp): when the step throws on any
// rank, every rank throws, together, so no rank waits in a later collective for one that left.
// The failing rank rethrows its own exception; the others throw DistributedError
// "<what> failed on rank N: <its message>". Both are collective over `comm`.
//
//   on_root(ctx.comm(), 0, "writing the file structure", [&] { ... });  // rank 0 only
//   on_all(ctx.comm(), "writing array data", [&] { ... });              // every rank
#pragma once

#include <functional>

#include "tessera/distributed/comm.hpp"

namespace tessera {

// `action` on rank `root` only; its outcome is broadcast.
void on_root(const Comm& comm, int root, const char* what, const std::function<void()>& action);

// `action` on every rank; when several fail, the highest failing rank's message is the one shared
// (a rank that fails on its own comes after ranks that only stopped because of it).
void on_all(const Comm& comm, const char* what, const std::function<void()>& action);

}  // namespace tessera
