// Every message a leader emits while a follower catches up on large entries encodes within the
// peer message limit and decodes to itself. Issue scenario (c): with appends batched by entry
// count only, the catch-up append of 20 entries of ~1 MiB exceeded the 16 MiB frame limit and
// EncodePeerMessage's size assertion aborted the leader; now raft batches within
// core::raft::kAppendBytesMax, so the assertion guards an invariant raft keeps.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "core/raft/testing/test_net.h"
#include "core/wire/raft_codec.h"

namespace meridian::core::wire {
namespace {

using core::raft::Index;
using core::raft::Message;
using core::raft::MessageType;
using core::raft::testing::TestNet;

static_assert(core::raft::kAppendBytesMax + core::raft::kAppendOverheadBytesMax <=
                  kEntriesDataBytesMax,
              "every append raft builds passes EncodePeerMessage's data assertion");

TEST(RaftCatchUp, EveryMessageOfALargeCatchUpEncodesAndDecodes) {
  TestNet net(3);
  net.Campaign(1);
  net.TickAll(net.node(1).options().heartbeat_interval_ticks);
  net.Isolate(3);
  constexpr uint32_t kEntries = 20;
  for (uint32_t i = 0; i < kEntries; i++) {
    ASSERT_TRUE(net.node(1).Propose(std::string((size_t{1} << 20) - 64, 'e')).ok());
  }
  net.DeliverAll();
  const Index last = net.node(1).log().last_index();
  ASSERT_EQ(net.node(1).log().commit(), last);

  uint32_t encoded = 0;
  size_t bytes_max = 0;
  net.OnSend([&](const Message& m) {
    const std::vector<uint8_t> bytes = EncodePeerMessage(7, m);  // Aborted here before.
    EXPECT_LE(bytes.size(), kPeerMessageBytesMax);
    bytes_max = std::max(bytes_max, bytes.size());
    const absl::StatusOr<PeerRaftMessage> decoded = DecodePeerMessage(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->message.entries, m.entries);
    EXPECT_EQ(decoded->message.log_index, m.log_index);
    encoded++;
  });
  net.Heal();
  // Node 3's missed appends are resent once it rejects the next one (see raft_append_budget_test).
  ASSERT_TRUE(net.node(1).Propose("wake").ok());
  for (uint32_t t = 0; t < 200 && net.node(3).log().commit() <= last; t++) net.TickAll(1);
  EXPECT_GT(net.node(3).log().commit(), last);
  EXPECT_GT(encoded, 0u);
  EXPECT_LE(bytes_max, core::raft::kAppendBytesMax + core::raft::kAppendOverheadBytesMax);
}

}  // namespace
}  // namespace meridian::core::wire
