// Connection and Client against the fake two-node broker, on the deterministic test runtime.
#include "core/client/client.h"

#include <gtest/gtest.h>

#include "core/client/connection.h"
#include "core/client/testing/fake_broker.h"
#include "core/client/testing/test_runtime.h"
#include "io/assert.h"

namespace meridian::core::client {
namespace {

using namespace std::chrono_literals;
using testing::FakeBroker;
using testing::FakeBrokerOptions;
using testing::TestRuntime;

class ClientTest : public ::testing::Test {
 protected:
  explicit ClientTest(FakeBrokerOptions options = {}) : broker_(runtime_, options) {
    broker_.AddTopic("orders", 4);
    MERIDIAN_CHECK(broker_.Start().ok());
  }
  // Unwinds every fiber while the broker and whatever the test built are still alive.
  ~ClientTest() override { runtime_.scheduler().Shutdown(); }

  ClientOptions Options(io::Address bootstrap = {"broker1", 9092}) {
    ClientOptions options;
    options.bootstrap = {bootstrap};
    options.client_id = "client-test";
    options.request_timeout = 1s;
    return options;
  }

  std::shared_ptr<Connection> Open(io::Address address = {"broker1", 9092}) {
    absl::StatusOr<std::shared_ptr<Connection>> connection =
        Connection::Open(runtime_, address, "client-test", runtime_.Now() + 1s);
    MERIDIAN_CHECK(connection.ok(), "{}", connection.status().ToString());
    return *connection;
  }

  io::Instant In(io::Duration duration) { return runtime_.Now() + duration; }

  TestRuntime runtime_;
  FakeBroker broker_;
};

wire::ClientMessageT MetadataRequest() { return wire::Message(0, wire::MetadataRequestT{}); }

TEST_F(ClientTest, HelloReportsTheNodeId) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    std::shared_ptr<Connection> connection = Open({"broker2", 9092});
    EXPECT_EQ(connection->node_id(), io::NodeId(2));
    EXPECT_EQ(connection->protocol_version(), 1);
    connection->Close();
  }));
}

class VersionMismatchTest : public ClientTest {
 protected:
  VersionMismatchTest() : ClientTest(FakeBrokerOptions{.version_min = 2, .version_max = 3}) {}
};

TEST_F(VersionMismatchTest, HelloWithNoCommonVersionIsAClearError) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    absl::StatusOr<std::shared_ptr<Connection>> connection =
        Connection::Open(runtime_, {"broker1", 9092}, "client-test", In(1s));
    ASSERT_FALSE(connection.ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(connection.status())) << connection.status();
    EXPECT_NE(connection.status().message().find("UnsupportedVersion"), std::string::npos)
        << connection.status();
    EXPECT_NE(connection.status().message().find("1..1"), std::string::npos);
  }));
}

TEST_F(ClientTest, PipelinedCallsCompleteOutOfOrder) {
  broker_.DelayRequests(wire::Body::MetadataRequest, 1, 100ms);
  std::vector<std::string> completed;
  ASSERT_TRUE(runtime_.RunFiber([&] {
    std::shared_ptr<Connection> connection = Open();
    io::Event slow_done(runtime_);
    runtime_.Spawn("slow", [&] {
      auto response = connection->Call(MetadataRequest(), In(1s));
      ASSERT_TRUE(response.ok()) << response.status();
      EXPECT_NE((*response)->body.AsMetadataResponse(), nullptr);
      completed.push_back("metadata");
      slow_done.Set();
    });
    runtime_.scheduler().Yield();  // The slow call is on the wire first.
    auto fast = connection->Call(wire::Message(0, wire::ReplicaStatusRequestT{}), In(1s));
    ASSERT_TRUE(fast.ok()) << fast.status();
    ASSERT_NE((*fast)->body.AsReplicaStatusResponse(), nullptr);
    EXPECT_EQ((*fast)->body.AsReplicaStatusResponse()->node_id, 1u);
    completed.push_back("replica-status");
    ASSERT_TRUE(slow_done.Wait(In(1s)).ok());
    EXPECT_EQ(connection->requests_in_flight(), 0u);
    connection->Close();
  }));
  EXPECT_EQ(completed, (std::vector<std::string>{"replica-status", "metadata"}));
}

TEST_F(ClientTest, DroppedConnectionFailsPendingCallsAndLaterCallsAtOnce) {
  broker_.DelayRequests(wire::Body::MetadataRequest, 2, 1s);
  int failed = 0;
  ASSERT_TRUE(runtime_.RunFiber([&] {
    std::shared_ptr<Connection> connection = Open();
    io::Event both(runtime_);
    for (int i = 0; i < 2; ++i) {
      runtime_.Spawn("pending", [&] {
        auto response = connection->Call(MetadataRequest(), In(5s));
        EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
        EXPECT_NE(response.status().message().find("closed the connection"), std::string::npos)
            << response.status();
        if (++failed == 2) both.Set();
      });
    }
    ASSERT_TRUE(runtime_.Sleep(10ms).ok());
    broker_.CloseAllConnections();
    ASSERT_TRUE(both.Wait(In(1s)).ok());
    EXPECT_TRUE(connection->closed());
    const io::Instant before = runtime_.Now();
    auto later = connection->Call(MetadataRequest(), In(5s));
    EXPECT_TRUE(absl::IsUnavailable(later.status()));
    EXPECT_EQ(runtime_.Now(), before);  // At once.
  }));
  EXPECT_EQ(failed, 2);
}

TEST_F(ClientTest, TimedOutCallReturnsDeadlineExceededAndItsLateResponseIsDropped) {
  broker_.DelayRequests(wire::Body::MetadataRequest, 1, 2s);
  ASSERT_TRUE(runtime_.RunFiber([&] {
    std::shared_ptr<Connection> connection = Open();
    auto timed_out = connection->Call(MetadataRequest(), In(100ms));
    EXPECT_TRUE(absl::IsDeadlineExceeded(timed_out.status())) << timed_out.status();
    EXPECT_EQ(connection->requests_in_flight(), 1u);  // Still owed by the node.
    ASSERT_TRUE(runtime_.Sleep(3s).ok());             // The late response arrives and is dropped.
    EXPECT_FALSE(connection->closed()) << connection->close_status();
    EXPECT_EQ(connection->requests_in_flight(), 0u);
    auto fine = connection->Call(MetadataRequest(), In(1s));
    EXPECT_TRUE(fine.ok()) << fine.status();
    connection->Close();
  }));
}

TEST_F(ClientTest, ClientReconnectsAfterTheNodeDropsTheConnection) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    ASSERT_TRUE(client.RefreshMetadata().ok());
    broker_.CloseAllConnections();
    absl::StatusOr<wire::MetadataResponseT> again = client.RefreshMetadata({"orders"});
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->topics.size(), 1u);
    EXPECT_GE(broker_.requests(wire::Body::HelloRequest), 2u);
    client.Close();
  }));
}

TEST_F(ClientTest, PartitionLeaderCallFollowsTheNotLeaderHint) {
  broker_.AdvertiseStaleLeader("orders", 1);
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    wire::ListOffsetsRequestT request;
    request.topic = "orders";
    request.partition = 1;
    request.spec = wire::OffsetSpec::Latest;
    auto response = client.CallPartitionLeader("orders", 1, wire::Message(0, request), In(5s));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_NE((*response)->body.AsListOffsetsResponse(), nullptr);
    EXPECT_EQ(broker_.not_leader_answers(), 1u);
    client.Close();
  }));
}

TEST_F(ClientTest, PartitionLeaderCallRetriesAcrossADroppedConnection) {
  broker_.DropConnectionInsteadOfAnswering(wire::Body::ListOffsetsRequest, 1);
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    wire::ListOffsetsRequestT request;
    request.topic = "orders";
    request.partition = 2;
    auto response = client.CallPartitionLeader("orders", 2, wire::Message(0, request), In(5s));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_NE((*response)->body.AsListOffsetsResponse(), nullptr);
    EXPECT_EQ(broker_.requests(wire::Body::ListOffsetsRequest), 2u);
    client.Close();
  }));
}

TEST_F(ClientTest, UnknownTopicIsReturnedAfterOneRefresh) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    wire::ListOffsetsRequestT request;
    request.topic = "nope";
    auto response = client.CallPartitionLeader("nope", 0, wire::Message(0, request), In(5s));
    ASSERT_TRUE(response.ok()) << response.status();
    ASSERT_NE((*response)->body.AsErrorResponse(), nullptr);
    EXPECT_EQ((*response)->body.AsErrorResponse()->code, wire::ErrorCode::UnknownTopicOrPartition);
    client.Close();
  }));
}

TEST_F(ClientTest, UnreachableClusterEndsWithDeadlineExceeded) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options({"nowhere", 1}));
    auto response = client.CallAnyNode(MetadataRequest(), In(2s));
    EXPECT_TRUE(absl::IsDeadlineExceeded(response.status())) << response.status();
    EXPECT_NE(response.status().message().find("nowhere:1"), std::string::npos)
        << response.status();
    client.Close();
  }));
}

TEST_F(ClientTest, AdminOperationsGoToTheControllerAndCarryWireCodes) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options({"broker2", 9092}));  // Not the controller.
    absl::StatusOr<wire::TopicInfoT> created = client.CreateTopic("events", 3, 2);
    ASSERT_TRUE(created.ok()) << created.status();
    EXPECT_EQ(created->partitions.size(), 3u);
    absl::StatusOr<wire::TopicInfoT> again = client.CreateTopic("events", 3, 2);
    EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
    EXPECT_EQ(WireErrorCode(again.status()), wire::ErrorCode::TopicAlreadyExists);
    EXPECT_NE(again.status().message().find("TopicAlreadyExists"), std::string::npos);

    absl::StatusOr<wire::MetadataResponseT> all = client.ListTopics();
    ASSERT_TRUE(all.ok());
    EXPECT_EQ(all->topics.size(), 2u);
    absl::StatusOr<wire::TopicInfoT> described = client.DescribeTopic("events");
    ASSERT_TRUE(described.ok());
    EXPECT_EQ(described->partitions[1]->leader, 2u);

    ASSERT_TRUE(client.DeleteTopic("events").ok());
    absl::StatusOr<wire::TopicInfoT> gone = client.DescribeTopic("events");
    EXPECT_TRUE(absl::IsNotFound(gone.status()));
    EXPECT_EQ(WireErrorCode(gone.status()), wire::ErrorCode::UnknownTopicOrPartition);

    absl::StatusOr<wire::InitProducerIdResponseT> producer = client.InitProducerId(0);
    ASSERT_TRUE(producer.ok()) << producer.status();
    absl::StatusOr<wire::InitProducerIdResponseT> bumped =
        client.InitProducerId(producer->producer_id);
    ASSERT_TRUE(bumped.ok());
    EXPECT_EQ(bumped->producer_epoch, producer->producer_epoch + 1);

    absl::StatusOr<wire::ReplicaStatusResponseT> status = client.ReplicaStatus(io::NodeId(2));
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_EQ(status->node_id, 2u);
    EXPECT_EQ(client.controller_leader(), io::NodeId(1));
    client.Close();
  }));
}

TEST(StatusFromError, KeepsTheWireCodeAndTheLeaderHint) {
  wire::ErrorResponseT error;
  error.code = wire::ErrorCode::NotLeader;
  error.message = "moved";
  error.leader = 3;
  absl::Status status = StatusFromError(error);
  EXPECT_TRUE(absl::IsUnavailable(status));
  EXPECT_EQ(status.message(), "NotLeader: moved (leader: n3)");
  EXPECT_EQ(WireErrorCode(status), wire::ErrorCode::NotLeader);
  EXPECT_EQ(WireErrorCode(absl::UnavailableError("plain")), std::nullopt);
}

}  // namespace
}  // namespace meridian::core::client
