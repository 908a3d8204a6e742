// Comm: the one door to MPI (ADIOS2's helper::Comm). It owns MPI (initializing it when the
// process was started by an MPI launcher, finalizing at exit), borrows an application's MPI_Comm
// (embedding), or is a serial stand-in with the same API, so everything runs without mpirun.
// Every collective takes a short hint that names it in error messages. MPI's return codes are
// checked here and nowhere else. Only one thread per process may call a Comm (MPI_THREAD_FUNNELED).
#pragma once

#include <mpi.h>

#include <boost/mpi/collectives/scatter.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/exception.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tessera/core/chunk.hpp"
#include "tessera/core/error.hpp"

namespace tessera {

namespace detail {
class MpiRuntime;
}

class Comm {
 public:
  // MPI_COMM_WORLD when started by mpirun/mpiexec/srun (or TESSERA_MPI=1), else the serial
  // stand-in (or TESSERA_MPI=0 to force it). Initializes MPI on first use.
  static Comm world();
  static Comm serial();
  // An application's communicator; MPI must be initialized and stays the caller's to finalize.
  static Comm borrow(MPI_Comm comm);

  Comm(Comm&& other) noexcept;
  Comm& operator=(Comm&& other) noexcept;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ~Comm();

  [[nodiscard]] int rank() const { return rank_; }
  [[nodiscard]] int size() const { return size_; }
  [[nodiscard]] bool is_serial() const { return serial_; }
  // The underlying MPI communicator (MPI_COMM_NULL for the serial stand-in).
  [[nodiscard]] MPI_Comm native() const { return comm_; }

  // A private communicator with the same ranks (MPI_Comm_dup), freed with the returned Comm:
  // a plan's messages can never be confused with another's.
  [[nodiscard]] Comm duplicate(const char* hint) const;
  // The ranks that share this rank's node (MPI_COMM_TYPE_SHARED), as a communicator of their own;
  // the serial stand-in for the serial stand-in. Collective.
  [[nodiscard]] Comm split_node(const char* hint) const;

  void barrier(const char* hint) const;
  [[nodiscard]] std::uint64_t all_reduce_min(std::uint64_t value, const char* hint) const;
  [[nodiscard]] std::uint64_t all_reduce_max(std::uint64_t value, const char* hint) const;
  [[nodiscard]] double all_reduce_max(double value, const char* hint) const;
  [[nodiscard]] std::int64_t all_reduce_sum(std::int64_t value, const char* hint) const;
  // Every rank's value, in rank order, on every rank.
  [[nodiscard]] std::vector<std::int64_t> all_gather(std::int64_t value, const char* hint) const;
  // Every rank's bytes (the same length on every rank), concatenated in rank order.
  [[nodiscard]] std::vector<std::byte> all_gather(std::span<const std::byte> bytes,
                                                  const char* hint) const;
  // Bytes from `root` to everyone (the size travels first).
  void broadcast(std::vector<std::byte>& bytes, int root, const char* hint) const;
  // The same for text (names, error messages).
  void broadcast(std::string& text, int root, const char* hint) const;
  // Root hands rank r the value values[r] (values is ignored elsewhere): Boost.MPI's scatter of
  // Boost.Serialization values, as the coordinator ships plans.
  template <typename T>
  [[nodiscard]] T scatter(const std::vector<T>& values, int root, const char* hint) const {
    if (serial_) return values.at(0);
    T out;
    try {
      const boost::mpi::communicator bc(comm_, boost::mpi::comm_attach);
      if (rank_ == root) {
        if (static_cast<int>(values.size()) != size_) {
          throw InternalError(std::string(hint) + ": scatter needs one value per rank");
        }
        boost::mpi::scatter(bc, values, out, root);
      } else {
        boost::mpi::scatter(bc, out, root);
      }
    } catch (const boost::mpi::exception& e) {
      throw DistributedError("rank " + std::to_string(rank_) + ": " + hint + ": " + e.what());
    }
    return out;
  }

  // Point-to-point bytes, non-blocking. A Request completes when its buffer may be reused.
  class Request {
   public:
    Request() = default;
    Request(Request&& other) noexcept;
    Request& operator=(Request&& other) noexcept;
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;
    ~Request();  // waits if still active, except after cancel()
    [[nodiscard]] bool test();
    void cancel();

   private:
    friend class Comm;
    MPI_Request request_ = MPI_REQUEST_NULL;
  };
  [[nodiscard]] Request isend(std::span<const std::byte> bytes, int dest, int tag,
                              const char* hint) const;
  struct Incoming {
    int source;
    int tag;
    std::size_t bytes;
  };
  // A message waiting to be received on `tag` (MPI_ANY_TAG for any), from any rank.
  [[nodiscard]] std::optional<Incoming> probe(int tag, const char* hint) const;
  // Receives the next message from message.source on message.tag, which must have exactly
  // message.bytes bytes (else DistributedError), into uninitialized storage (large messages are
  // not zero-filled first). Blocks until it arrives.
  [[nodiscard]] std::shared_ptr<Buffer> receive(const Incoming& message, const char* hint) const;
  // Non-blocking barrier: test() the request until every rank has entered it.
  [[nodiscard]] Request ibarrier(const char* hint) const;

  // Ends every process of the job with `message` on stderr (MPI_Abort); exit() when serial.
  [[noreturn]] void abort(const std::string& message, int code = 1) const;

 private:
  Comm() = default;
  std::shared_ptr<detail::MpiRuntime> runtime_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  bool owned_ = false;  // free comm_ on destruction
  bool serial_ = true;
  int rank_ = 0;
  int size_ = 1;
};

// True when this process was started by an MPI launcher (Open MPI, PMIx, PMI, Slurm's srun with
// an MPI plugin), or TESSERA_MPI=1.
bool launched_by_mpi();

}  // namespace tessera
