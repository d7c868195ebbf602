// The toy journal's server and client fibers (see toy_journal.h).
#include <fmt/format.h>

#include "io/assert.h"
#include "io/disk.h"
#include "io/frame.h"
#include "io/probe.h"
#include "sim/toy_journal.h"

namespace meridian::sim::toy {
namespace {

using std::chrono::milliseconds;

constexpr const char* kJournalDir = "journal";
constexpr const char* kJournalPath = "journal/data";
constexpr int kIoRetriesMax = 100;

std::vector<uint8_t> Bytes(std::string_view text) { return {text.begin(), text.end()}; }

// Retries an operation that fails with injected I/O errors; a real server would alert and fail
// over, the toy just waits for the disk to behave.
template <typename Operation>
auto Retry(io::Runtime& rt, Operation operation) -> decltype(operation()) {
  auto result = operation();
  for (int attempt = 0; attempt < kIoRetriesMax && !result.ok(); attempt++) {
    MERIDIAN_PROBE("toy journal: retried a failed disk operation");
    if (!rt.Sleep(milliseconds(10)).ok()) break;
    result = operation();
  }
  return result;
}

absl::StatusOr<std::unique_ptr<io::File>> OpenJournal(io::Runtime& rt) {
  io::Disk& disk = rt.disk();
  absl::StatusOr<bool> exists = disk.Exists(kJournalDir);
  if (!exists.ok()) return exists.status();
  if (!*exists) {
    if (absl::Status s = disk.CreateDir(kJournalDir); !s.ok()) return s;
    if (absl::Status s = Retry(rt, [&] { return disk.SyncDir(""); }); !s.ok()) return s;
  }
  absl::StatusOr<std::unique_ptr<io::File>> file = disk.Open(kJournalPath, io::OpenMode::kCreate);
  if (!file.ok()) return file;
  if (absl::Status s = Retry(rt, [&] { return disk.SyncDir(kJournalDir); }); !s.ok()) return s;
  return file;
}

absl::StatusOr<Recovery> RecoverJournal(io::Runtime& rt, io::File& file, bool verify_crc) {
  absl::StatusOr<uint64_t> size = file.Size();
  if (!size.ok()) return size.status();
  // Read in chunks, as a real log reads segment by segment (and so each read may meet an EIO).
  constexpr size_t kChunkBytes = 4096;
  std::vector<uint8_t> bytes(*size);
  for (size_t offset = 0; offset < bytes.size(); offset += kChunkBytes) {
    const size_t length = std::min(kChunkBytes, bytes.size() - offset);
    absl::StatusOr<size_t> read = Retry(
        rt, [&] { return file.ReadAt(offset, std::span<uint8_t>(bytes).subspan(offset, length)); });
    if (!read.ok()) return read.status();
    MERIDIAN_CHECK(*read == length);
  }
  uint64_t valid_bytes = 0;
  Recovery recovery = ParseJournal(bytes, verify_crc, &valid_bytes);
  if (valid_bytes < bytes.size()) {
    if (absl::Status s = file.Truncate(valid_bytes); !s.ok()) return s;
    if (absl::Status s = Retry(rt, [&] { return file.Sync(); }); !s.ok()) return s;
  }
  return recovery;
}

void Ping(io::Runtime& rt, JournalObserver& observer, const ServerOptions& options,
          uint64_t incarnation) {
  uint64_t counter = 0;
  while (!options.peers.empty()) {
    if (!rt.Sleep(milliseconds(rt.random().Between(20, 100))).ok()) return;
    const io::NodeId to = options.peers[rt.random().Below(options.peers.size())];
    const uint64_t sequence = (incarnation << 32) | counter++;
    observer.PingSent(rt.node(), sequence);
    rt.network().Send(to, Bytes(fmt::format("PING {}", sequence)));
  }
}

void AnswerPeers(io::Runtime& rt, JournalObserver& observer) {
  while (true) {
    absl::StatusOr<io::PeerMessage> message = rt.network().Receive(io::Instant::Infinite());
    if (!message.ok()) return;
    const std::string text(message->payload.begin(), message->payload.end());
    uint64_t sequence = 0;
    if (std::sscanf(text.c_str(), "PING %lu", &sequence) == 1) {
      rt.network().Send(message->from, Bytes(fmt::format("ACK {}", sequence)));
    } else if (std::sscanf(text.c_str(), "ACK %lu", &sequence) == 1) {
      observer.AckReceived(rt.node(), message->from, sequence);
    } else {
      observer.Violation(
          fmt::format("{} got a garbled peer message '{}'", rt.node().ToString(), text));
    }
  }
}

// The journal of one server incarnation: the file and the offset (record index) of the next
// record. Appends do not suspend, so offsets follow file order even with many connections.
struct Journal {
  std::shared_ptr<io::File> file;
  int64_t next_offset = 0;
};

// Appends one value; returns the reply for the client ("OK <offset>", "FAIL ...", "INDET ...").
std::string Append(io::Runtime& rt, Journal& journal, std::string_view value, PlantedBug bug) {
  if (value.empty() || value.size() > 256) return "FAIL bad value";
  if (absl::Status s = journal.file->Append(EncodeRecord(value)).status(); !s.ok()) {
    MERIDIAN_PROBE("toy journal: append failed");
    return "FAIL " + s.ToString();
  }
  const int64_t offset = journal.next_offset++;
  if (bug == PlantedBug::kAckBeforeSync) {
    return fmt::format("OK {}", offset);  // The lazy syncer will get to it.
  }
  // Wait a moment so concurrent appends share the fsync (a poor man's group commit); it also
  // leaves unsynced records on disk for a crash to tear, as a real log's would.
  if (!rt.Sleep(std::chrono::microseconds(rt.random().Between(0, 3000))).ok()) return "INDET";
  if (absl::Status s = journal.file->Sync(); !s.ok()) {
    MERIDIAN_PROBE("toy journal: sync failed, reply indeterminate");
    return "INDET " + s.ToString();
  }
  return fmt::format("OK {}", offset);
}

void ServeConnection(io::Runtime& rt, io::Stream& stream, Journal& journal, PlantedBug bug) {
  io::FrameReader reader(stream);
  while (true) {
    absl::StatusOr<std::vector<uint8_t>> request = reader.Read(io::Instant::Infinite());
    if (!request.ok()) return;
    const std::string text(request->begin(), request->end());
    const std::string reply = text.rfind("A ", 0) == 0
                                  ? Append(rt, journal, std::string_view(text).substr(2), bug)
                                  : "FAIL unknown request";
    if (rt.ShouldInjectFault("toy journal: slow reply")) {
      if (!rt.Sleep(milliseconds(rt.random().Between(1, 3000))).ok()) return;
    }
    if (!io::WriteFrame(stream, Bytes(reply), rt.Now() + std::chrono::seconds(2)).ok()) return;
    if (rt.ShouldInjectFault("toy journal: drop connection after reply")) return;
  }
}

}  // namespace

void RunServer(io::Runtime& rt, JournalObserver& observer, const ServerOptions& options,
               uint64_t incarnation, const std::function<io::Instant()>& world_now) {
  absl::StatusOr<std::unique_ptr<io::File>> opened = OpenJournal(rt);
  MERIDIAN_CHECK(opened.ok(), "journal open: {}", opened.status().ToString());
  auto journal = std::make_shared<Journal>();
  journal->file = std::move(*opened);
  absl::StatusOr<Recovery> recovery =
      RecoverJournal(rt, *journal->file, options.bug != PlantedBug::kSkipCrcOnRecovery);
  if (!recovery.ok()) return;  // Cancelled by a crash mid-recovery.
  journal->next_offset = static_cast<int64_t>(recovery->values.size());
  recovery->incarnation = incarnation;
  recovery->at = world_now();
  observer.Recovered(rt.node(), std::move(*recovery));

  rt.Spawn("pinger",
           [&rt, &observer, options, incarnation] { Ping(rt, observer, options, incarnation); });
  rt.Spawn("peers", [&rt, &observer] { AnswerPeers(rt, observer); });
  if (options.bug == PlantedBug::kAckBeforeSync) {
    rt.Spawn("lazy-sync", [&rt, journal] {
      while (rt.Sleep(milliseconds(200)).ok()) (void)journal->file->Sync();
    });
  }
  absl::StatusOr<std::unique_ptr<io::Listener>> listener = rt.network().Listen(options.listen);
  MERIDIAN_CHECK(listener.ok(), "listen: {}", listener.status().ToString());
  while (true) {
    absl::StatusOr<std::unique_ptr<io::Stream>> stream =
        (*listener)->Accept(io::Instant::Infinite());
    if (!stream.ok()) return;
    std::shared_ptr<io::Stream> connection(std::move(*stream));
    rt.Spawn("connection", [&rt, connection, journal, bug = options.bug] {
      ServeConnection(rt, *connection, *journal, bug);
    });
  }
}

void RunClient(io::Runtime& rt, JournalObserver& observer, uint32_t client,
               const std::vector<io::Address>& servers, const std::vector<io::NodeId>& server_ids,
               const std::function<io::Instant()>& world_now) {
  MERIDIAN_CHECK(servers.size() == server_ids.size() && !servers.empty());
  uint64_t sequence = 0;
  while (true) {
    const size_t pick = rt.random().Below(servers.size());
    absl::StatusOr<std::unique_ptr<io::Stream>> stream =
        rt.network().Connect(servers[pick], rt.Now() + std::chrono::seconds(1));
    if (stream.ok()) {
      io::FrameReader reader(**stream);
      const int64_t batch = rt.random().Between(1, 20);
      for (int64_t i = 0; i < batch; i++) {
        const std::string value = fmt::format("{}", client * kValuesPerClient + sequence++);
        const size_t op = observer.Invoke(client, server_ids[pick], value, world_now());
        if (!io::WriteFrame(**stream, Bytes("A " + value), rt.Now() + std::chrono::seconds(2))
                 .ok()) {
          observer.Complete(op, Outcome::kFail, world_now());  // Never left this node.
          break;
        }
        const io::Duration patience = rt.ShouldInjectFault("toy journal: impatient client")
                                          ? milliseconds(rt.random().Between(1, 200))
                                          : io::Duration(std::chrono::seconds(2));
        absl::StatusOr<std::vector<uint8_t>> reply = reader.Read(rt.Now() + patience);
        if (!reply.ok()) {
          MERIDIAN_PROBE("toy journal: client lost a reply");
          observer.Complete(op, Outcome::kInfo, world_now());
          break;
        }
        const std::string text(reply->begin(), reply->end());
        int64_t offset = -1;
        if (std::sscanf(text.c_str(), "OK %ld", &offset) == 1 && offset >= 0) {
          observer.Complete(op, Outcome::kOk, world_now(), offset);
        } else {
          observer.Complete(op, text.rfind("FAIL", 0) == 0 ? Outcome::kFail : Outcome::kInfo,
                            world_now());
        }
      }
      (*stream)->Close();
    }
    if (!rt.Sleep(milliseconds(rt.random().Between(10, 100))).ok()) return;
  }
}

}  // namespace meridian::sim::toy
