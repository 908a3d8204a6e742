#include "tessera/distributed/plan_executor.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "detail/wire.hpp"
#include "tessera/core/error.hpp"

namespace tessera {
namespace {

constexpr int kChunkTag = 1;    // a chunk's header
constexpr int kErrorTag = 2;    // a failure notice
constexpr int kPayloadTag = 3;  // a chunk's values, right after its header from the same rank
constexpr auto kIdle = std::chrono::microseconds(100);

// Thrown from the poll hook to stop the local run when another rank reported a failure.
struct PeerFailure {};

struct Outgoing {
  std::shared_ptr<const void> bytes;  // what the request reads, alive until it completes
  Comm::Request request;
};

std::vector<std::byte> text_bytes(const std::string& text) {
  std::vector<std::byte> out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

}  // namespace

std::vector<Chunk> PlanExecutor::execute(const TaskGraph& graph, const Plan& plan,
                                         ExecutionStats& stats) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<bool> run_mask(static_cast<std::size_t>(graph.num_tasks()), false);
  for (TaskId t : plan.run)
    run_mask[t] = true;
  stats.bytes_moved_estimate = plan.bytes_moved_estimate;
  const auto finish = [&] {
    stats.tasks_run = executor_.last_stats().tasks_run;
    stats.execute_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };

  if (comm_.is_serial() || comm_.size() == 1) {
    std::vector<Chunk> out = executor_.run(graph, run_mask, plan.outputs, LocalExecutor::Hooks{});
    finish();
    return out;
  }

  const Comm comm = comm_.duplicate("PlanExecutor::execute");
  std::vector<bool> export_mask(static_cast<std::size_t>(graph.num_tasks()), false);
  for (const auto& [t, dest] : plan.sends)
    export_mask[t] = true;

  std::mutex queue_mutex;
  std::vector<std::pair<TaskId, Chunk>> queue;  // finished chunks waiting to be sent
  std::vector<Outgoing> in_flight;
  int peer_failed = -1;

  const auto pump_sends = [&] {
    std::vector<std::pair<TaskId, Chunk>> ready;
    {
      std::lock_guard lock(queue_mutex);
      ready.swap(queue);
    }
    for (auto& [t, chunk] : ready) {
      // The header, then the payload (a dense chunk's own buffer, no copy). Messages between two
      // ranks on one tag arrive in order, so the receiver pairs each header with the next payload.
      auto wire = std::make_shared<detail::WireChunk>(detail::encode_chunk(t, chunk));
      auto range =
          std::equal_range(plan.sends.begin(), plan.sends.end(), std::pair<TaskId, int>{t, -1},
                           [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto it = range.first; it != range.second; ++it) {
        in_flight.push_back(
            {wire, comm.isend(wire->header, it->second, kChunkTag, "sending a chunk header")});
        in_flight.push_back(
            {wire, comm.isend(wire->payload, it->second, kPayloadTag, "sending a chunk")});
        stats.bytes_sent += static_cast<std::int64_t>(wire->header.size() + wire->payload.size());
        ++stats.messages_sent;
      }
    }
  };
  const auto test_sends = [&] {
    std::erase_if(in_flight, [](Outgoing& o) { return o.request.test(); });
  };
  // Receives everything waiting; chunks go to `inbox` (or are dropped after the run ended).
  const auto drain = [&](LocalExecutor::Inbox* inbox) {
    while (auto m = comm.probe(kErrorTag, "checking for failed ranks")) {
      (void)comm.receive(*m, "receiving a failure notice");
      if (peer_failed < 0) peer_failed = m->source;
    }
    while (auto m = comm.probe(kChunkTag, "checking for chunks")) {
      const std::shared_ptr<Buffer> header = comm.receive(*m, "receiving a chunk header");
      const std::span<const std::byte> header_bytes(header->data(), header->size());
      const Comm::Incoming payload_message{m->source, kPayloadTag,
                                           detail::payload_bytes(header_bytes)};
      const std::shared_ptr<Buffer> payload = comm.receive(payload_message, "receiving a chunk");
      stats.bytes_received += static_cast<std::int64_t>(header->size() + payload->size());
      if (inbox != nullptr) {
        auto [t, chunk] = detail::decode_chunk(header_bytes, payload);
        inbox->deliver(t, std::move(chunk));
      }
    }
  };

  LocalExecutor::Hooks hooks;
  hooks.export_mask = &export_mask;
  hooks.on_done = [&](TaskId t, const Chunk& chunk) {
    std::lock_guard lock(queue_mutex);
    queue.emplace_back(t, chunk);
  };
  hooks.poll = [&](LocalExecutor::Inbox& inbox) {
    pump_sends();
    test_sends();
    drain(&inbox);
    if (peer_failed >= 0) throw PeerFailure{};
    // Large messages advance only while this rank calls into MPI: poll again at once.
    return !in_flight.empty();
  };

  std::vector<Chunk> out;
  std::exception_ptr local_error;
  std::string local_message;
  try {
    out = executor_.run(graph, run_mask, plan.outputs, hooks);
    if (peer_failed < 0) pump_sends();  // the last finished chunks
  } catch (const PeerFailure&) {
    // Another rank failed: its message comes with the agreement below.
  } catch (const std::exception& e) {
    local_error = std::current_exception();
    local_message = e.what();
  } catch (...) {
    local_error = std::current_exception();
    local_message = "unknown exception";
  }
  if (local_error) {
    // Tell everyone to stop waiting for this rank's chunks.
    auto notice = std::make_shared<const std::vector<std::byte>>(text_bytes(local_message));
    for (int r = 0; r < comm.size(); ++r) {
      if (r != comm.rank())
        in_flight.push_back({notice, comm.isend(*notice, r, kErrorTag, "reporting a failure")});
    }
  }
  // Leave together: finish sending (receiving whatever others still send), then a non-blocking
  // barrier, still receiving, so no rank waits on one that has stopped listening.
  while (!in_flight.empty()) {
    test_sends();
    drain(nullptr);
    std::this_thread::yield();  // keep large sends moving
  }
  Comm::Request barrier = comm.ibarrier("leaving a plan");
  while (!barrier.test()) {
    drain(nullptr);
    std::this_thread::sleep_for(kIdle);
  }
  const std::uint64_t none = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t first = comm.all_reduce_min(
      local_error ? static_cast<std::uint64_t>(comm.rank()) : none, "agreeing on failures");
  stats.bytes_moved = comm.all_reduce_sum(stats.bytes_sent, "counting bytes moved");
  finish();
  if (first != none) {
    const int failed = static_cast<int>(first);
    std::vector<std::byte> message =
        failed == comm.rank() ? text_bytes(local_message) : std::vector<std::byte>{};
    comm.broadcast(message, failed, "sharing a failure");
    if (failed == comm.rank()) std::rethrow_exception(local_error);
    throw DistributedError(
        "rank " + std::to_string(failed) +
        " failed: " + std::string(reinterpret_cast<const char*>(message.data()), message.size()));
  }
  return out;
}

}  // namespace tessera
