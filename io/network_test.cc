// io/network.h's address helpers: what per-address connection limits count by.
#include "io/network.h"

#include <gtest/gtest.h>

namespace meridian::io {
namespace {

TEST(Network, PeerAddressIsThePeersHostWithoutItsPort) {
  EXPECT_EQ(PeerAddress("10.0.0.7:51234"), "10.0.0.7");
  EXPECT_EQ(PeerAddress("[::1]:80"), "[::1]");
  EXPECT_EQ(PeerAddress("::1"), "::1");           // A bare IPv6 address: no port to strip.
  EXPECT_EQ(PeerAddress("client:17"), "client");  // The simulator's host:fiber.
  EXPECT_EQ(PeerAddress("fuzz"), "fuzz");
  EXPECT_EQ(PeerAddress(""), "");
}

TEST(Network, ParseAddressTakesHostAndPortAndRefusesTheRest) {
  absl::StatusOr<Address> v4 = ParseAddress("127.0.0.1:9092");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(*v4, (Address{"127.0.0.1", 9092}));
  absl::StatusOr<Address> v6 = ParseAddress("[::1]:80");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  for (const char* bad : {"host", ":80", "host:", "host:70000", "host:8x"}) {
    EXPECT_FALSE(ParseAddress(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace meridian::io
