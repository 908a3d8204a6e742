// gtest main for MPI tests: initializes MPI through the test context, prints the usual report on
// rank 0 and only failures (with their rank) elsewhere, and returns failure on every rank when any
// rank failed (rank 0's own summary would otherwise say PASSED).
#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>

#include "mpi_test.hpp"

namespace tessera::testing {
namespace {

std::optional<Context>& storage() {
  static std::optional<Context> ctx;
  return ctx;
}

class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::cerr << "[rank " << rank_ << "] " << (result.file_name() ? result.file_name() : "?") << ":"
              << result.line_number() << ": " << result.summary() << std::endl;
  }

 private:
  int rank_;
};

}  // namespace

Context& context() {
  return *storage();
}

bool all_ranks(bool ok) {
  return context().comm().all_reduce_min(std::uint64_t{ok ? 1U : 0U}, "all_ranks") == 1;
}

}  // namespace tessera::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto& ctx = tessera::testing::storage();
  ctx.emplace();
  const int rank = ctx->rank();
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new tessera::testing::FailurePrinter(rank));
  }
  const int result = RUN_ALL_TESTS();
  const std::uint64_t failed =
      ctx->comm().all_reduce_max(std::uint64_t{result != 0 ? 1U : 0U}, "test results");
  if (rank == 0 && failed != 0 && result == 0)
    std::cerr << "FAILED on another rank (see [rank N] lines)\n";
  ctx.reset();
  return failed != 0 ? 1 : 0;
}
