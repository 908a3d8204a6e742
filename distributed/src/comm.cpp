#include "tessera/distributed/comm.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>

#include "tessera/core/error.hpp"

namespace tessera {
namespace detail {

// Owns MPI's lifetime when Tessera initialized it: finalized when the last Comm (or the process
// at exit) lets go.
class MpiRuntime {
 public:
  MpiRuntime() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        throw DistributedError("Comm: MPI_Init_thread failed");
      }
      owns_ = true;
    }
  }
  ~MpiRuntime() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_ && !finalized) MPI_Finalize();
  }
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  static std::shared_ptr<MpiRuntime> get() {
    static std::mutex mutex;
    static std::shared_ptr<MpiRuntime> runtime;  // lives until static destruction: finalize at exit
    std::lock_guard lock(mutex);
    if (!runtime) runtime = std::make_shared<MpiRuntime>();
    return runtime;
  }

 private:
  bool owns_ = false;
};

}  // namespace detail

namespace {

std::string describe(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<std::size_t>(len));
}

int world_rank() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  int rank = 0;
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

// The one place MPI return codes are checked.
void check(int code, const char* call, const char* hint) {
  if (code == MPI_SUCCESS) return;
  throw DistributedError("rank " + std::to_string(world_rank()) + ": " + call + " failed in " +
                         hint + ": " + describe(code));
}

int checked_count(std::size_t bytes, const char* hint) {  // MPI counts are ints
  if (bytes > static_cast<std::size_t>(INT_MAX)) {
    throw DistributedError(std::string(hint) + ": a message of " + std::to_string(bytes) +
                           " bytes exceeds MPI's 2 GiB limit; use smaller chunks");
  }
  return static_cast<int>(bytes);
}

}  // namespace

bool launched_by_mpi() {
  if (const char* force = std::getenv("TESSERA_MPI"); force != nullptr && *force != '\0') {
    return std::string(force) != "0";
  }
  for (const char* var :
       {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

Comm Comm::world() {
  if (!launched_by_mpi()) return serial();
  Comm c;
  c.runtime_ = detail::MpiRuntime::get();
  c.comm_ = MPI_COMM_WORLD;
  c.serial_ = false;
  check(MPI_Comm_rank(c.comm_, &c.rank_), "MPI_Comm_rank", "Comm::world");
  check(MPI_Comm_size(c.comm_, &c.size_), "MPI_Comm_size", "Comm::world");
  return c;
}

Comm Comm::serial() {
  return Comm();
}

Comm Comm::borrow(MPI_Comm comm) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized)
    throw DistributedError("Comm::borrow: MPI is not initialized; call MPI_Init first");
  if (comm == MPI_COMM_NULL)
    throw DistributedError("Comm::borrow: the communicator is MPI_COMM_NULL");
  Comm c;
  c.comm_ = comm;
  c.serial_ = false;
  check(MPI_Comm_rank(comm, &c.rank_), "MPI_Comm_rank", "Comm::borrow");
  check(MPI_Comm_size(comm, &c.size_), "MPI_Comm_size", "Comm::borrow");
  return c;
}

Comm::Comm(Comm&& other) noexcept
    : runtime_(std::move(other.runtime_)),
      comm_(other.comm_),
      owned_(other.owned_),
      serial_(other.serial_),
      rank_(other.rank_),
      size_(other.size_) {
  other.comm_ = MPI_COMM_NULL;
  other.owned_ = false;
}

Comm& Comm::operator=(Comm&& other) noexcept {
  if (this != &other) {
    if (owned_ && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    runtime_ = std::move(other.runtime_);
    comm_ = other.comm_;
    owned_ = other.owned_;
    serial_ = other.serial_;
    rank_ = other.rank_;
    size_ = other.size_;
    other.comm_ = MPI_COMM_NULL;
    other.owned_ = false;
  }
  return *this;
}

Comm::~Comm() {
  if (owned_ && comm_ != MPI_COMM_NULL) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
}

Comm Comm::duplicate(const char* hint) const {
  Comm c;
  c.runtime_ = runtime_;
  c.serial_ = serial_;
  c.rank_ = rank_;
  c.size_ = size_;
  if (!serial_) {
    check(MPI_Comm_dup(comm_, &c.comm_), "MPI_Comm_dup", hint);
    c.owned_ = true;
  }
  return c;
}

Comm Comm::split_node(const char* hint) const {
  Comm c;
  c.runtime_ = runtime_;
  if (serial_) return c;
  check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &c.comm_),
        "MPI_Comm_split_type", hint);
  c.owned_ = true;
  c.serial_ = false;
  check(MPI_Comm_rank(c.comm_, &c.rank_), "MPI_Comm_rank", hint);
  check(MPI_Comm_size(c.comm_, &c.size_), "MPI_Comm_size", hint);
  return c;
}

void Comm::barrier(const char* hint) const {
  if (!serial_) check(MPI_Barrier(comm_), "MPI_Barrier", hint);
}

std::uint64_t Comm::all_reduce_min(std::uint64_t value, const char* hint) const {
  std::uint64_t out = value;
  if (!serial_)
    check(MPI_Allreduce(&value, &out, 1, MPI_UINT64_T, MPI_MIN, comm_), "MPI_Allreduce", hint);
  return out;
}

std::uint64_t Comm::all_reduce_max(std::uint64_t value, const char* hint) const {
  std::uint64_t out = value;
  if (!serial_)
    check(MPI_Allreduce(&value, &out, 1, MPI_UINT64_T, MPI_MAX, comm_), "MPI_Allreduce", hint);
  return out;
}

double Comm::all_reduce_max(double value, const char* hint) const {
  double out = value;
  if (!serial_)
    check(MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, MPI_MAX, comm_), "MPI_Allreduce", hint);
  return out;
}

std::int64_t Comm::all_reduce_sum(std::int64_t value, const char* hint) const {
  std::int64_t out = value;
  if (!serial_)
    check(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_SUM, comm_), "MPI_Allreduce", hint);
  return out;
}

std::vector<std::int64_t> Comm::all_gather(std::int64_t value, const char* hint) const {
  std::vector<std::int64_t> out(static_cast<std::size_t>(size_), value);
  if (!serial_)
    check(MPI_Allgather(&value, 1, MPI_INT64_T, out.data(), 1, MPI_INT64_T, comm_), "MPI_Allgather",
          hint);
  return out;
}

std::vector<std::byte> Comm::all_gather(std::span<const std::byte> bytes, const char* hint) const {
  std::vector<std::byte> out(bytes.size() * static_cast<std::size_t>(size_));
  if (serial_) {
    std::copy(bytes.begin(), bytes.end(), out.begin());
    return out;
  }
  const int count = checked_count(bytes.size(), hint);
  check(MPI_Allgather(bytes.data(), count, MPI_BYTE, out.data(), count, MPI_BYTE, comm_),
        "MPI_Allgather", hint);
  return out;
}

void Comm::broadcast(std::vector<std::byte>& bytes, int root, const char* hint) const {
  if (serial_) return;
  std::uint64_t n = bytes.size();
  check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast", hint);
  bytes.resize(n);
  // Large payloads go in pieces below MPI's int count limit.
  constexpr std::size_t kPiece = std::size_t{1} << 30;
  for (std::size_t at = 0; at < n; at += kPiece) {
    const std::size_t len = std::min(kPiece, n - at);
    check(MPI_Bcast(bytes.data() + at, static_cast<int>(len), MPI_BYTE, root, comm_), "MPI_Bcast",
          hint);
  }
}

void Comm::broadcast(std::string& text, int root, const char* hint) const {
  if (serial_) return;
  std::vector<std::byte> bytes(text.size());
  std::memcpy(bytes.data(), text.data(), text.size());
  broadcast(bytes, root, hint);
  text.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

Comm::Request::Request(Request&& other) noexcept : request_(other.request_) {
  other.request_ = MPI_REQUEST_NULL;
}

Comm::Request& Comm::Request::operator=(Request&& other) noexcept {
  if (this != &other) {
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
    request_ = other.request_;
    other.request_ = MPI_REQUEST_NULL;
  }
  return *this;
}

Comm::Request::~Request() {
  if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
}

bool Comm::Request::test() {
  if (request_ == MPI_REQUEST_NULL) return true;
  int done = 0;
  check(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), "MPI_Test", "Request::test");
  return done != 0;
}

void Comm::Request::cancel() {
  if (request_ == MPI_REQUEST_NULL) return;
  // A send nobody will receive: cancel what can be cancelled and let MPI reclaim the rest.
  MPI_Cancel(&request_);
  MPI_Request_free(&request_);
  request_ = MPI_REQUEST_NULL;
}

Comm::Request Comm::isend(std::span<const std::byte> bytes, int dest, int tag,
                          const char* hint) const {
  if (serial_)
    throw InternalError(std::string(hint) + ": point-to-point send on the serial stand-in");
  Request r;
  check(MPI_Isend(bytes.data(), checked_count(bytes.size(), hint), MPI_BYTE, dest, tag, comm_,
                  &r.request_),
        "MPI_Isend", hint);
  return r;
}

std::optional<Comm::Incoming> Comm::probe(int tag, const char* hint) const {
  if (serial_) return std::nullopt;
  int flag = 0;
  MPI_Status status;
  check(MPI_Iprobe(MPI_ANY_SOURCE, tag, comm_, &flag, &status), "MPI_Iprobe", hint);
  if (!flag) return std::nullopt;
  int count = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count", hint);
  return Incoming{status.MPI_SOURCE, status.MPI_TAG, static_cast<std::size_t>(count)};
}

std::shared_ptr<Buffer> Comm::receive(const Incoming& message, const char* hint) const {
  auto bytes = Buffer::allocate(message.bytes);
  MPI_Status status;
  check(MPI_Recv(bytes->data(), checked_count(message.bytes, hint), MPI_BYTE, message.source,
                 message.tag, comm_, &status),
        "MPI_Recv", hint);
  int count = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count", hint);
  if (static_cast<std::size_t>(count) != message.bytes) {
    throw DistributedError("rank " + std::to_string(rank_) + ": " + hint + ": expected " +
                           std::to_string(message.bytes) + " bytes from rank " +
                           std::to_string(message.source) + ", received " + std::to_string(count));
  }
  return bytes;
}

Comm::Request Comm::ibarrier(const char* hint) const {
  Request r;
  if (!serial_) check(MPI_Ibarrier(comm_, &r.request_), "MPI_Ibarrier", hint);
  return r;
}

void Comm::abort(const std::string& message, int code) const {
  std::cerr << message << std::endl;
  if (serial_) std::exit(code);
  MPI_Abort(comm_ == MPI_COMM_NULL ? MPI_COMM_WORLD : comm_, code);
  std::exit(code);
}

}  // namespace tessera
