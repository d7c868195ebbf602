// meridian-node: the production server process. It parses and checks its flags, opens the
// io/posix reactor, starts a core::broker::Broker (the metadata replica, the partition replicas
// the metadata assigns here, peer dispatch), hands every accepted client connection to the
// broker, serves Prometheus metrics over HTTP, and stops cleanly on SIGTERM or SIGINT. All
// request logic is in core/broker; this file only wires objects together.
//
// Exit codes: 0 after a clean stop; 2 for a bad flag (one line says which and why); 1 when the
// environment refuses (data directory unusable, a port taken, the disk failing at start); 3 when
// a replica fail-stopped while running (its disk returned an error: restart the node).
#include <fmt/format.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "core/broker/broker.h"
#include "core/kafka/session.h"
#include "io/assert.h"
#include "io/command_line.h"
#include "io/posix/allocator.h"
#include "io/posix/posix_runtime.h"
#include "io/posix/tls.h"
#include "node/limit_flags.h"
#include "node/metrics_http.h"
#include "node/structured_log.h"

ABSL_FLAG(uint32_t, node_id, 0, "This node's id (>= 1, unique in the cluster). Required.");
ABSL_FLAG(std::string, data_dir, "",
          "Directory for this node's data (created if missing). Required.");
ABSL_FLAG(std::string, listen, "127.0.0.1:9092", "Client address ip:port.");
ABSL_FLAG(std::string, advertise, "",
          "Client address other nodes and clients use to reach this node (default: --listen).");
ABSL_FLAG(std::string, peer_listen, "", "Peer link address ip:port (required with --peers).");
ABSL_FLAG(std::vector<std::string>, peers, {},
          "The other nodes of the cluster as id=ip:port (their --peer_listen), comma-separated. "
          "Every node of the cluster is a controller voter; empty: a one-node cluster.");
ABSL_FLAG(std::string, region, "local",
          "This node's region (placement spreads replicas over regions).");
ABSL_FLAG(std::string, zone, "local", "This node's zone within its region.");
ABSL_FLAG(std::string, kafka_listen, "",
          "Kafka protocol listener ip:port (empty: none). Kafka clients (kcat, librdkafka, "
          "confluent-kafka) use it unchanged; docs/kafka.md.");
ABSL_FLAG(std::string, kafka_advertise, "",
          "Kafka address that Metadata responses give for this node (default: --kafka_listen).");
ABSL_FLAG(std::string, metrics_listen, "", "Metrics HTTP address ip:port (empty: none).");
ABSL_FLAG(int64_t, raft_tick_ms, 50, "Raft tick (election timeout = 10 ticks, heartbeat = 2).");
ABSL_FLAG(bool, quiesce_idle_partitions, true,
          "Partition groups idle for an election timeout stop heartbeating and ticking; nodes "
          "then exchange one liveness message per pair per heartbeat (core/broker/README.md "
          "\"Quiet partitions\"). Every node of a cluster should use the same setting.");
ABSL_FLAG(uint64_t, segment_bytes, 64ull << 20,
          "Partition log segment size; retention deletes whole segments (4096..1 GiB).");
ABSL_FLAG(bool, node_wide_log, true,
          "Every partition of this node writes through one write-ahead log (<data_dir>/wal) and "
          "keeps its durable mark in one table (<data_dir>/marks): two fsyncs per round for the "
          "node instead of two per partition (docs/design-notes.md \"The node-wide log\"). "
          "=false: a log and a durable mark per partition, each synced on its own. A node may "
          "turn it on at any restart; once on, it refuses to start with it off.");
ABSL_FLAG(uint64_t, raft_entry_cache_bytes, meridian::core::raft::kEntryCacheBytesMaxDefault,
          "Per raft group: bytes of applied, durable entries kept in memory for followers a little "
          "behind; older entries are read back from the log (0..1 GiB).");
ABSL_FLAG(int64_t, retention_check_ms, 5000,
          "How often each partition's retention is evaluated (>= 10).");
ABSL_FLAG(int64_t, promotion_delay_ms, 30000,
          "Regional topics: the controller leader promotes an observer after this long without "
          "a voter renewing its data lease (0: only by 'meridian topic promote').");
ABSL_FLAG(int64_t, leader_balance_delay_ms, 10000,
          "A partition's leader hands leadership back to its preferred leader (the first replica "
          "'meridian topic describe' lists) once that replica has been in sync this long (0: "
          "never).");
ABSL_FLAG(int64_t, replica_replacement_delay_ms, 900000,
          "The controller leader moves the replicas of a node it has not heard from for this long "
          "onto live nodes its topics' modes allow, at most 4 partitions moving at once (0: "
          "never; otherwise at least 5000: a node silent for less is more likely "
          "paused than lost).");
ABSL_FLAG(int64_t, replica_balance_delay_ms, 300000,
          "A node live this long that holds two replicas or more fewer than the most loaded live "
          "node takes one from it (one partition moving at a time, cluster-wide), so new and "
          "returning nodes fill up (0: never; otherwise at least 5000).");
ABSL_FLAG(int64_t, region_failback_delay_ms, 600000,
          "Regional topics: once every node a topic's home region needs has been live this long, "
          "the controller leader moves the partitions a failover promoted to another region back "
          "home, by reassignments that lose nothing (0: never, an operator does it with "
          "'meridian topic alter --consistency=regional'; otherwise at least 5000).");
ABSL_FLAG(int64_t, regional_lease_ms, 10000,
          "Regional topics: how long a confirmation from the controller lets a node serve its "
          "replicas; must leave the promotion delay room for clock drift and an election.");
ABSL_FLAG(uint64_t, metadata_snapshot_entries, 4096,
          "Metadata entries between compactions of the metadata group (>= 1).");
ABSL_FLAG(uint64_t, offsets_snapshot_entries, 4096,
          "Entries of a __consumer_offsets partition between compactions behind a snapshot of "
          "its consumer groups (>= 1).");
ABSL_FLAG(std::string, log_level, "info",
          "Least severe log event written to stderr: debug, info, warn or error.");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the cluster's CA: every peer (and, with --client_tls=mutual, every client) "
          "certificate must chain to it. `meridian certs` makes one.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate of this node; its CN must be node-<node_id>.<cluster_id>.meridian.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, cluster_id, "",
          "The cluster's id (a-z, 0-9, '-'; at most 64): in every peer hello and every node "
          "certificate. Required with TLS; optional with --insecure_plaintext.");
ABSL_FLAG(bool, insecure_plaintext, false,
          "Run peer links (and the client port) without TLS: ANYONE WHO REACHES THE PEER PORT CAN "
          "SEND RAFT MESSAGES IN ANY NODE'S NAME. Without TLS flags the node refuses to start "
          "unless this is set.");
ABSL_FLAG(std::string, client_tls, "off",
          "The client port (--listen): off (plaintext), tls (encrypted, the server proves it is "
          "a node of the cluster) or mutual (clients must also present a certificate of the "
          "CA). Needs the TLS flags. Every node of a cluster must use the same value.");
ABSL_FLAG(std::string, kafka_tls, "off",
          "The Kafka listener (--kafka_listen): off (plaintext), tls (encrypted with this node's "
          "certificate) or mutual (Kafka clients must present a certificate of the CA; its CN "
          "is the principal --acl_file rules name). Needs the TLS flags.");
ABSL_FLAG(std::string, acl_file, "",
          "Per-principal ACLs on topics (core/broker/acl.h): lines of PRINCIPAL TOPIC "
          "OPERATIONS. Given: every request is checked and what no rule allows is refused "
          "(NotAuthorized). Empty: no ACLs. Principals are client certificate CNs under "
          "--client_tls=mutual, else 'anonymous'. Read at start; the same file on every node.");
ABSL_FLAG(bool, unsafe_ack_before_fsync_for_tests, false,
          "TESTS ONLY, LOSES ACKNOWLEDGED DATA: partition logs count a write durable when its "
          "fsync starts, so a record can be acknowledged before any disk holds it and a power "
          "cut loses it (tests/jepsen proves that it does). Never set in production.");

namespace meridian::node {
namespace {

// meridian-node's exit code when a replica fail-stops while running (the header lists all).
constexpr int kExitReplicaFailed = 3;

using io::posix::PosixRuntime;

// The client port's TLS (--client_tls); a null context means plaintext.
struct ClientTls {
  std::shared_ptr<io::posix::TlsContext> context;
  io::posix::ClientCertificate client_certificate = io::posix::ClientCertificate::kNotRequested;
  std::string cluster_id;  // A client certificate naming a node of this cluster is that node.
};

absl::StatusOr<io::Address> ParseIpAddress(std::string_view flag, const std::string& text) {
  absl::StatusOr<io::Address> address = io::ParseAddress(text);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("--{}: {}", flag, std::string(address.status().message())));
  }
  if (address->host != "localhost" &&
      address->host.find_first_not_of("0123456789.") != std::string::npos) {
    return absl::InvalidArgumentError(fmt::format(
        "--{}: '{}' is not an IPv4 address (host names are not resolved)", flag, address->host));
  }
  return address;
}

absl::Status CheckDataDir(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("--data_dir is required");
  struct stat info {};
  if (stat(dir.c_str(), &info) == 0 && !S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(
        fmt::format("--data_dir {} exists and is not a directory", dir));
  }
  return absl::OkStatus();
}

absl::StatusOr<io::posix::PosixOptions> OptionsFromFlags() {
  io::posix::PosixOptions options;
  if (absl::GetFlag(FLAGS_node_id) == 0)
    return absl::InvalidArgumentError("--node_id is required and must be >= 1");
  options.node = io::NodeId(absl::GetFlag(FLAGS_node_id));
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  if (absl::Status s = CheckDataDir(options.data_dir); !s.ok()) return s;
  if (absl::GetFlag(FLAGS_raft_tick_ms) <= 0 || absl::GetFlag(FLAGS_raft_tick_ms) > 10'000) {
    return absl::InvalidArgumentError("--raft_tick_ms must be 1 to 10000");
  }
  const std::vector<std::string> peers = absl::GetFlag(FLAGS_peers);
  if (!peers.empty() && absl::GetFlag(FLAGS_peer_listen).empty()) {
    return absl::InvalidArgumentError(
        "--peers needs --peer_listen (where the peers reach this node)");
  }
  if (!absl::GetFlag(FLAGS_peer_listen).empty()) {
    absl::StatusOr<io::Address> address =
        ParseIpAddress("peer_listen", absl::GetFlag(FLAGS_peer_listen));
    if (!address.ok()) return address.status();
    options.peer_listen = *address;
  }
  for (const std::string& peer : peers) {
    const size_t equals = peer.find('=');
    uint32_t id = 0;
    if (equals == std::string::npos || !absl::SimpleAtoi(peer.substr(0, equals), &id) || id == 0) {
      return absl::InvalidArgumentError(fmt::format("--peers entry '{}' is not id=ip:port", peer));
    }
    if (io::NodeId(id) == options.node) {
      return absl::InvalidArgumentError(fmt::format("--peers lists this node's own id {}", id));
    }
    if (options.peers.contains(io::NodeId(id))) {
      return absl::InvalidArgumentError(fmt::format("--peers lists node {} twice", id));
    }
    absl::StatusOr<io::Address> address = ParseIpAddress("peers", peer.substr(equals + 1));
    if (!address.ok()) return address.status();
    options.peers[io::NodeId(id)] = *address;
  }
  return options;
}

// --insecure_plaintext: the explicit choice of unauthenticated peer links; no TLS flag with it.
absl::Status PlaintextFromFlags(io::posix::PosixOptions& options) {
  for (const auto& [flag, value] : {std::pair{"tls_ca", absl::GetFlag(FLAGS_tls_ca)},
                                    std::pair{"tls_cert", absl::GetFlag(FLAGS_tls_cert)},
                                    std::pair{"tls_key", absl::GetFlag(FLAGS_tls_key)}}) {
    if (!value.empty()) {
      return absl::InvalidArgumentError(
          fmt::format("--insecure_plaintext and --{} contradict each other: choose one", flag));
    }
  }
  if (absl::GetFlag(FLAGS_client_tls) != "off") {
    return absl::InvalidArgumentError("--client_tls needs TLS flags, not --insecure_plaintext");
  }
  if (absl::GetFlag(FLAGS_kafka_tls) != "off") {
    return absl::InvalidArgumentError("--kafka_tls needs TLS flags, not --insecure_plaintext");
  }
  options.security.cluster_id = absl::GetFlag(FLAGS_cluster_id);
  if (!options.security.cluster_id.empty()) {
    if (absl::Status s = io::posix::CheckClusterId(options.security.cluster_id); !s.ok()) {
      return absl::InvalidArgumentError("--cluster_id: " + std::string(s.message()));
    }
  }
  fmt::print(stderr,
             "meridian-node: WARNING: --insecure_plaintext: peer links are not authenticated; "
             "anyone who reaches --peer_listen can speak for any node\n");
  return absl::OkStatus();
}

// --tls_ca/--tls_cert/--tls_key/--cluster_id (or --insecure_plaintext): how peer links and the
// client port are secured. Plain mode is never the silent default.
absl::StatusOr<ClientTls> SecurityFromFlags(io::posix::PosixOptions& options) {
  if (absl::GetFlag(FLAGS_insecure_plaintext)) {
    if (absl::Status s = PlaintextFromFlags(options); !s.ok()) return s;
    return ClientTls{};
  }
  const io::posix::TlsFiles files{.ca_file = absl::GetFlag(FLAGS_tls_ca),
                                  .cert_file = absl::GetFlag(FLAGS_tls_cert),
                                  .key_file = absl::GetFlag(FLAGS_tls_key)};
  const std::string cluster_id = absl::GetFlag(FLAGS_cluster_id);
  if (files.ca_file.empty() || files.cert_file.empty() || files.key_file.empty() ||
      cluster_id.empty()) {
    return absl::InvalidArgumentError(
        "peer links need TLS: give --tls_ca, --tls_cert, --tls_key and --cluster_id (`meridian "
        "certs` makes them), or --insecure_plaintext to run unauthenticated");
  }
  if (absl::Status s = io::posix::CheckClusterId(cluster_id); !s.ok()) {
    return absl::InvalidArgumentError("--cluster_id: " + std::string(s.message()));
  }
  absl::StatusOr<std::shared_ptr<io::posix::TlsContext>> context =
      io::posix::TlsContext::Create(files);
  if (!context.ok()) return absl::InvalidArgumentError("TLS: " + context.status().ToString());
  const std::string expected = io::posix::NodeCertificateName(options.node, cluster_id);
  if ((*context)->common_name() != expected) {
    return absl::InvalidArgumentError(
        fmt::format("--tls_cert names '{}', but this node is '{}' (--node_id, --cluster_id)",
                    (*context)->common_name(), expected));
  }
  options.security = {.peer_tls = *context, .cluster_id = cluster_id};
  const std::string mode = absl::GetFlag(FLAGS_client_tls);
  if (mode == "off") return ClientTls{};
  if (mode != "tls" && mode != "mutual") {
    return absl::InvalidArgumentError("--client_tls must be off, tls or mutual");
  }
  // The broker's own client connections (forwarding to a leader) speak the cluster's client TLS.
  options.security.client_tls = *context;
  return ClientTls{.context = *context,
                   .client_certificate = mode == "mutual"
                                             ? io::posix::ClientCertificate::kRequired
                                             : io::posix::ClientCertificate::kNotRequested,
                   .cluster_id = cluster_id};
}

// --kafka_tls: the Kafka listener's TLS, with the node's own certificate (SecurityFromFlags
// loaded it into options.security.peer_tls).
absl::StatusOr<ClientTls> KafkaTlsFromFlags(const io::posix::PosixOptions& options) {
  const std::string mode = absl::GetFlag(FLAGS_kafka_tls);
  if (mode == "off") return ClientTls{};
  if (mode != "tls" && mode != "mutual") {
    return absl::InvalidArgumentError("--kafka_tls must be off, tls or mutual");
  }
  if (absl::GetFlag(FLAGS_kafka_listen).empty()) {
    return absl::InvalidArgumentError("--kafka_tls needs --kafka_listen");
  }
  MERIDIAN_CHECK(options.security.peer_tls != nullptr, "TLS flags were checked first");
  return ClientTls{.context = options.security.peer_tls,
                   .client_certificate = mode == "mutual"
                                             ? io::posix::ClientCertificate::kRequired
                                             : io::posix::ClientCertificate::kNotRequested,
                   .cluster_id = options.security.cluster_id};
}

// --acl_file: the rules, or null without the flag.
absl::StatusOr<std::shared_ptr<const core::broker::AccessControl>> AclFromFlags() {
  const std::string path = absl::GetFlag(FLAGS_acl_file);
  if (path.empty()) return nullptr;
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  if (!file) return absl::InvalidArgumentError(fmt::format("--acl_file {}: cannot read", path));
  absl::StatusOr<core::broker::AccessControl> acl = core::broker::AccessControl::Parse(text.str());
  if (!acl.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("--acl_file {}: {}", path, std::string(acl.status().message())));
  }
  return std::make_shared<const core::broker::AccessControl>(*std::move(acl));
}

// Who a client connection speaks for: its certificate's CN under mutual TLS (a node of this
// cluster if it is that cluster's node certificate), else anonymous.
core::broker::Principal PrincipalOf(io::Stream& connection, const std::string& cluster_id) {
  auto* tls = dynamic_cast<io::posix::TlsStream*>(&connection);
  if (tls == nullptr || tls->peer_common_name().empty()) return {};
  const std::optional<io::posix::NodeCertificateIdentity> node =
      io::posix::ParseNodeCertificateName(tls->peer_common_name());
  return {.name = tls->peer_common_name(),
          .cluster_node = node.has_value() && node->cluster_id == cluster_id};
}

// --kafka_listen and --kafka_advertise: the address Kafka clients are told to use.
absl::Status KafkaAddressFromFlags(core::broker::BrokerOptions& options) {
  if (absl::GetFlag(FLAGS_kafka_listen).empty()) {
    if (!absl::GetFlag(FLAGS_kafka_advertise).empty()) {
      return absl::InvalidArgumentError("--kafka_advertise needs --kafka_listen");
    }
    return absl::OkStatus();
  }
  absl::StatusOr<io::Address> listen =
      ParseIpAddress("kafka_listen", absl::GetFlag(FLAGS_kafka_listen));
  if (!listen.ok()) return listen.status();
  io::Address advertised = *listen;
  if (!absl::GetFlag(FLAGS_kafka_advertise).empty()) {
    absl::StatusOr<io::Address> flag =
        ParseIpAddress("kafka_advertise", absl::GetFlag(FLAGS_kafka_advertise));
    if (!flag.ok()) return flag.status();
    advertised = *flag;
  }
  if (advertised.port == 0) {
    return absl::InvalidArgumentError("--kafka_listen port 0 needs an explicit --kafka_advertise");
  }
  options.kafka_advertised = advertised.ToString();
  return absl::OkStatus();
}

// Promotion, leases, leader placement and replica replacement: the delays of failover.
absl::Status FailoverTimingFromFlags(core::broker::BrokerOptions& options) {
  if (absl::GetFlag(FLAGS_promotion_delay_ms) < 0 || absl::GetFlag(FLAGS_regional_lease_ms) < 1) {
    return absl::InvalidArgumentError("--promotion_delay_ms >= 0 and --regional_lease_ms >= 1");
  }
  // Broker::Start checks how the two relate (and says how in its error).
  options.promotion_delay = std::chrono::milliseconds(absl::GetFlag(FLAGS_promotion_delay_ms));
  options.regional_lease = std::chrono::milliseconds(absl::GetFlag(FLAGS_regional_lease_ms));
  if (absl::GetFlag(FLAGS_leader_balance_delay_ms) < 0) {
    return absl::InvalidArgumentError("--leader_balance_delay_ms must be >= 0");
  }
  options.leader_balance_delay =
      std::chrono::milliseconds(absl::GetFlag(FLAGS_leader_balance_delay_ms));
  for (auto [flag, value, into] :
       {std::tuple("replica_replacement_delay_ms",
                   absl::GetFlag(FLAGS_replica_replacement_delay_ms),
                   &options.replica_replacement_delay),
        std::tuple("replica_balance_delay_ms", absl::GetFlag(FLAGS_replica_balance_delay_ms),
                   &options.replica_balance_delay),
        std::tuple("region_failback_delay_ms", absl::GetFlag(FLAGS_region_failback_delay_ms),
                   &options.region_failback_delay)}) {
    // A node silent for less than a few seconds is more likely paused than lost.
    if (value != 0 && value < 5000) {
      return absl::InvalidArgumentError(
          fmt::format("--{} must be 0 (never) or at least 5000; got {}", flag, value));
    }
    *into = std::chrono::milliseconds(value);
  }
  return absl::OkStatus();
}

absl::StatusOr<core::broker::BrokerOptions> BrokerOptionsFromFlags(
    const io::posix::PosixOptions& posix, const io::Address& client) {
  core::broker::BrokerOptions options;
  options.node_id = posix.node.value();
  options.region = absl::GetFlag(FLAGS_region);
  options.zone = absl::GetFlag(FLAGS_zone);
  if (options.region.empty() || options.zone.empty()) {
    return absl::InvalidArgumentError("--region and --zone must not be empty");
  }
  options.advertised = client;
  if (!absl::GetFlag(FLAGS_advertise).empty()) {
    absl::StatusOr<io::Address> advertised =
        ParseIpAddress("advertise", absl::GetFlag(FLAGS_advertise));
    if (!advertised.ok()) return advertised.status();
    options.advertised = *advertised;
  }
  if (options.advertised.port == 0) {
    return absl::InvalidArgumentError("--listen port 0 needs an explicit --advertise");
  }
  if (absl::Status s = KafkaAddressFromFlags(options); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<const core::broker::AccessControl>> acl = AclFromFlags();
  if (!acl.ok()) return acl.status();
  options.acl = *std::move(acl);
  options.controller_voters.push_back(posix.node.value());
  for (const auto& [peer, address] : posix.peers) options.controller_voters.push_back(peer.value());
  options.tick = std::chrono::milliseconds(absl::GetFlag(FLAGS_raft_tick_ms));
  options.quiesce_idle_partitions = absl::GetFlag(FLAGS_quiesce_idle_partitions);
  options.segment_bytes = absl::GetFlag(FLAGS_segment_bytes);
  options.node_wide_log = absl::GetFlag(FLAGS_node_wide_log);
  if (options.segment_bytes < 4096 || options.segment_bytes > (uint64_t{1} << 30)) {
    return absl::InvalidArgumentError("--segment_bytes must be in 4096..1073741824");
  }
  options.raft.entry_cache_bytes_max = absl::GetFlag(FLAGS_raft_entry_cache_bytes);
  if (options.raft.entry_cache_bytes_max > (uint64_t{1} << 30)) {
    return absl::InvalidArgumentError("--raft_entry_cache_bytes must be in 0..1073741824");
  }
  if (absl::GetFlag(FLAGS_retention_check_ms) < 10) {
    return absl::InvalidArgumentError("--retention_check_ms must be at least 10");
  }
  options.retention_check_interval =
      std::chrono::milliseconds(absl::GetFlag(FLAGS_retention_check_ms));
  options.metadata_snapshot_entries = absl::GetFlag(FLAGS_metadata_snapshot_entries);
  options.offsets_snapshot_entries = absl::GetFlag(FLAGS_offsets_snapshot_entries);
  if (absl::Status s = FailoverTimingFromFlags(options); !s.ok()) return s;
  options.planted.ack_before_fsync = absl::GetFlag(FLAGS_unsafe_ack_before_fsync_for_tests);
  if (absl::Status s = LimitsFromFlags(&options.limits); !s.ok()) return s;
  if (options.planted.ack_before_fsync) {
    fmt::print(stderr,
               "meridian-node: WARNING: --unsafe_ack_before_fsync_for_tests is set: acknowledged "
               "records can be lost on a power cut\n");
  }
  if (options.metadata_snapshot_entries == 0) {
    return absl::InvalidArgumentError("--metadata_snapshot_entries must be at least 1");
  }
  if (options.offsets_snapshot_entries == 0) {
    return absl::InvalidArgumentError("--offsets_snapshot_entries must be at least 1");
  }
  return options;
}

sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

// SIGTERM/SIGINT arrive on a signalfd watched by the reactor, so shutdown is an ordinary event.
// They must be blocked in every thread (see Main) or the default action would kill the process.
absl::Status StopOnSignals(PosixRuntime& rt, const Logger& log) {
  const sigset_t signals = StopSignals();
  const int fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return absl::InternalError("signalfd");
  rt.Spawn("signals", [&rt, &log, fd] {
    std::unique_ptr<io::posix::FdWatch> watch = rt.Watch(fd);
    while (true) {
      signalfd_siginfo info{};
      if (read(fd, &info, sizeof(info)) == sizeof(info)) {
        log.Log(LogLevel::kInfo, "stopping", {{"signal", std::to_string(info.ssi_signo)}});
        break;
      }
      watch->readable = false;
      if (!rt.WaitReady(*watch, io::posix::Readiness::kReadable, io::Instant::Infinite()).ok()) {
        break;
      }
    }
    rt.Unwatch(*watch);
    close(fd);
    rt.Stop();
  });
  return absl::OkStatus();
}

// Hands every connection `listener` accepts to `serve`, each on its own fiber; with `tls`, as a
// TLS stream whose handshake runs on that fiber (a slow handshake never stalls accepting).
void AcceptLoop(PosixRuntime& rt, std::shared_ptr<io::Listener> listener, std::string name,
                std::function<void(std::shared_ptr<io::Stream>)> serve, const Logger& log,
                ClientTls tls = {}) {
  rt.Spawn(name + "-accept", [&rt, listener, name, serve, &log, tls] {
    while (true) {
      absl::StatusOr<std::unique_ptr<io::Stream>> stream =
          listener->Accept(io::Instant::Infinite());
      if (!stream.ok()) {
        if (absl::IsCancelled(stream.status())) return;
        // Out of descriptors or a transient error: keep accepting after a pause.
        log.Log(LogLevel::kWarn, "accept_failed",
                {{"listener", name}, {"error", stream.status().ToString()}, {"retry_ms", "100"}});
        (void)rt.Sleep(std::chrono::milliseconds(100));
        continue;
      }
      std::unique_ptr<io::Stream> accepted = std::move(*stream);
      if (tls.context != nullptr) {
        accepted = tls.context->Wrap(rt, std::move(accepted), io::posix::TlsRole::kServer,
                                     tls.client_certificate);
      }
      std::shared_ptr<io::Stream> connection(std::move(accepted));
      log.Log(LogLevel::kDebug, name + "_connected", {{"peer", connection->peer()}});
      rt.Spawn(name, [serve, connection] { serve(connection); });
    }
  });
}

// Finishes a client's TLS handshake (a no-op on plaintext); false (logged, counted) on failure.
bool ClientHandshake(PosixRuntime& rt, io::Stream& connection, NodeMetrics& metrics,
                     const Logger& log) {
  auto* tls = dynamic_cast<io::posix::TlsStream*>(&connection);
  if (tls == nullptr) return true;
  absl::Status handshake = tls->Handshake(rt.Now() + io::posix::TlsContext::kHandshakeTimeout);
  if (handshake.ok()) return true;
  metrics.client_tls_handshake_failures_total++;
  log.Log(LogLevel::kWarn, "client_tls_refused",
          {{"peer", connection.peer()}, {"error", handshake.ToString()}});
  return false;
}

// Hands every accepted client connection to the broker, and every Kafka connection to
// core/kafka (which translates it onto the same broker).
void AcceptClients(PosixRuntime& rt, std::shared_ptr<io::Listener> listener,
                   std::shared_ptr<io::Listener> kafka_listener, core::broker::Broker* broker,
                   NodeMetrics& metrics, const Logger& log, const ClientTls& tls,
                   const ClientTls& kafka_tls) {
  AcceptLoop(
      rt, listener, "client",
      [&rt, broker, &metrics, &log,
       cluster_id = tls.cluster_id](std::shared_ptr<io::Stream> connection) {
        metrics.client_connections_total++;
        if (!ClientHandshake(rt, *connection, metrics, log)) return;
        core::broker::Principal principal = PrincipalOf(*connection, cluster_id);
        broker->ServeConnection(std::move(connection), std::move(principal));
      },
      log, tls);
  if (!kafka_listener) return;
  AcceptLoop(
      rt, kafka_listener, "kafka",
      [&rt, broker, &metrics, &log,
       cluster_id = kafka_tls.cluster_id](std::shared_ptr<io::Stream> connection) {
        if (!ClientHandshake(rt, *connection, metrics, log)) return;
        core::broker::Principal principal = PrincipalOf(*connection, cluster_id);
        core::kafka::ServeKafkaConnection(*broker, rt, std::move(connection), nullptr,
                                          std::move(principal));
      },
      log, kafka_tls);
}

// Binds the client listener and, with --kafka_listen, the Kafka one.
absl::Status BindListeners(PosixRuntime& rt, const io::Address& client_address,
                           std::shared_ptr<io::Listener>& clients,
                           std::shared_ptr<io::Listener>& kafka) {
  absl::StatusOr<std::unique_ptr<io::Listener>> bound = rt.network().Listen(client_address);
  if (!bound.ok()) {
    return absl::UnavailableError(fmt::format("cannot listen for clients on {}: {}",
                                              client_address.ToString(),
                                              bound.status().ToString()));
  }
  clients = std::move(*bound);
  if (absl::GetFlag(FLAGS_kafka_listen).empty()) return absl::OkStatus();
  // Checked by KafkaAddressFromFlags already.
  const io::Address address = *io::ParseAddress(absl::GetFlag(FLAGS_kafka_listen));
  bound = rt.network().Listen(address);
  if (!bound.ok()) {
    return absl::UnavailableError(fmt::format("cannot listen for Kafka clients on {}: {}",
                                              address.ToString(), bound.status().ToString()));
  }
  kafka = std::move(*bound);
  return absl::OkStatus();
}

// Runs the node until a stop signal; returns the exit code.
// The broker's operational lines go to the structured log; a replica's fail-stop ends the
// process (exit code 3).
void RouteBrokerEvents(const Logger& log, core::broker::BrokerOptions& options) {
  options.log = [&log](std::string_view text) {
    log.Log(LogLevel::kWarn, "broker", {{"msg", std::string(text)}});
  };
  // A replica whose disk failed (EIO) cannot trust what the page cache holds: the node stops at
  // once, without a clean shutdown that would write more, and a supervisor restarts it; recovery
  // then reads only what is durable (crash safety is what kill -9 already relies on).
  options.on_replica_failed = [&log](uint64_t group, const absl::Status& why) {
    log.Log(LogLevel::kError, "replica_failed",
            {{"group", std::to_string(group)},
             {"error", why.ToString()},
             {"action", fmt::format("exiting with code {} so a supervisor restarts the node",
                                    kExitReplicaFailed)}});
    std::_Exit(kExitReplicaFailed);
  };
}

int Serve(const io::posix::PosixOptions& options, const io::Address& client_address,
          core::broker::BrokerOptions broker_options, const ClientTls& client_tls,
          const ClientTls& kafka_tls, const Logger& log) {
  absl::StatusOr<std::unique_ptr<PosixRuntime>> runtime = PosixRuntime::Create(options);
  if (!runtime.ok()) {
    log.Log(LogLevel::kError, "start_failed", {{"error", runtime.status().ToString()}});
    return 1;
  }
  PosixRuntime& rt = **runtime;
  NodeMetrics metrics{.started_at = rt.Now(),
                      .region = broker_options.region,
                      .zone = broker_options.zone,
                      .data_dir = options.data_dir};
  // Bind every listener before anything starts, so a taken port fails the start, not later.
  std::shared_ptr<io::Listener> client_listener, kafka_listener;
  if (absl::Status s = BindListeners(rt, client_address, client_listener, kafka_listener);
      !s.ok()) {
    log.Log(LogLevel::kError, "start_failed", {{"error", std::string(s.message())}});
    return 1;
  }
  absl::Status started = StopOnSignals(rt, log);
  if (started.ok() && !absl::GetFlag(FLAGS_metrics_listen).empty()) {
    absl::StatusOr<io::Address> address =
        ParseIpAddress("metrics_listen", absl::GetFlag(FLAGS_metrics_listen));
    started = address.ok() ? ServeMetrics(rt, *address, metrics, log) : address.status();
  }
  if (!started.ok()) {
    log.Log(LogLevel::kError, "start_failed", {{"error", started.ToString()}});
    return 1;
  }
  RouteBrokerEvents(log, broker_options);
  std::unique_ptr<core::broker::Broker> broker;
  int exit_code = 0;
  // The broker recovers its replicas from disk, which suspends: start it on the reactor.
  rt.Spawn("broker-start", [&] {
    absl::StatusOr<std::unique_ptr<core::broker::Broker>> started_broker =
        core::broker::Broker::Start(rt, broker_options);
    if (!started_broker.ok()) {
      log.Log(LogLevel::kError, "broker_start_failed",
              {{"error", started_broker.status().ToString()}});
      exit_code = 1;
      rt.Stop();
      return;
    }
    broker = std::move(*started_broker);
    metrics.broker = broker.get();
    AcceptClients(rt, client_listener, kafka_listener, broker.get(), metrics, log, client_tls,
                  kafka_tls);
    log.Log(LogLevel::kInfo, "up",
            {{"clients", client_listener->address().ToString()},
             {"peer_tls", options.security.peer_tls ? "mutual" : "off (--insecure_plaintext)"},
             {"client_tls", absl::GetFlag(FLAGS_client_tls)},
             {"kafka_tls", kafka_listener ? absl::GetFlag(FLAGS_kafka_tls) : "-"},
             {"data_dir", options.data_dir},
             {"controller_voters", std::to_string(broker_options.controller_voters.size())}});
  });
  rt.Run();
  log.Log(LogLevel::kInfo, "stopped", {{"exit_code", std::to_string(exit_code)}});
  client_listener->Close();
  if (kafka_listener) kafka_listener->Close();
  if (broker) broker->Stop();
  runtime->reset();  // Unwind every fiber while the broker and metrics they use still exist.
  return exit_code;
}

int Main() {
  absl::StatusOr<LogLevel> level = ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  absl::StatusOr<io::posix::PosixOptions> options =
      level.ok() ? OptionsFromFlags()
                 : absl::InvalidArgumentError(
                       fmt::format("--log_level: {}", std::string(level.status().message())));
  absl::StatusOr<io::Address> client_address =
      options.ok() ? ParseIpAddress("listen", absl::GetFlag(FLAGS_listen)) : options.status();
  absl::StatusOr<ClientTls> client_tls =
      client_address.ok() ? SecurityFromFlags(*options) : client_address.status();
  absl::StatusOr<ClientTls> kafka_tls =
      client_tls.ok() ? KafkaTlsFromFlags(*options) : client_tls.status();
  absl::StatusOr<core::broker::BrokerOptions> broker_options =
      kafka_tls.ok() ? BrokerOptionsFromFlags(*options, *client_address) : kafka_tls.status();
  if (!broker_options.ok()) {
    fmt::print(stderr, "meridian-node: {}\n", std::string(broker_options.status().message()));
    return 2;
  }
  const Logger log(options->node.value(), *level);
  // Block the stop signals before the runtime starts its helper thread, which inherits the mask.
  const sigset_t stop_signals = StopSignals();
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) {
    log.Log(LogLevel::kError, "start_failed", {{"error", "cannot block signals"}});
    return 1;
  }
  return Serve(*options, *client_address, *std::move(broker_options), *client_tls, *kafka_tls, log);
}

}  // namespace
}  // namespace meridian::node

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the Meridian server.\n\n  meridian-node --node_id=N --data_dir=DIR [--listen=ip:port] "
      "[--peer_listen=ip:port --peers=id=ip:port,...] [--region=R --zone=Z]\n"
      "    (--tls_ca=F --tls_cert=F --tls_key=F --cluster_id=ID [--client_tls=off|tls|mutual] "
      "[--kafka_tls=off|tls|mutual] | --insecure_plaintext)\n\n"
      "Exit codes: 0 clean stop, 1 environment error (data dir, port, disk), 2 bad flag, 3 a "
      "replica's disk failed while running (restart the node).");
  meridian::io::ParseCommandLineOrExit(argc, argv);
  // Before any large buffer exists (io/posix/allocator.h: page faults on every round otherwise).
  if (absl::Status s = meridian::io::posix::TuneAllocatorForLargeBuffers(); !s.ok()) {
    fmt::print(stderr, "meridian-node: warning: {} (large buffers cost page faults)\n",
               std::string(s.message()));
  }
  return meridian::node::Main();
}
