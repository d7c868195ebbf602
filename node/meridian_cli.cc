// meridian: the command-line tool for a Meridian cluster (topics, produce, consume, status).
//
// It is a thin shell over core/client: argv is parsed by hand (each subcommand has its own
// flags and --help text), then one fiber on an io/posix runtime runs the subcommand with a
// core::client::Client bootstrapped from --bootstrap. The runtime needs a data directory; the tool
// makes a private one (mkdtemp) and removes it at exit. Nothing here decides anything about the
// protocol: routing, retries and idempotence are the client library's.
//
// Errors are one line on stderr, "meridian <subcommand>: <what went wrong>".
// Exit codes: 0 ok; 1 operational failure (cluster error, records not acknowledged, interrupted);
// 2 usage error (unknown subcommand or flag, bad value). consume --follow stopped by Ctrl-C is 0.
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/client/client.h"
#include "core/client/consumer.h"
#include "core/client/errors.h"
#include "core/client/group_consumer.h"
#include "core/client/producer.h"
#include "core/cluster/metadata.h"
#include "io/posix/posix_runtime.h"
#include "node/cli_tls.h"

namespace meridian::node {
namespace {

using io::posix::PosixRuntime;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Longest input line `produce` accepts: a record must fit in one batch anyway.
constexpr size_t kLineBytesMax = core::wire::kBatchBytesMax;
constexpr size_t kReadChunkBytes = 64 << 10;
// Records produced but not yet seen resolved; beyond this the reader waits for deliveries.
constexpr size_t kDeliveriesPendingMax = 1 << 20;
// How long one cluster status question to one node may take: a dead node must not stall it.
constexpr io::Duration kReplicaStatusTimeout = std::chrono::seconds(3);
constexpr io::Duration kPollWait = std::chrono::milliseconds(500);

// ------------------------------------------------------------------------------------------
// Usage texts.

constexpr char kExitCodesText[] =
    "Exit codes: 0 ok, 1 operational failure (cluster error, records not acknowledged),\n"
    "2 usage error.\n";

constexpr char kGlobalFlagsText[] =
    "Global flags (anywhere on the command line):\n"
    "  --bootstrap=IP:PORT,...  nodes to ask first (default 127.0.0.1:9092)\n"
    "  --timeout=SECONDS        budget of each cluster operation (default 30)\n"
    "  --tls-ca=FILE            connect with TLS, trusting this CA (a node's --client_tls)\n"
    "  --tls-cert=FILE, --tls-key=FILE  client certificate and key (--client_tls=mutual)\n"
    "  -h, --help               usage of the tool or of a subcommand\n";

constexpr char kToolUsage[] =
    "meridian: command-line tool for a Meridian cluster.\n\n"
    "Usage: meridian [global flags] SUBCOMMAND [flags]\n\n"
    "Subcommands:\n"
    "  topic create NAME --partitions=N --replication-factor=R   create a topic\n"
    "  topic list                                                list topics\n"
    "  topic describe NAME                                       partitions, replicas, leaders\n"
    "  topic delete NAME                                         delete a topic\n"
    "  topic add-partitions NAME --total=N                       grow a topic to N partitions\n"
    "  topic alter NAME --retention-bytes=B | --retention-ms=MS  change a topic's retention\n"
    "  topic promote NAME --partition=P                          fail a regional partition over\n"
    "  topic reassign NAME --partition=P --replicas=IDS          move a partition's replicas\n"
    "  produce TOPIC                                             records from stdin, one a line\n"
    "  consume TOPIC                                             records to stdout, one a line\n"
    "  cluster status                                            nodes, leaders, replica lag\n"
    "  group list                                                consumer groups\n"
    "  group describe GROUP                                      members, offsets, lag\n"
    "  group reset-offsets GROUP --topic=T --to-...              move an idle group's offsets\n"
    "  group delete GROUP                                        delete an idle group\n"
    "  quota set --client=ID | --topic=NAME ...                  set or remove a quota\n"
    "  quota describe                                            quotas and node defaults\n"
    "  certs --dir=DIR --cluster-id=ID --nodes=1,2,3             a local CA and certificates\n\n"
    "'meridian SUBCOMMAND --help' describes each one.\n\n";

constexpr char kTopicCreateUsage[] =
    "Usage: meridian topic create NAME --partitions=N --replication-factor=R\n"
    "                             [--retention-bytes=B] [--retention-ms=MS]\n"
    "                             [--consistency=strong|regional|spread] [--home-region=R]\n"
    "                             [--observers-per-region=K | --observers-in=R=K,...]\n"
    "                             [--voters-in=R=N,...]\n\n"
    "Creates topic NAME with N partitions of R voting replicas each (R <= registered nodes).\n"
    "  --retention-bytes=B   keep at most about B bytes per partition (default 0: unlimited)\n"
    "  --retention-ms=MS     keep records for about MS milliseconds (default 0: unlimited)\n"
    "  --consistency=strong  voters spread over regions so that losing any one region loses\n"
    "                        no acknowledged record and writes continue (needs R >= 3 and\n"
    "                        3 regions for R = 3)\n"
    "  --consistency=regional  every voter in --home-region (fast writes inside one region);\n"
    "                        K observers (raft learners) in each other region replicate\n"
    "                        asynchronously and serve reads near their clients\n"
    "  (no --consistency)    strong if the cluster can place it, else regional in the region\n"
    "                        with the most nodes, one observer per other region, else spread\n"
    "                        over regions and zones with no region-loss guarantee\n"
    "  --consistency=spread  voters over regions and zones as widely as possible, no promise\n"
    "  --home-region=R       regional: where the voters live (default: the largest region);\n"
    "                        strong: the region every partition keeps a voter in and prefers\n"
    "                        as leader (put it where the producers are; default: leaders\n"
    "                        rotate over every region)\n"
    "  --observers-per-region=K  regional: observers in each other region (default 1)\n"
    "  --observers-in=us-west=2,eu-west=1  regional: exactly these observers per region, none\n"
    "                        elsewhere (instead of --observers-per-region)\n"
    "  --voters-in=us-east=2,eu-west=2,ap-south=1  strong or spread: exactly these voters per\n"
    "                        region, adding up to R (strong: at most what a region loss can\n"
    "                        spare in any, and the --home-region among them)\n"
    "A placement the live nodes cannot meet is refused, saying which region lacks what.\n";

constexpr char kTopicListUsage[] =
    "Usage: meridian topic list\n\n"
    "Lists every topic with its partition count and replication factor.\n";

constexpr char kTopicDescribeUsage[] =
    "Usage: meridian topic describe NAME\n\n"
    "Shows the topic's settings and, per partition, its replicas (preferred leader first) and\n"
    "its leader and term as the answering node knows them.\n";

constexpr char kTopicDeleteUsage[] =
    "Usage: meridian topic delete NAME\n\nDeletes topic NAME and its records.\n";

constexpr char kTopicAddPartitionsUsage[] =
    "Usage: meridian topic add-partitions NAME --total=N\n\n"
    "Grows topic NAME to N partitions (more than it has; at most 1024), placed like a new\n"
    "topic's. Existing records stay where they are; keyed records sent afterwards may go to\n"
    "a different partition than before (the partitioner is modulo the partition count).\n";

constexpr char kTopicAlterUsage[] =
    "Usage: meridian topic alter NAME [--retention-bytes=B] [--retention-ms=MS]\n"
    "                            [--consistency=strong|regional|spread [--home-region=R]\n"
    "                             [--observers-per-region=K | --observers-in=R=K,...]\n"
    "                             [--voters-in=R=N,...]] [--validate-only]\n\n"
    "Changes topic NAME's settings after its creation; a setting not given stays as it is.\n"
    "Retention applies at each replica's next retention check (every 5 s): records past the\n"
    "new limits go, whole segments at a time.\n"
    "A consistency mode (as at 'topic create') moves the topic's partitions into that mode's\n"
    "placement: the controller checks that the cluster can place every partition so, then\n"
    "reassigns a few partitions at a time (new copies catch up as learners before they vote;\n"
    "no acknowledged record is lost), and the topic takes the new mode once all are placed.\n"
    "Until then 'topic describe' shows 'changing to ...' and the topic keeps its old mode's\n"
    "behaviour. A new --consistency while a change runs replaces its target (the topic's own\n"
    "mode undoes it). A regional topic asked for its own mode and home region brings back\n"
    "home the partitions a failover promoted to another region (fail-back), as the\n"
    "controller does by itself once the home region has been live for\n"
    "--region_failback_delay_ms. The replication factor cannot change.\n"
    "  --retention-bytes=B   keep at most about B bytes per partition (0: unlimited)\n"
    "  --retention-ms=MS     keep records for about MS milliseconds (0: unlimited)\n"
    "  --consistency=MODE    strong, regional or spread (see 'topic create --help')\n"
    "  --home-region=R       regional: where the voters go; strong: where leaders are preferred\n"
    "  --observers-per-region=K  regional: observers in each other region (default 1)\n"
    "  --observers-in=R=K,... regional: observers per named region (see 'topic create')\n"
    "  --voters-in=R=N,...   strong or spread: voters per named region (see 'topic create')\n"
    "  --validate-only       check everything (the topic, the values, the ACLs, whether the\n"
    "                        cluster can place the new mode) and change nothing\n";

constexpr char kTopicPromoteUsage[] =
    "Usage: meridian topic promote NAME --partition=P\n\n"
    "Fails partition P of regional topic NAME over to its most caught-up observer, as the\n"
    "controller does by itself after --promotion_delay without a voter. The old epoch is\n"
    "fenced: records it holds past the promotion point are discarded and counted\n"
    "(meridian_promotion_records_discarded_total). Refused while a voter of the partition\n"
    "still renews its data lease.\n";

constexpr char kTopicReassignUsage[] =
    "Usage: meridian topic reassign NAME --partition=P --replicas=ID,ID,... "
    "[--observers=ID,...]\n\n"
    "Moves partition P of topic NAME to these voters (the preferred leader first) and\n"
    "observers, checked against the topic's placement rules (strong: at most the voters per\n"
    "region a region loss can spare; regional: every voter in one region). The partition's\n"
    "leader adds each new replica as a learner, makes it a voter once it has caught up, then\n"
    "removes the departing ones, one raft configuration change at a time; topic describe shows\n"
    "the target until it is done. One reassignment per partition at a time.\n";

constexpr char kProduceUsage[] =
    "Usage: meridian produce TOPIC [--file=PATH] [--key-separator=SEP] [--acks=quorum|leader]\n"
    "                        [--no-idempotence]\n\n"
    "Sends one record per input line (stdin, or --file) and waits until every record is\n"
    "acknowledged; prints a summary on stderr. Exit 1 if any record failed.\n"
    "  --file=PATH          read lines from PATH instead of stdin\n"
    "  --key-separator=SEP  the part of a line before the first SEP is the record's key (a line\n"
    "                       without SEP has no key); '\\t' means a tab\n"
    "  --acks=quorum        acknowledged once committed on a quorum (default)\n"
    "  --acks=leader        acknowledged once the leader has it (offsets are then unknown)\n"
    "  --no-idempotence     no producer id: a retried batch may be written twice\n";

constexpr char kConsumeUsage[] =
    "Usage: meridian consume TOPIC [--partition=P] [--from-beginning | --offset=N] [--follow]\n"
    "                        [--max-messages=N] [--print-offset] [--print-key]\n"
    "                        [--key-separator=SEP] [--group=GROUP] [--region=R]\n\n"
    "Prints one record value per line. Without --follow it reads up to the high watermark each\n"
    "partition had when it started, then exits; with --follow it keeps waiting (Ctrl-C stops).\n"
    "  --partition=P        only partition P (default: all)\n"
    "  --from-beginning     start at the oldest record\n"
    "  --offset=N           start at offset N (in every partition read)\n"
    "                       (default start: the end, so only new records; like kcat)\n"
    "  --follow             do not stop at the end\n"
    "  --max-messages=N     stop after N records\n"
    "  --print-offset       prefix each line with PARTITION:OFFSET and a tab\n"
    "  --print-key          prefix each line with the key and the key separator\n"
    "  --key-separator=SEP  separator after the key (default: tab; '\\t' means a tab)\n"
    "  --group=GROUP        read as a member of consumer group GROUP: the group's coordinator\n"
    "                       assigns the partitions, reading starts at the group's committed\n"
    "                       offsets (no offset yet: the start flags above), and the positions\n"
    "                       read are committed (every 5 s and at the end). Excludes --partition\n"
    "                       and --offset.\n"
    "  --region=R           read near the client: fetch each partition from a replica or\n"
    "                       observer in region R (a node's --region), the leader when R has\n"
    "                       none or that replica fails; committed records only, as the\n"
    "                       leader would serve them, possibly a little later\n";

constexpr char kGroupListUsage[] =
    "Usage: meridian group list\n\n"
    "Lists every consumer group the cluster knows: its state (stable, rebalancing, empty),\n"
    "generation, assignor and member count.\n";

constexpr char kGroupDescribeUsage[] =
    "Usage: meridian group describe GROUP\n\n"
    "Shows the group's members and their partitions, and per partition its committed offset,\n"
    "the high watermark and the lag between them.\n";

constexpr char kGroupResetOffsetsUsage[] =
    "Usage: meridian group reset-offsets GROUP --topic=T (--to-earliest | --to-latest |\n"
    "                                    --to-offset=N) [--partition=P]\n\n"
    "Sets the group's committed offset of every partition of T (or only P). Only while the\n"
    "group has no members: stop its consumers first (the coordinator refuses otherwise).\n"
    "  --to-earliest   each partition's log start\n"
    "  --to-latest     each partition's high watermark (skip everything written so far)\n"
    "  --to-offset=N   offset N\n";

constexpr char kGroupDeleteUsage[] =
    "Usage: meridian group delete GROUP\n\n"
    "Deletes consumer group GROUP: its generation and every offset it committed. Only a group\n"
    "without live members: stop its consumers first (the coordinator refuses while any member\n"
    "is alive or a rebalance runs). The delete is a record of the group's ledger, so a consumer\n"
    "that joins at the same moment either keeps the group (and the delete is refused) or starts\n"
    "a new one from generation 1 with no offsets; never half of the old one.\n"
    "Exit codes: 0 deleted; 1 not deleted (the group does not exist, has live members, or the\n"
    "cluster could not be asked: the message says which); 2 usage error.\n";

constexpr char kClusterStatusUsage[] =
    "Usage: meridian cluster status\n\n"
    "Shows the registered nodes, the controller leader and, per partition, its leader, term\n"
    "and high watermark and how far each replica's high watermark lags behind the leader's.\n"
    "Every node is asked for its replicas; one that does not answer is shown as unreachable.\n";

// ------------------------------------------------------------------------------------------
// Arguments: words (subcommand and positional arguments) and --flags.

struct FlagSpec {
  std::string_view name;
  bool takes_value;
};

constexpr FlagSpec kGlobalFlags[] = {{"bootstrap", true},
                                     {"timeout", true},
                                     {"tls-ca", true},
                                     {"tls-cert", true},
                                     {"tls-key", true}};

struct Args {
  std::vector<std::string> words;
  absl::btree_map<std::string, std::optional<std::string>> flags;
  bool help = false;

  bool Has(std::string_view name) const { return flags.contains(std::string(name)); }
  std::string Value(std::string_view name, std::string fallback = "") const {
    auto it = flags.find(std::string(name));
    return it == flags.end() || !it->second.has_value() ? fallback : *it->second;
  }
};

class Session;
using RunFunction = int (*)(Session&, const Args&);

struct Command {
  std::string_view name;  // "topic create"
  std::string_view usage;
  std::vector<FlagSpec> flags;
  size_t positional;  // Words after the name: the topic, or nothing.
  RunFunction run;
};

bool IsValueFlag(std::string_view name, const std::vector<Command>& commands) {
  for (const FlagSpec& flag : kGlobalFlags) {
    if (flag.name == name) return flag.takes_value;
  }
  for (const Command& command : commands) {
    for (const FlagSpec& flag : command.flags) {
      if (flag.name == name) return flag.takes_value;
    }
  }
  return false;
}

// Splits argv into words and flags. Flags take `--name=value` or `--name value`; `_` in a name
// reads as `-`; `--` ends the flags. Whether a flag belongs to the subcommand is checked later.
absl::StatusOr<Args> ParseArgs(int argc, char** argv, const std::vector<Command>& commands) {
  Args args;
  bool flags_ended = false;
  for (int i = 1; i < argc; i++) {
    const std::string token = argv[i];
    if (flags_ended || token.size() < 2 || token[0] != '-') {
      args.words.push_back(token);
    } else if (token == "--") {
      flags_ended = true;
    } else if (token == "-h" || token == "--help") {
      args.help = true;
    } else if (token.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(fmt::format("unknown option '{}'", token));
    } else {
      std::string name = token.substr(2);
      std::optional<std::string> value;
      if (const size_t equals = name.find('='); equals != std::string::npos) {
        value = name.substr(equals + 1);
        name.resize(equals);
      }
      std::replace(name.begin(), name.end(), '_', '-');
      if (!value.has_value() && IsValueFlag(name, commands)) {
        if (i + 1 >= argc)
          return absl::InvalidArgumentError(fmt::format("--{} needs a value", name));
        value = argv[++i];
      }
      if (args.flags.contains(name)) {
        return absl::InvalidArgumentError(fmt::format("--{} is given twice", name));
      }
      args.flags[name] = std::move(value);
    }
  }
  return args;
}

// Every flag must be the command's or global, with a value exactly when it takes one.
absl::Status CheckFlags(const Command& command, const Args& args) {
  for (const auto& [name, value] : args.flags) {
    std::optional<bool> takes_value;
    for (const FlagSpec& flag : kGlobalFlags) {
      if (flag.name == name) takes_value = flag.takes_value;
    }
    for (const FlagSpec& flag : command.flags) {
      if (flag.name == name) takes_value = flag.takes_value;
    }
    if (!takes_value.has_value()) {
      return absl::InvalidArgumentError(fmt::format("unknown flag --{}", name));
    }
    if (!*takes_value && value.has_value()) {
      return absl::InvalidArgumentError(fmt::format("--{} takes no value", name));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> IntFlag(const Args& args, std::string_view name, int64_t min, int64_t max,
                                std::optional<int64_t> fallback) {
  if (!args.Has(name)) {
    if (fallback.has_value()) return *fallback;
    return absl::InvalidArgumentError(fmt::format("--{} is required", name));
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(args.Value(name), &value) || value < min || value > max) {
    return absl::InvalidArgumentError(
        fmt::format("--{}='{}' is not an integer in {}..{}", name, args.Value(name), min, max));
  }
  return value;
}

std::string SeparatorFlag(const Args& args, std::string fallback) {
  const std::string value = args.Value("key-separator", fallback);
  return value == "\\t" ? "\t" : value;
}

absl::StatusOr<std::vector<io::Address>> ParseBootstrap(const std::string& text) {
  std::vector<io::Address> addresses;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    absl::StatusOr<io::Address> address = io::ParseAddress(std::string(part));
    if (!address.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("--bootstrap: {}", std::string(address.status().message())));
    }
    if (address->host != "localhost" &&
        address->host.find_first_not_of("0123456789.") != std::string::npos) {
      return absl::InvalidArgumentError(fmt::format(
          "--bootstrap: '{}' is not an IPv4 address (host names are not resolved)", address->host));
    }
    addresses.push_back(*address);
  }
  if (addresses.empty()) return absl::InvalidArgumentError("--bootstrap names no address");
  return addresses;
}

// ------------------------------------------------------------------------------------------
// The session: one subcommand's runtime, client and error reporting.

class Session {
 public:
  Session(PosixRuntime& rt, core::client::Client& client, std::string command,
          std::string bootstrap, io::Duration timeout)
      : rt_(rt),
        client_(client),
        command_(std::move(command)),
        bootstrap_(std::move(bootstrap)),
        timeout_(timeout) {}

  PosixRuntime& rt() { return rt_; }
  core::client::Client& client() { return client_; }
  io::Duration timeout() const { return timeout_; }
  io::Instant Deadline() const { return rt_.Now() + timeout_; }

  int Fail(std::string_view message) {
    fmt::print(stderr, "meridian {}: {}\n", command_, message);
    return kExitFailure;
  }
  int Fail(const absl::Status& status) { return Fail(std::string(status.message())); }
  int UsageError(const absl::Status& status) {
    fmt::print(stderr, "meridian {}: {} (see 'meridian {} --help')\n", command_,
               std::string(status.message()), command_);
    return kExitUsage;
  }

  // Runs `body` to completion in a fiber of its own and waits for it. Ctrl-C cancels the
  // subcommand's fiber, and every wait of a cancelled fiber ends Cancelled: work that must still
  // be done on the way out (commit what was printed, leave the group) runs here, bounded by its
  // own deadlines. A second Ctrl-C still stops the runtime outright.
  void Uncancelled(std::string name, std::function<void()> body) {
    const io::FiberId fiber = rt_.Spawn(std::move(name), std::move(body));
    rt_.scheduler().Join(fiber);
  }

  // Metadata for `topics` (all when empty). A failure that is no node's answer means no node
  // could be reached, which is what the person needs to hear.
  absl::StatusOr<core::wire::MetadataResponseT> Connect(std::vector<std::string> topics = {}) {
    absl::StatusOr<core::wire::MetadataResponseT> metadata =
        client_.RefreshMetadata(std::move(topics));
    if (!metadata.ok() && !core::client::WireErrorCode(metadata.status()).has_value()) {
      return absl::UnavailableError(fmt::format("cannot reach any node at {}: {}", bootstrap_,
                                                std::string(metadata.status().message())));
    }
    return metadata;
  }

  // The topic's description, or NotFound "topic 'x' does not exist".
  absl::StatusOr<core::wire::TopicInfoT> Topic(const std::string& name) {
    absl::StatusOr<core::wire::MetadataResponseT> metadata = Connect({name});
    if (!metadata.ok()) return metadata.status();
    for (auto& topic : metadata->topics) {
      if (topic != nullptr && topic->name == name) return std::move(*topic);
    }
    return absl::NotFoundError(fmt::format("topic '{}' does not exist", name));
  }

 private:
  PosixRuntime& rt_;
  core::client::Client& client_;
  const std::string command_;
  const std::string bootstrap_;
  const io::Duration timeout_;
};

// A wire error as a person reads it; the topic names the subject of "does not exist".
std::string Explain(const absl::Status& status, const std::string& topic) {
  const std::optional<core::wire::ErrorCode> code = core::client::WireErrorCode(status);
  if (code == core::wire::ErrorCode::UnknownTopicOrPartition && !topic.empty()) {
    return fmt::format("topic '{}' does not exist", topic);
  }
  if (code == core::wire::ErrorCode::TopicAlreadyExists) {
    return fmt::format("topic '{}' already exists", topic);
  }
  return std::string(status.message());
}

// Rows of cells printed as left-aligned columns.
class Table {
 public:
  void Row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  void Print(std::FILE* out, std::string_view indent) const {
    std::vector<size_t> widths;
    for (const auto& row : rows_) {
      widths.resize(std::max(widths.size(), row.size()));
      for (size_t i = 0; i < row.size(); i++) widths[i] = std::max(widths[i], row[i].size());
    }
    for (const auto& row : rows_) {
      std::string line(indent);
      for (size_t i = 0; i < row.size(); i++) {
        line += i + 1 < row.size() ? fmt::format("{:<{}}  ", row[i], widths[i]) : row[i];
      }
      fmt::print(out, "{}\n", line);
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string Limit(int64_t value, std::string_view unit) {
  return value == 0 ? "unlimited" : fmt::format("{} {}", value, unit);
}

std::string NodeName(uint32_t node) { return node == 0 ? "-" : std::to_string(node); }

// ------------------------------------------------------------------------------------------
// topic create / list / describe / delete.

std::string ModeText(core::wire::Consistency consistency, const std::string& home_region,
                     uint32_t observers_per_region) {
  if (consistency == core::wire::Consistency::Spread) return "spread (no region-loss guarantee)";
  if (consistency != core::wire::Consistency::Regional) {
    return home_region.empty() ? "strong" : fmt::format("strong (leaders in {})", home_region);
  }
  return fmt::format("regional (home {}, {} observer{} per other region)", home_region,
                     observers_per_region, observers_per_region == 1 ? "" : "s");
}

// "us-east=2,eu-west=1", as --voters-in and --observers-in take it.
std::string RegionCountsText(const std::vector<std::unique_ptr<core::wire::RegionCountT>>& counts) {
  std::string text;
  for (const auto& entry : counts) {
    text += fmt::format("{}{}={}", text.empty() ? "" : ",", entry->region, entry->count);
  }
  return text;
}

// A mode with its placement constraints, if any.
std::string ModeText(core::wire::Consistency consistency, const std::string& home_region,
                     uint32_t observers_per_region,
                     const std::vector<std::unique_ptr<core::wire::RegionCountT>>& voters_in,
                     const std::vector<std::unique_ptr<core::wire::RegionCountT>>& observers_in) {
  if (!observers_in.empty()) {
    return fmt::format("regional (home {}, observers {})", home_region,
                       RegionCountsText(observers_in));
  }
  const std::string text = ModeText(consistency, home_region, observers_per_region);
  return voters_in.empty() ? text : fmt::format("{}, voters {}", text, RegionCountsText(voters_in));
}

// The topic's mode, and the one it is moving to while a `topic alter --consistency` runs.
std::string Mode(const core::wire::TopicInfoT& topic) {
  std::string text = ModeText(topic.consistency, topic.home_region, topic.observers_per_region,
                              topic.voters_in, topic.observers_in);
  if (topic.changing_to == core::wire::Consistency::Unspecified) return text;
  const size_t moving = std::count_if(topic.partitions.begin(), topic.partitions.end(),
                                      [](const auto& p) { return !p->target_replicas.empty(); });
  return fmt::format(
      "{}, changing to {} ({} partition{} moving now)", text,
      ModeText(topic.changing_to, topic.changing_home_region, topic.changing_observers_per_region,
               topic.changing_voters_in, topic.changing_observers_in),
      moving, moving == 1 ? "" : "s");
}

// --voters-in / --observers-in: "REGION=N,REGION=N" (each region once, N of 1 to 1024).
absl::StatusOr<std::vector<std::unique_ptr<core::wire::RegionCountT>>> RegionCountsFlag(
    const Args& args, const std::string& flag) {
  std::vector<std::unique_ptr<core::wire::RegionCountT>> counts;
  if (!args.Has(flag)) return counts;
  std::set<std::string> seen;
  const std::vector<std::string> parts = absl::StrSplit(args.Value(flag), ',');
  for (const std::string& part : parts) {
    const std::vector<std::string> pair = absl::StrSplit(part, absl::MaxSplits('=', 1));
    uint32_t count = 0;
    if (pair.size() != 2 || pair[0].empty() || !absl::SimpleAtoi(pair[1], &count) || count < 1 ||
        count > 1024) {
      return absl::InvalidArgumentError(
          fmt::format("--{}='{}': use REGION=N,... with N of 1 to 1024", flag, part));
    }
    if (!seen.insert(pair[0]).second) {
      return absl::InvalidArgumentError(
          fmt::format("--{}: region '{}' is named twice", flag, pair[0]));
    }
    auto entry = std::make_unique<core::wire::RegionCountT>();
    entry->region = pair[0];
    entry->count = count;
    counts.push_back(std::move(entry));
  }
  return counts;
}

// --consistency, --home-region, --observers-per-region into `request` (a create, or an alter).
template <typename Request>
absl::Status PlacementFlags(const Args& args, Request& request) {
  if (args.Has("consistency")) {
    const std::string mode = args.Value("consistency");
    if (mode == "strong") {
      request.consistency = core::wire::Consistency::Strong;
    } else if (mode == "regional") {
      request.consistency = core::wire::Consistency::Regional;
    } else if (mode == "spread") {
      request.consistency = core::wire::Consistency::Spread;
    } else {
      return absl::InvalidArgumentError(
          fmt::format("--consistency='{}': use strong, regional or spread", mode));
    }
  }
  if (args.Has("observers-per-region") &&
      request.consistency != core::wire::Consistency::Regional) {
    return absl::InvalidArgumentError("--observers-per-region needs --consistency=regional");
  }
  if (args.Has("home-region") && request.consistency != core::wire::Consistency::Regional &&
      request.consistency != core::wire::Consistency::Strong) {
    return absl::InvalidArgumentError(
        "--home-region needs --consistency=regional (where the voters are) or strong (where the "
        "leaders are preferred)");
  }
  if (args.Has("home-region")) request.home_region = args.Value("home-region");
  absl::StatusOr<int64_t> observers = IntFlag(args, "observers-per-region", 0, 16, 1);
  if (!observers.ok()) return observers.status();
  if (request.consistency == core::wire::Consistency::Regional) {
    request.observers_per_region = static_cast<uint32_t>(*observers);
  }
  absl::StatusOr<std::vector<std::unique_ptr<core::wire::RegionCountT>>> voters_in =
      RegionCountsFlag(args, "voters-in");
  if (!voters_in.ok()) return voters_in.status();
  absl::StatusOr<std::vector<std::unique_ptr<core::wire::RegionCountT>>> observers_in =
      RegionCountsFlag(args, "observers-in");
  if (!observers_in.ok()) return observers_in.status();
  if (!voters_in->empty() && request.consistency != core::wire::Consistency::Strong &&
      request.consistency != core::wire::Consistency::Spread) {
    return absl::InvalidArgumentError("--voters-in needs --consistency=strong or spread");
  }
  if (!observers_in->empty()) {
    if (request.consistency != core::wire::Consistency::Regional) {
      return absl::InvalidArgumentError("--observers-in needs --consistency=regional");
    }
    if (args.Has("observers-per-region")) {
      return absl::InvalidArgumentError("--observers-in or --observers-per-region, not both");
    }
    request.observers_per_region = 0;
  }
  request.voters_in = *std::move(voters_in);
  request.observers_in = *std::move(observers_in);
  return absl::OkStatus();
}

int RunTopicCreate(Session& session, const Args& args) {
  const std::string name = args.words[0];
  absl::StatusOr<int64_t> partitions = IntFlag(args, "partitions", 1, 1 << 16, std::nullopt);
  absl::StatusOr<int64_t> replication =
      IntFlag(args, "replication-factor", 1, 1 << 10, std::nullopt);
  absl::StatusOr<int64_t> retention_bytes =
      IntFlag(args, "retention-bytes", 0, std::numeric_limits<int64_t>::max(), 0);
  absl::StatusOr<int64_t> retention_ms =
      IntFlag(args, "retention-ms", 0, std::numeric_limits<int64_t>::max(), 0);
  for (const absl::Status& status : {partitions.status(), replication.status(),
                                     retention_bytes.status(), retention_ms.status()}) {
    if (!status.ok()) return session.UsageError(status);
  }
  if (name.empty() || name.size() > core::wire::kNameBytesMax) {
    return session.UsageError(absl::InvalidArgumentError(
        fmt::format("a topic name has 1 to {} bytes", core::wire::kNameBytesMax)));
  }
  core::wire::CreateTopicRequestT request;
  request.name = name;
  request.partitions = static_cast<uint32_t>(*partitions);
  request.replication_factor = static_cast<uint32_t>(*replication);
  request.retention_bytes = *retention_bytes;
  request.retention_ms = *retention_ms;
  if (absl::Status s = PlacementFlags(args, request); !s.ok()) return session.UsageError(s);
  if (absl::StatusOr<core::wire::MetadataResponseT> metadata = session.Connect(); !metadata.ok()) {
    return session.Fail(metadata.status());
  }
  absl::StatusOr<core::wire::TopicInfoT> created = session.client().CreateTopic(std::move(request));
  if (!created.ok()) return session.Fail(Explain(created.status(), name));
  fmt::print("created topic '{}': {} partitions, replication factor {}, {}\n", name,
             created->partitions.size(), created->replication_factor, Mode(*created));
  return kExitOk;
}

int RunTopicList(Session& session, const Args& args) {
  absl::StatusOr<core::wire::MetadataResponseT> metadata = session.Connect();
  if (!metadata.ok()) return session.Fail(metadata.status());
  Table table;
  table.Row({"TOPIC", "PARTITIONS", "REPLICATION", "RETENTION_BYTES", "RETENTION_MS"});
  for (const auto& topic : metadata->topics) {
    if (topic == nullptr) continue;
    table.Row({topic->name, std::to_string(topic->partitions.size()),
               std::to_string(topic->replication_factor), Limit(topic->retention_bytes, "B"),
               Limit(topic->retention_ms, "ms")});
  }
  table.Print(stdout, "");
  return kExitOk;
}

int RunTopicDescribe(Session& session, const Args& args) {
  absl::StatusOr<core::wire::TopicInfoT> topic = session.Topic(args.words[0]);
  if (!topic.ok()) return session.Fail(topic.status());
  fmt::print("topic {}: {} partitions, replication factor {}, retention {}, {}, {}\n", topic->name,
             topic->partitions.size(), topic->replication_factor,
             Limit(topic->retention_bytes, "bytes"), Limit(topic->retention_ms, "ms"),
             Mode(*topic));
  Table table;
  table.Row({"PARTITION", "LEADER", "TERM", "REPLICAS", "OBSERVERS", "EPOCH"});
  for (const auto& partition : topic->partitions) {
    if (partition == nullptr) continue;
    // A promoted partition's epoch, and the offset its current epoch began at.
    const std::string epoch =
        partition->epoch == 0
            ? "0"
            : fmt::format("{} (from offset {})", partition->epoch, partition->promoted_offset);
    table.Row({std::to_string(partition->partition), NodeName(partition->leader),
               partition->leader == 0 ? "-" : std::to_string(partition->leader_term),
               absl::StrJoin(partition->replicas, ","),
               partition->observers.empty() ? "-" : absl::StrJoin(partition->observers, ","),
               epoch});
  }
  table.Print(stdout, "  ");
  for (const auto& partition : topic->partitions) {
    if (partition == nullptr || partition->target_replicas.empty()) continue;
    fmt::print("  partition {}: reassigning to voters {} observers {}\n", partition->partition,
               absl::StrJoin(partition->target_replicas, ","),
               partition->target_observers.empty()
                   ? "-"
                   : absl::StrJoin(partition->target_observers, ","));
  }
  return kExitOk;
}

int RunTopicDelete(Session& session, const Args& args) {
  const std::string name = args.words[0];
  if (absl::StatusOr<core::wire::MetadataResponseT> metadata = session.Connect(); !metadata.ok()) {
    return session.Fail(metadata.status());
  }
  absl::Status deleted = session.client().DeleteTopic(name);
  if (!deleted.ok()) return session.Fail(Explain(deleted, name));
  fmt::print("deleted topic '{}'\n", name);
  return kExitOk;
}

int RunTopicAddPartitions(Session& session, const Args& args) {
  const std::string name = args.words[0];
  absl::StatusOr<int64_t> total = IntFlag(args, "total", 1, 1 << 16, std::nullopt);
  if (!total.ok()) return session.UsageError(total.status());
  if (absl::StatusOr<core::wire::MetadataResponseT> metadata = session.Connect(); !metadata.ok()) {
    return session.Fail(metadata.status());
  }
  absl::StatusOr<core::wire::TopicInfoT> grown =
      session.client().AddPartitions(name, static_cast<uint32_t>(*total));
  if (!grown.ok()) return session.Fail(Explain(grown.status(), name));
  fmt::print("topic '{}' now has {} partitions\n", name, grown->partitions.size());
  return kExitOk;
}

int RunTopicAlter(Session& session, const Args& args) {
  core::wire::AlterTopicConfigRequestT request;
  request.topic = args.words[0];
  request.validate_only = args.Has("validate-only");
  absl::StatusOr<int64_t> retention_bytes =
      IntFlag(args, "retention-bytes", 0, std::numeric_limits<int64_t>::max(), -1);
  absl::StatusOr<int64_t> retention_ms =
      IntFlag(args, "retention-ms", 0, std::numeric_limits<int64_t>::max(), -1);
  for (const absl::Status& status : {retention_bytes.status(), retention_ms.status()}) {
    if (!status.ok()) return session.UsageError(status);
  }
  if (!args.Has("retention-bytes") && !args.Has("retention-ms") && !args.Has("consistency")) {
    return session.UsageError(absl::InvalidArgumentError(
        "nothing to alter: give --retention-bytes, --retention-ms or --consistency"));
  }
  if (absl::Status s = PlacementFlags(args, request); !s.ok()) return session.UsageError(s);
  request.retention_bytes = *retention_bytes;
  request.retention_ms = *retention_ms;
  if (absl::StatusOr<core::wire::MetadataResponseT> metadata = session.Connect(); !metadata.ok()) {
    return session.Fail(metadata.status());
  }
  const std::string name = request.topic;
  const bool validate_only = request.validate_only;
  absl::StatusOr<core::wire::TopicInfoT> altered =
      session.client().AlterTopicConfig(std::move(request));
  if (!altered.ok()) return session.Fail(Explain(altered.status(), name));
  fmt::print("topic '{}'{}: retention {}, {}; consistency {}\n", name,
             validate_only ? " (validated; nothing changed)" : "",
             Limit(altered->retention_bytes, "bytes"), Limit(altered->retention_ms, "ms"),
             Mode(*altered));
  return kExitOk;
}

int RunTopicPromote(Session& session, const Args& args) {
  const std::string name = args.words[0];
  absl::StatusOr<int64_t> partition = IntFlag(args, "partition", 0, 1023, std::nullopt);
  if (!partition.ok()) return session.UsageError(partition.status());
  if (absl::StatusOr<core::wire::MetadataResponseT> metadata = session.Connect(); !metadata.ok()) {
    return session.Fail(metadata.status());
  }
  absl::StatusOr<core::wire::PromotePartitionResponseT> promoted =
      session.client().PromotePartition(name, static_cast<uint32_t>(*partition));
  if (!promoted.ok()) return session.Fail(Explain(promoted.status(), name));
  fmt::print("{}/{} promoted to epoch {}: node {} continues from offset {}\n", name, *partition,
             promoted->epoch, promoted->source, promoted->promoted_offset);
  return kExitOk;
}

// "1,2,3" as node ids (empty text: none).
absl::StatusOr<std::vector<uint32_t>> NodeIdsFlag(const Args& args, std::string_view name) {
  std::vector<uint32_t> ids;
  const std::string text = args.Value(name);
  for (absl::string_view word : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    uint32_t id = 0;
    if (!absl::SimpleAtoi(word, &id) || id == 0) {
      return absl::InvalidArgumentError(
          fmt::format("--{}: '{}' is not a node id (a positive integer)", name,
                      std::string_view(word.data(), word.size())));
    }
    ids.push_back(id);
  }
  return ids;
}

int RunTopicReassign(Session& session, const Args& args) {
  const std::string name = args.words[0];
  absl::StatusOr<int64_t> partition = IntFlag(args, "partition", 0, 1023, std::nullopt);
  if (!partition.ok()) return session.UsageError(partition.status());
  absl::StatusOr<std::vector<uint32_t>> replicas = NodeIdsFlag(args, "replicas");
  if (!replicas.ok()) return session.UsageError(replicas.status());
  if (replicas->empty())
    return session.UsageError(absl::InvalidArgumentError("--replicas is required"));
  absl::StatusOr<std::vector<uint32_t>> observers = NodeIdsFlag(args, "observers");
  if (!observers.ok()) return session.UsageError(observers.status());
  if (absl::StatusOr<core::wire::MetadataResponseT> metadata = session.Connect(); !metadata.ok()) {
    return session.Fail(metadata.status());
  }
  absl::StatusOr<core::wire::ReassignPartitionResponseT> reassigned =
      session.client().ReassignPartition(name, static_cast<uint32_t>(*partition), *replicas,
                                         *observers);
  if (!reassigned.ok()) return session.Fail(Explain(reassigned.status(), name));
  if (reassigned->target_replicas.empty()) {
    fmt::print("{}/{} already has these replicas\n", name, *partition);
    return kExitOk;
  }
  fmt::print(
      "{}/{} reassigning to voters {} observers {} (group {})\n", name, *partition,
      absl::StrJoin(reassigned->target_replicas, ","),
      reassigned->target_observers.empty() ? "-" : absl::StrJoin(reassigned->target_observers, ","),
      reassigned->group);
  return kExitOk;
}

// ------------------------------------------------------------------------------------------
// produce.

// Lines from a file or stdin. Pipes, sockets and terminals are read non-blocking through the
// reactor, so deliveries progress while the input is idle; regular files are read directly.
class LineReader {
 public:
  static absl::StatusOr<std::unique_ptr<LineReader>> Open(PosixRuntime& rt,
                                                          const std::string& path) {
    int fd = STDIN_FILENO;
    if (!path.empty()) {
      fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return io::posix::ErrnoStatus(errno, fmt::format("cannot open {}", path));
    }
    std::unique_ptr<LineReader> reader(new LineReader(rt, fd, /*owns_fd=*/!path.empty()));
    struct stat info {};
    const bool pollable =
        fstat(fd, &info) == 0 && (S_ISFIFO(info.st_mode) || S_ISSOCK(info.st_mode) || isatty(fd));
    if (pollable) {
      reader->saved_flags_ = fcntl(fd, F_GETFL);
      if (reader->saved_flags_ >= 0 && fcntl(fd, F_SETFL, reader->saved_flags_ | O_NONBLOCK) == 0) {
        reader->watch_ = rt.Watch(fd);
      }
    }
    return reader;
  }

  ~LineReader() {
    if (watch_ != nullptr) {
      rt_.Unwatch(*watch_);
      (void)fcntl(fd_, F_SETFL, saved_flags_);  // The shell shares a terminal's flags.
    }
    if (owns_fd_) close(fd_);
  }

  // The next line without its newline; nullopt at the end of the input.
  absl::StatusOr<std::optional<std::string>> Next() {
    while (true) {
      const size_t newline = buffer_.find('\n', start_);
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(start_, newline - start_);
        start_ = newline + 1;
        lines_read_++;
        return line;
      }
      if (buffer_.size() - start_ > kLineBytesMax) {
        return absl::InvalidArgumentError(
            fmt::format("line {} is longer than {} bytes", lines_read_ + 1, kLineBytesMax));
      }
      if (eof_) {
        if (start_ == buffer_.size()) return std::optional<std::string>();
        std::string line = buffer_.substr(start_);  // A last line without a newline.
        start_ = buffer_.size();
        lines_read_++;
        return line;
      }
      if (absl::Status filled = Fill(); !filled.ok()) return filled;
    }
  }

 private:
  LineReader(PosixRuntime& rt, int fd, bool owns_fd) : rt_(rt), fd_(fd), owns_fd_(owns_fd) {}

  absl::Status Fill() {
    buffer_.erase(0, start_);
    start_ = 0;
    char chunk[kReadChunkBytes];
    while (true) {
      const ssize_t n = read(fd_, chunk, sizeof(chunk));
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
        return absl::OkStatus();
      }
      if (n == 0) {
        eof_ = true;
        return absl::OkStatus();
      }
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || watch_ == nullptr) {
        return io::posix::ErrnoStatus(errno, "cannot read the input");
      }
      watch_->readable = false;
      absl::Status ready =
          rt_.WaitReady(*watch_, io::posix::Readiness::kReadable, io::Instant::Infinite());
      if (!ready.ok()) return ready;
    }
  }

  PosixRuntime& rt_;
  const int fd_;
  const bool owns_fd_;
  int saved_flags_ = -1;
  std::unique_ptr<io::posix::FdWatch> watch_;
  std::string buffer_;
  size_t start_ = 0;
  bool eof_ = false;
  uint64_t lines_read_ = 0;
};

// Delivery outcomes, counted in the order records were sent.
struct DeliveryTally {
  std::deque<std::shared_ptr<core::client::DeliveryPromise>> pending;
  uint64_t acknowledged = 0;
  uint64_t failed = 0;
  std::string first_error;

  void Failed(const absl::Status& status) {
    if (failed++ == 0) first_error = std::string(status.message());
  }
  // Counts the resolved records at the front of `pending`.
  void Reap() {
    while (!pending.empty() && pending.front()->ready()) {
      absl::StatusOr<const absl::StatusOr<core::client::Delivery>*> outcome =
          pending.front()->Wait();
      if (outcome.ok() && (*outcome)->ok()) {
        acknowledged++;
      } else {
        Failed(outcome.ok() ? (*outcome)->status() : outcome.status());
      }
      pending.pop_front();
    }
  }
};

struct ProduceOptions {
  std::string topic;
  std::string file;
  std::optional<std::string> key_separator;
  core::client::ProducerOptions producer;
};

absl::StatusOr<ProduceOptions> ParseProduceOptions(const Session& session, const Args& args) {
  ProduceOptions options;
  options.topic = args.words[0];
  options.file = args.Value("file");
  if (args.Has("file") && options.file.empty()) {
    return absl::InvalidArgumentError("--file needs a path");
  }
  if (args.Has("key-separator")) {
    options.key_separator = SeparatorFlag(args, "");
    if (options.key_separator->empty()) {
      return absl::InvalidArgumentError("--key-separator must not be empty");
    }
  }
  const std::string acks = args.Value("acks", "quorum");
  if (acks != "quorum" && acks != "leader") {
    return absl::InvalidArgumentError(fmt::format("--acks='{}' is not quorum or leader", acks));
  }
  options.producer.acks = acks == "leader" ? core::wire::Acks::Leader : core::wire::Acks::Quorum;
  options.producer.idempotent = !args.Has("no-idempotence");
  options.producer.delivery_timeout = session.timeout();
  options.producer.request_timeout =
      std::min<io::Duration>(session.timeout(), std::chrono::seconds(10));
  return options;
}

// Sends every input line; returns the reader's error, if any (records sent so far still count).
absl::Status SendLines(Session& session, const ProduceOptions& options, LineReader& reader,
                       core::client::Producer& producer, DeliveryTally& tally) {
  const int64_t now_ms =  // Record timestamps are the wall clock's; core/ has none.
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  while (true) {
    absl::StatusOr<std::optional<std::string>> line = reader.Next();
    if (!line.ok()) return line.status();
    if (!line->has_value()) return absl::OkStatus();
    std::optional<std::string> key;
    std::string value = std::move(**line);
    if (options.key_separator.has_value()) {
      if (const size_t at = value.find(*options.key_separator); at != std::string::npos) {
        key = value.substr(0, at);
        value.erase(0, at + options.key_separator->size());
      }
    }
    absl::StatusOr<std::shared_ptr<core::client::DeliveryPromise>> sent = producer.Send(
        options.topic, std::move(key), std::move(value), {}, now_ms, session.Deadline());
    if (sent.ok()) {
      tally.pending.push_back(std::move(*sent));
    } else {
      tally.Failed(absl::Status(sent.status().code(), Explain(sent.status(), options.topic)));
    }
    tally.Reap();
    if (tally.pending.size() >= kDeliveriesPendingMax) {
      if (absl::StatusOr<const absl::StatusOr<core::client::Delivery>*> waited =
              tally.pending.front()->Wait(session.Deadline());
          !waited.ok()) {
        return waited.status();
      }
    }
  }
}

int RunProduce(Session& session, const Args& args) {
  absl::StatusOr<ProduceOptions> options = ParseProduceOptions(session, args);
  if (!options.ok()) return session.UsageError(options.status());
  if (absl::StatusOr<core::wire::TopicInfoT> topic = session.Topic(options->topic); !topic.ok()) {
    return session.Fail(topic.status());
  }
  absl::StatusOr<std::unique_ptr<LineReader>> reader =
      LineReader::Open(session.rt(), options->file);
  if (!reader.ok()) return session.Fail(reader.status());
  absl::StatusOr<std::unique_ptr<core::client::Producer>> producer =
      core::client::Producer::Create(session.client(), options->producer);
  if (!producer.ok()) {
    return session.Fail(
        fmt::format("cannot start the producer: {}", std::string(producer.status().message())));
  }
  DeliveryTally tally;
  const absl::Status input = SendLines(session, *options, **reader, **producer, tally);
  // Every record resolves within delivery_timeout of its batch's first record.
  const io::Instant flush_deadline = session.Deadline() + std::chrono::seconds(5);
  absl::Status flushed = (*producer)->Flush(flush_deadline);
  for (const auto& promise : tally.pending) (void)promise->Wait(flush_deadline);
  tally.Reap();
  const uint64_t unresolved = tally.pending.size();
  (void)(*producer)->Close(session.rt().Now() + std::chrono::seconds(1));
  tally.failed += unresolved;
  if (unresolved > 0 && tally.first_error.empty()) {
    tally.first_error = fmt::format("not resolved in time ({})", flushed.ToString());
  }
  fmt::print(stderr, "produced to '{}': {} records acknowledged, {} failed{}\n", options->topic,
             tally.acknowledged, tally.failed,
             tally.failed > 0 ? fmt::format(" (first error: {})", tally.first_error) : "");
  if (absl::IsCancelled(input)) return session.Fail("interrupted");
  if (!input.ok()) return session.Fail(fmt::format("input: {}", std::string(input.message())));
  return tally.failed > 0 ? kExitFailure : kExitOk;
}

// ------------------------------------------------------------------------------------------
// consume.

struct ConsumeOptions {
  enum class Start { kEnd, kBeginning, kOffset };
  std::string topic;
  std::optional<uint32_t> partition;
  Start start = Start::kEnd;
  int64_t offset = 0;
  bool follow = false;
  std::optional<uint64_t> max_messages;
  bool print_offset = false;
  bool print_key = false;
  std::string key_separator;
  std::optional<std::string> group;  // --group: read as a member of this consumer group.
  std::string region;  // --region: ConsumerOptions::client_region (reads near the client).
};

absl::StatusOr<ConsumeOptions> ParseConsumeOptions(const Args& args) {
  ConsumeOptions options;
  options.topic = args.words[0];
  if (args.Has("partition")) {
    absl::StatusOr<int64_t> partition = IntFlag(args, "partition", 0, (1 << 16) - 1, 0);
    if (!partition.ok()) return partition.status();
    options.partition = static_cast<uint32_t>(*partition);
  }
  if (args.Has("from-beginning") && args.Has("offset")) {
    return absl::InvalidArgumentError("--from-beginning and --offset exclude each other");
  }
  if (args.Has("from-beginning")) options.start = ConsumeOptions::Start::kBeginning;
  if (args.Has("offset")) {
    absl::StatusOr<int64_t> offset =
        IntFlag(args, "offset", 0, std::numeric_limits<int64_t>::max(), 0);
    if (!offset.ok()) return offset.status();
    options.start = ConsumeOptions::Start::kOffset;
    options.offset = *offset;
  }
  if (args.Has("max-messages")) {
    absl::StatusOr<int64_t> max =
        IntFlag(args, "max-messages", 1, std::numeric_limits<int64_t>::max(), 1);
    if (!max.ok()) return max.status();
    options.max_messages = static_cast<uint64_t>(*max);
  }
  options.follow = args.Has("follow");
  options.print_offset = args.Has("print-offset");
  options.print_key = args.Has("print-key");
  options.key_separator = SeparatorFlag(args, "\t");
  if (args.Has("region")) {
    options.region = args.Value("region");
    if (options.region.empty()) return absl::InvalidArgumentError("--region needs a region");
  }
  if (args.Has("group")) {
    if (args.Has("partition") || args.Has("offset")) {
      return absl::InvalidArgumentError(
          "--group excludes --partition and --offset (the group assigns partitions and "
          "starts at its committed offsets)");
    }
    options.group = args.Value("group");
    if (options.group->empty()) return absl::InvalidArgumentError("--group needs a name");
  }
  return options;
}

// The high watermark of `partition` now, from its leader (ListOffsets Latest).
absl::StatusOr<int64_t> HighWatermark(Session& session, const std::string& topic,
                                      uint32_t partition) {
  core::wire::ListOffsetsRequestT request;
  request.topic = topic;
  request.partition = partition;
  request.spec = core::wire::OffsetSpec::Latest;
  absl::StatusOr<core::wire::ListOffsetsResponseT> latest =
      core::client::TakeBody<core::wire::ListOffsetsResponseT>(
          session.client().CallPartitionLeader(
              topic, partition, core::wire::Message(0, std::move(request)), session.Deadline()),
          [](core::wire::BodyUnion& body) { return body.AsListOffsetsResponse(); },
          "ListOffsetsResponse");
  if (!latest.ok()) {
    return absl::Status(latest.status().code(),
                        fmt::format("partition {}: high watermark: {}", partition,
                                    Explain(latest.status(), topic)));
  }
  return latest->offset;
}

std::string FormatRecord(const ConsumeOptions& options,
                         const core::client::ConsumedRecord& record) {
  std::string line;
  if (options.print_offset) {
    line += fmt::format("{}:{}\t", record.partition, record.offset.value());
  }
  if (options.print_key) line += record.key.value_or("") + options.key_separator;
  line += record.value;
  line += '\n';
  return line;
}

// Polls until every partition in `end_offsets` reached its end (never with --follow), the
// message limit, an error, or cancellation (Ctrl-C). Returns the records printed.
absl::StatusOr<uint64_t> ConsumeLoop(Session& session, const ConsumeOptions& options,
                                     core::client::Consumer& consumer,
                                     absl::btree_map<uint32_t, int64_t> end_offsets) {
  uint64_t printed = 0;
  io::Instant progress_deadline = session.Deadline();
  while (options.follow || !end_offsets.empty()) {
    absl::StatusOr<std::vector<core::client::ConsumedRecord>> records = consumer.Poll(kPollWait);
    if (!records.ok()) return records.status();
    std::string out;
    for (const core::client::ConsumedRecord& record : *records) {
      if (options.max_messages.has_value() && printed >= *options.max_messages) break;
      out += FormatRecord(options, record);
      printed++;
    }
    if (!out.empty() &&
        (fwrite(out.data(), 1, out.size(), stdout) != out.size() || fflush(stdout) != 0)) {
      if (errno == EPIPE) return printed;  // The reader went away (`| head`): done.
      return io::posix::ErrnoStatus(errno, "cannot write to stdout");
    }
    if (options.max_messages.has_value() && printed >= *options.max_messages) return printed;
    if (!records->empty()) progress_deadline = session.Deadline();
    for (auto it = end_offsets.begin(); it != end_offsets.end();) {
      absl::StatusOr<core::Offset> position =
          consumer.Position({options.topic, it->first}, session.Deadline());
      if (!position.ok()) return position.status();
      const bool done = static_cast<int64_t>(position->value()) >= it->second;
      it = done ? end_offsets.erase(it) : std::next(it);
    }
    if (!options.follow && !end_offsets.empty() && session.rt().Now() > progress_deadline) {
      return absl::DeadlineExceededError(fmt::format(
          "no records for {} s from partitions {} (not yet at their end offsets)",
          std::chrono::duration_cast<std::chrono::seconds>(session.timeout()).count(),
          absl::StrJoin(
              end_offsets, ",",
              absl::PairFormatter(absl::AlphaNumFormatter(), " < ", absl::AlphaNumFormatter()))));
    }
  }
  return printed;
}

// Assigns the partitions and seeks each to where the options say reading starts.
absl::Status StartConsumer(const ConsumeOptions& options, const std::vector<uint32_t>& partitions,
                           core::client::Consumer& consumer) {
  std::vector<core::client::TopicPartition> assignment;
  for (uint32_t partition : partitions) assignment.push_back({options.topic, partition});
  if (absl::Status assigned = consumer.Assign(assignment); !assigned.ok()) return assigned;
  for (const core::client::TopicPartition& tp : assignment) {
    absl::Status sought;
    switch (options.start) {
      case ConsumeOptions::Start::kBeginning:
        sought = consumer.SeekToBeginning(tp);
        break;
      case ConsumeOptions::Start::kOffset:
        sought = consumer.Seek(tp, core::Offset(options.offset));
        break;
      case ConsumeOptions::Start::kEnd:
        sought = consumer.SeekToEnd(tp);
        break;
    }
    if (!sought.ok()) return sought;
  }
  return absl::OkStatus();
}

int RunGroupConsume(Session& session, const ConsumeOptions& options);

int RunConsume(Session& session, const Args& args) {
  absl::StatusOr<ConsumeOptions> options = ParseConsumeOptions(args);
  if (!options.ok()) return session.UsageError(options.status());
  absl::StatusOr<core::wire::TopicInfoT> topic = session.Topic(options->topic);
  if (!topic.ok()) return session.Fail(topic.status());
  if (options->group.has_value()) return RunGroupConsume(session, *options);
  const uint32_t count = static_cast<uint32_t>(topic->partitions.size());
  std::vector<uint32_t> partitions;
  for (uint32_t p = 0; p < count; p++) {
    if (!options->partition.has_value() || *options->partition == p) partitions.push_back(p);
  }
  if (partitions.empty()) {
    return session.Fail(fmt::format("topic '{}' has {} partitions; there is no partition {}",
                                    options->topic, count, *options->partition));
  }
  absl::btree_map<uint32_t, int64_t> end_offsets;  // Without --follow: where reading stops.
  for (uint32_t p : partitions) {
    if (options->follow) break;
    absl::StatusOr<int64_t> end = HighWatermark(session, options->topic, p);
    if (!end.ok()) return session.Fail(end.status());
    // Starting at (or past) the end, there is nothing to read below the end.
    const bool empty =
        options->start == ConsumeOptions::Start::kEnd ||
        (options->start == ConsumeOptions::Start::kOffset && options->offset >= *end);
    if (!empty) end_offsets[p] = *end;
  }
  core::client::ConsumerOptions consumer_options;
  consumer_options.client_region = options->region;
  // An explicit --offset outside the log is an error to report, not a position to replace.
  consumer_options.auto_offset_reset =
      options->start == ConsumeOptions::Start::kEnd      ? core::client::OffsetReset::kLatest
      : options->start == ConsumeOptions::Start::kOffset ? core::client::OffsetReset::kNone
                                                         : core::client::OffsetReset::kEarliest;
  core::client::Consumer consumer(session.client(), consumer_options);
  absl::StatusOr<uint64_t> printed = uint64_t{0};
  if (options->follow || !end_offsets.empty()) {
    absl::Status started = StartConsumer(*options, partitions, consumer);
    printed = started.ok() ? ConsumeLoop(session, *options, consumer, end_offsets) : started;
  }
  consumer.Close();
  // Ctrl-C: the end of --follow, an interruption otherwise (RunCommand sets the exit code).
  if (!printed.ok() && absl::IsCancelled(printed.status())) return kExitOk;
  if (!printed.ok()) return session.Fail(Explain(printed.status(), options->topic));
  fmt::print(stderr, "consumed {} records from '{}'\n", *printed, options->topic);
  return kExitOk;
}

// ------------------------------------------------------------------------------------------
// Consumer groups: consume --group, group list|describe|reset-offsets.

// Whether every partition in `ends` has reached its end offset.
bool GroupAtEnd(Session& session, core::client::GroupConsumer& consumer, const std::string& topic,
                const absl::btree_map<uint32_t, int64_t>& ends) {
  for (const auto& [partition, end] : ends) {
    absl::StatusOr<int64_t> position = consumer.Position({topic, partition}, session.Deadline());
    if (!position.ok() || *position < end) return false;
  }
  return true;
}

// What the CLI has printed, per partition of the current assignment: the offset after the last
// record written to stdout. Only these positions are committed (--max-messages may cut a poll).
struct PrintedPositions {
  std::string topic;
  absl::btree_map<uint32_t, int64_t> next;
  io::Instant next_commit;

  std::vector<std::pair<core::client::TopicPartition, int64_t>> List() const {
    std::vector<std::pair<core::client::TopicPartition, int64_t>> out;
    for (const auto& [partition, offset] : next) out.push_back({{topic, partition}, offset});
    return out;
  }
};

absl::StatusOr<uint64_t> GroupConsumeLoop(Session& session, const ConsumeOptions& options,
                                          core::client::GroupConsumer& consumer,
                                          PrintedPositions& printed_to) {
  absl::btree_map<uint32_t, int64_t> ends;  // Of the current assignment (without --follow).
  bool assigned = false;
  absl::Status assign_error;
  consumer.on_assign = [&](const core::client::GroupAssignmentEvent& event) {
    assigned = true;
    ends.clear();
    printed_to.next.clear();
    for (const core::client::TopicPartition& tp : event.partitions) {
      if (options.follow) break;
      absl::StatusOr<int64_t> end = HighWatermark(session, options.topic, tp.partition);
      if (!end.ok()) assign_error = end.status();
      if (end.ok()) ends[tp.partition] = *end;
    }
  };
  uint64_t printed = 0;
  io::Instant progress_deadline = session.Deadline();
  while (true) {
    if (session.rt().Now() >= printed_to.next_commit && !printed_to.next.empty()) {
      printed_to.next_commit = session.rt().Now() + std::chrono::seconds(5);
      (void)consumer.Commit(printed_to.List());  // A failure is retried by the next one.
    }
    absl::StatusOr<std::vector<core::client::ConsumedRecord>> records = consumer.Poll(kPollWait);
    if (!assign_error.ok()) return assign_error;
    const bool retriable = !records.ok() && !absl::IsCancelled(records.status()) &&
                           session.rt().Now() < progress_deadline;
    if (!records.ok() && !retriable) return records.status();
    if (!records.ok()) continue;  // A rebalance or a coordinator move: Poll rejoins.
    std::string out;
    for (const core::client::ConsumedRecord& record : *records) {
      if (options.max_messages.has_value() && printed >= *options.max_messages) break;
      out += FormatRecord(options, record);
      printed_to.next[record.partition] = static_cast<int64_t>(record.offset.value()) + 1;
      printed++;
    }
    if (!out.empty() && fwrite(out.data(), 1, out.size(), stdout) != out.size()) {
      return io::posix::ErrnoStatus(errno, "cannot write to stdout");
    }
    fflush(stdout);
    if (options.max_messages.has_value() && printed >= *options.max_messages) return printed;
    if (!records->empty()) progress_deadline = session.Deadline();
    if (!options.follow && assigned && GroupAtEnd(session, consumer, options.topic, ends)) {
      return printed;
    }
  }
}

int RunGroupConsume(Session& session, const ConsumeOptions& options) {
  core::client::GroupConsumerOptions group;
  group.group = *options.group;
  group.topics = {options.topic};
  group.auto_commit = false;  // The CLI commits what it printed (PrintedPositions).
  group.consumer.client_region = options.region;
  group.consumer.auto_offset_reset = options.start == ConsumeOptions::Start::kBeginning
                                         ? core::client::OffsetReset::kEarliest
                                         : core::client::OffsetReset::kLatest;
  core::client::GroupConsumer consumer(session.client(), group);
  PrintedPositions printed_to{options.topic, {}, session.rt().Now() + std::chrono::seconds(5)};
  absl::StatusOr<uint64_t> printed = GroupConsumeLoop(session, options, consumer, printed_to);
  // What was printed is committed on the way out, and the group left (Ctrl-C included).
  absl::Status committed;
  session.Uncancelled("group-consume-exit", [&] {
    if (!printed_to.next.empty()) committed = consumer.Commit(printed_to.List());
    consumer.Close();
  });
  if (!printed.ok() && !absl::IsCancelled(printed.status())) {
    return session.Fail(Explain(printed.status(), options.topic));
  }
  if (!committed.ok())
    return session.Fail(fmt::format("commit: {}", std::string(committed.message())));
  fmt::print(stderr, "consumed {} records from '{}' as group '{}' (generation {})\n",
             printed.value_or(0), options.topic, *options.group, consumer.generation());
  return kExitOk;
}

std::string Partitions(
    const std::vector<std::unique_ptr<core::wire::TopicPartitionsT>>& assignment) {
  std::vector<std::string> parts;
  for (const auto& topic : assignment) {
    if (topic != nullptr)
      parts.push_back(fmt::format("{}/{}", topic->topic, absl::StrJoin(topic->partitions, ",")));
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, " ");
}

int RunGroupList(Session& session, const Args&) {
  if (absl::StatusOr<core::wire::MetadataResponseT> m = session.Connect(); !m.ok()) {
    return session.Fail(m.status());
  }
  auto groups = session.client().DescribeGroups("");
  if (!groups.ok()) return session.Fail(groups.status());
  Table table;
  table.Row({"GROUP", "STATE", "GENERATION", "ASSIGNOR", "MEMBERS"});
  for (const auto& group : *groups) {
    table.Row({group->group, group->state, std::to_string(group->generation),
               core::wire::EnumNameAssignor(group->assignor),
               std::to_string(group->members.size())});
  }
  table.Print(stdout, "");
  return kExitOk;
}

int RunGroupDescribe(Session& session, const Args& args) {
  const std::string& name = args.words[0];
  if (absl::StatusOr<core::wire::MetadataResponseT> m = session.Connect(); !m.ok()) {
    return session.Fail(m.status());
  }
  auto groups = session.client().DescribeGroups(name);
  if (!groups.ok()) return session.Fail(groups.status());
  if (groups->empty()) {
    return session.Fail(
        fmt::format("group '{}' does not exist (nobody joined it or committed "
                    "for it)",
                    name));
  }
  const core::wire::GroupInfoT& group = *groups->front();
  fmt::print("group '{}': {}, generation {}, assignor {}, {} members\n", group.group, group.state,
             group.generation, core::wire::EnumNameAssignor(group.assignor), group.members.size());
  Table members;
  members.Row({"MEMBER", "CLIENT", "PARTITIONS"});
  for (const auto& m : group.members)
    members.Row({m->member_id, m->client_id, Partitions(m->assignment)});
  if (!group.members.empty()) members.Print(stdout, "  ");
  Table offsets;
  offsets.Row({"TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG"});
  for (const auto& offset : group.offsets) {
    absl::StatusOr<int64_t> end = HighWatermark(session, offset->topic, offset->partition);
    offsets.Row({offset->topic, std::to_string(offset->partition), std::to_string(offset->offset),
                 end.ok() ? std::to_string(*end) : "?",
                 end.ok() ? std::to_string(std::max<int64_t>(0, *end - offset->offset)) : "?"});
  }
  offsets.Print(stdout, "  ");
  return kExitOk;
}

// Where --to-earliest / --to-latest / --to-offset put `partition`.
absl::StatusOr<int64_t> ResetTarget(Session& session, const Args& args, const std::string& topic,
                                    uint32_t partition) {
  if (args.Has("to-offset")) {
    return IntFlag(args, "to-offset", 0, std::numeric_limits<int64_t>::max(), 0);
  }
  if (args.Has("to-latest")) return HighWatermark(session, topic, partition);
  core::wire::ListOffsetsRequestT request;
  request.topic = topic;
  request.partition = partition;
  request.spec = core::wire::OffsetSpec::Earliest;
  absl::StatusOr<core::wire::ListOffsetsResponseT> earliest =
      core::client::TakeBody<core::wire::ListOffsetsResponseT>(
          session.client().CallPartitionLeader(topic, partition, core::wire::Message(0, request),
                                               session.Deadline()),
          [](core::wire::BodyUnion& body) { return body.AsListOffsetsResponse(); },
          "ListOffsetsResponse");
  if (!earliest.ok()) return earliest.status();
  return earliest->offset;
}

int RunGroupResetOffsets(Session& session, const Args& args) {
  const std::string& name = args.words[0];
  const int targets = args.Has("to-earliest") + args.Has("to-latest") + args.Has("to-offset");
  if (!args.Has("topic") || targets != 1) {
    return session.UsageError(absl::InvalidArgumentError(
        "needs --topic and exactly one of --to-earliest, --to-latest, --to-offset"));
  }
  const std::string topic_name = args.Value("topic");
  absl::StatusOr<core::wire::TopicInfoT> topic = session.Topic(topic_name);
  if (!topic.ok()) return session.Fail(topic.status());
  std::optional<uint32_t> only;
  if (args.Has("partition")) {
    absl::StatusOr<int64_t> p =
        IntFlag(args, "partition", 0, static_cast<int64_t>(topic->partitions.size()) - 1, 0);
    if (!p.ok()) return session.UsageError(p.status());
    only = static_cast<uint32_t>(*p);
  }
  std::vector<std::unique_ptr<core::wire::PartitionOffsetT>> offsets;
  for (uint32_t p = 0; p < topic->partitions.size(); p++) {
    if (only.has_value() && *only != p) continue;
    absl::StatusOr<int64_t> target = ResetTarget(session, args, topic_name, p);
    if (!target.ok()) return session.Fail(Explain(target.status(), topic_name));
    auto offset = std::make_unique<core::wire::PartitionOffsetT>();
    offset->topic = topic_name;
    offset->partition = p;
    offset->offset = *target;
    offsets.push_back(std::move(offset));
  }
  const size_t count = offsets.size();
  absl::Status committed =
      session.client().CommitOffsets(name, "", -1, std::move(offsets), session.Deadline());
  if (core::client::WireErrorCode(committed) == core::wire::ErrorCode::GroupNotEmpty) {
    return session.Fail(fmt::format("group '{}' has members ({}); stop its consumers first", name,
                                    std::string(committed.message())));
  }
  if (!committed.ok()) return session.Fail(Explain(committed, topic_name));
  fmt::print("reset {} partitions of '{}' for group '{}'\n", count, topic_name, name);
  return kExitOk;
}

int RunGroupDelete(Session& session, const Args& args) {
  const std::string& name = args.words[0];
  if (name.empty() || name.size() > core::wire::kNameBytesMax) {
    return session.UsageError(absl::InvalidArgumentError(
        fmt::format("a group name has 1 to {} bytes", core::wire::kNameBytesMax)));
  }
  if (absl::StatusOr<core::wire::MetadataResponseT> m = session.Connect(); !m.ok()) {
    return session.Fail(m.status());
  }
  const absl::Status deleted = session.client().DeleteGroup(name);
  const std::optional<core::wire::ErrorCode> code = core::client::WireErrorCode(deleted);
  if (code == core::wire::ErrorCode::GroupIdNotFound) {
    return session.Fail(fmt::format("group '{}' does not exist", name));
  }
  if (code == core::wire::ErrorCode::GroupNotEmpty) {
    return session.Fail(fmt::format("group '{}' has live members; stop its consumers first ({})",
                                    name, std::string(deleted.message())));
  }
  if (!deleted.ok()) return session.Fail(deleted);
  fmt::print("deleted group '{}'\n", name);
  return kExitOk;
}

// ------------------------------------------------------------------------------------------
// cluster status.

using ReplicaReports =
    absl::btree_map<uint32_t, absl::StatusOr<core::wire::ReplicaStatusResponseT>>;

// Asks every node in `metadata` for its replicas, all at once, each within
// kReplicaStatusTimeout, so a dead node costs one timeout and not one per node.
ReplicaReports AskEveryNode(Session& session, const core::wire::MetadataResponseT& metadata) {
  ReplicaReports reports;
  std::vector<io::FiberId> askers;
  const io::Instant deadline =
      std::min(session.Deadline(), session.rt().Now() + kReplicaStatusTimeout);
  for (const auto& node : metadata.nodes) {
    if (node == nullptr || node->id == 0) continue;
    const uint32_t id = node->id;
    reports.emplace(id, absl::UnknownError("not asked"));
    askers.push_back(session.rt().Spawn("replica-status", [&session, &reports, id, deadline] {
      reports.at(id) = core::client::TakeBody<core::wire::ReplicaStatusResponseT>(
          session.client().CallNode(io::NodeId(id),
                                    core::wire::Message(0, core::wire::ReplicaStatusRequestT{}),
                                    deadline),
          [](core::wire::BodyUnion& body) { return body.AsReplicaStatusResponse(); },
          "ReplicaStatusResponse");
    }));
  }
  for (io::FiberId asker : askers) session.rt().scheduler().Join(asker);
  return reports;
}

void PrintNodes(const core::wire::MetadataResponseT& metadata, const ReplicaReports& reports) {
  fmt::print("controller leader: {}\n", metadata.controller_leader == 0
                                            ? std::string("unknown")
                                            : fmt::format("node {}", metadata.controller_leader));
  fmt::print("nodes ({}):\n", metadata.nodes.size());
  Table table;
  table.Row({"NODE", "REGION", "ZONE", "ADDRESS", "STATUS"});
  for (const auto& node : metadata.nodes) {
    if (node == nullptr) continue;
    auto report = reports.find(node->id);
    std::string status = "unreachable";
    if (report != reports.end() && report->second.ok()) {
      status = fmt::format("up, {} replicas", report->second->replicas.size());
    } else if (report != reports.end()) {
      status = fmt::format("unreachable ({})", std::string(report->second.status().message()));
    }
    table.Row({std::to_string(node->id), node->region, node->zone,
               io::Address{node->host, node->port}.ToString(), status});
  }
  table.Print(stdout, "  ");
}

// One partition's row: the leader is the replica that says it leads in the highest term (the
// metadata's view when none answers); lag is the leader's high watermark minus each replica's.
std::vector<std::string> PartitionRow(const std::string& topic,
                                      const core::wire::PartitionInfoT& info,
                                      const ReplicaReports& reports) {
  absl::btree_map<uint32_t, const core::wire::ReplicaStatusT*> views;
  for (uint32_t replica : info.replicas) {
    auto report = reports.find(replica);
    if (report == reports.end() || !report->second.ok()) continue;
    for (const auto& status : report->second->replicas) {
      if (status != nullptr && status->topic == topic && status->partition == info.partition) {
        views[replica] = status.get();
      }
    }
  }
  uint32_t leader = info.leader;
  uint64_t term = info.leader_term;
  const core::wire::ReplicaStatusT* leading = nullptr;
  for (const auto& [replica, view] : views) {
    if (view->role == "leader" && (leading == nullptr || view->term > leading->term)) {
      leading = view;
      leader = replica;
      term = view->term;
    }
  }
  int64_t high_watermark = -1;
  if (leading != nullptr) high_watermark = leading->high_watermark;
  for (const auto& [replica, view] : views) {
    if (leading == nullptr) high_watermark = std::max(high_watermark, view->high_watermark);
  }
  std::vector<std::string> replicas;
  for (uint32_t replica : info.replicas) {
    auto view = views.find(replica);
    if (view == views.end()) {
      replicas.push_back(fmt::format("{}:unreachable", replica));
    } else {
      replicas.push_back(fmt::format("{}:{}(lag {})", replica, view->second->high_watermark,
                                     high_watermark - view->second->high_watermark));
    }
  }
  return {topic,
          std::to_string(info.partition),
          NodeName(leader),
          leader == 0 ? "-" : std::to_string(term),
          high_watermark < 0 ? "-" : std::to_string(high_watermark),
          absl::StrJoin(replicas, " ")};
}

int RunClusterStatus(Session& session, const Args& args) {
  absl::StatusOr<core::wire::MetadataResponseT> metadata = session.Connect();
  if (!metadata.ok()) return session.Fail(metadata.status());
  const ReplicaReports reports = AskEveryNode(session, *metadata);
  PrintNodes(*metadata, reports);
  fmt::print("partitions:\n");
  Table table;
  table.Row({"TOPIC", "PARTITION", "LEADER", "TERM", "HIGH_WATERMARK",
             "REPLICAS (node:high_watermark(lag))"});
  for (const auto& topic : metadata->topics) {
    if (topic == nullptr) continue;
    for (const auto& partition : topic->partitions) {
      if (partition != nullptr) table.Row(PartitionRow(topic->name, *partition, reports));
    }
  }
  table.Print(stdout, "  ");
  return kExitOk;
}

// ------------------------------------------------------------------------------------------
// quota set | describe.

constexpr char kQuotaSetUsage[] =
    "Usage: meridian quota set (--client=ID | --topic=NAME) [--bytes-per-s=N]\n"
    "                          [--requests-per-s=N] [--remove]\n\n"
    "Records a quota for a client id (its HelloRequest's) or a topic at the controller; every\n"
    "node enforces it on produce and fetch (bytes: produced + fetched). 0 or absent: unlimited.\n"
    "--remove forgets it (the node defaults apply again).\n";
constexpr char kQuotaDescribeUsage[] =
    "Usage: meridian quota describe\n\nThe quotas the controller recorded and the answering "
    "node's defaults (0: unlimited).\n";

int RunQuotaSet(Session& session, const Args& args) {
  if (args.Has("client") == args.Has("topic")) {
    return session.UsageError(absl::InvalidArgumentError("give one of --client or --topic"));
  }
  core::wire::QuotaEntryT quota;
  quota.subject =
      args.Has("client") ? core::wire::QuotaSubject::Client : core::wire::QuotaSubject::Topic;
  quota.name = args.Value(args.Has("client") ? "client" : "topic");
  const int64_t rate_max = static_cast<int64_t>(core::cluster::kQuotaPerSecondMax);
  absl::StatusOr<int64_t> bytes = IntFlag(args, "bytes-per-s", 0, rate_max, 0);
  absl::StatusOr<int64_t> requests = IntFlag(args, "requests-per-s", 0, rate_max, 0);
  if (!bytes.ok()) return session.UsageError(bytes.status());
  if (!requests.ok()) return session.UsageError(requests.status());
  quota.bytes_per_s = static_cast<uint64_t>(*bytes);
  quota.requests_per_s = static_cast<uint64_t>(*requests);
  if (absl::Status s = core::cluster::ValidateQuota(quota.subject, quota.name, quota.bytes_per_s,
                                                    quota.requests_per_s);
      !s.ok()) {
    return session.UsageError(s);
  }
  if (absl::StatusOr<core::wire::MetadataResponseT> metadata = session.Connect(); !metadata.ok()) {
    return session.Fail(metadata.status());
  }
  const std::string name = quota.name;
  const bool remove = args.Has("remove");
  if (absl::Status set = session.client().SetQuota(std::move(quota), remove); !set.ok()) {
    return session.Fail(set);
  }
  fmt::print("{} quota of {}\n", remove ? "removed the" : "set the", name);
  return kExitOk;
}

std::string Rate(uint64_t value, std::string_view unit) {
  return value == 0 ? "unlimited" : fmt::format("{} {}/s", value, unit);
}

int RunQuotaDescribe(Session& session, const Args&) {
  absl::StatusOr<core::wire::DescribeQuotasResponseT> quotas = session.client().DescribeQuotas();
  if (!quotas.ok()) return session.Fail(quotas.status());
  const auto line = [](std::string_view who, const core::wire::QuotaEntryT* quota) {
    if (quota == nullptr) return;
    fmt::print("{:<32} {:>24} {:>24}\n", who, Rate(quota->bytes_per_s, "bytes"),
               Rate(quota->requests_per_s, "requests"));
  };
  fmt::print("{:<32} {:>24} {:>24}\n", "SUBJECT", "BYTES", "REQUESTS");
  line("default client", quotas->client_default.get());
  line("default topic", quotas->topic_default.get());
  for (const auto& quota : quotas->quotas) {
    if (quota == nullptr) continue;
    const bool client = quota->subject == core::wire::QuotaSubject::Client;
    line(fmt::format("{} {}", client ? "client" : "topic", quota->name), quota.get());
  }
  return kExitOk;
}

// ------------------------------------------------------------------------------------------
// Dispatch and the process around a subcommand.

std::vector<FlagSpec> ConsumeFlags() {
  return {{"partition", true},  {"from-beginning", false}, {"offset", true},
          {"follow", false},    {"max-messages", true},    {"print-offset", false},
          {"print-key", false}, {"key-separator", true},   {"group", true},
          {"region", true}};
}

std::vector<Command> TopicCommands() {
  return {
      {"topic create",
       kTopicCreateUsage,
       {{"partitions", true},
        {"replication-factor", true},
        {"retention-bytes", true},
        {"retention-ms", true},
        {"consistency", true},
        {"home-region", true},
        {"observers-per-region", true},
        {"voters-in", true},
        {"observers-in", true}},
       1,
       RunTopicCreate},
      {"topic list", kTopicListUsage, {}, 0, RunTopicList},
      {"topic describe", kTopicDescribeUsage, {}, 1, RunTopicDescribe},
      {"topic delete", kTopicDeleteUsage, {}, 1, RunTopicDelete},
      {"topic add-partitions",
       kTopicAddPartitionsUsage,
       {{"total", true}},
       1,
       RunTopicAddPartitions},
      {"topic alter",
       kTopicAlterUsage,
       {{"retention-bytes", true},
        {"retention-ms", true},
        {"validate-only", false},
        {"consistency", true},
        {"home-region", true},
        {"observers-per-region", true},
        {"voters-in", true},
        {"observers-in", true}},
       1,
       RunTopicAlter},
      {"topic promote", kTopicPromoteUsage, {{"partition", true}}, 1, RunTopicPromote},
      {"topic reassign",
       kTopicReassignUsage,
       {{"partition", true}, {"replicas", true}, {"observers", true}},
       1,
       RunTopicReassign},
  };
}

std::vector<Command> Commands() {
  std::vector<Command> commands = TopicCommands();
  std::vector<Command> others = {
      {"produce",
       kProduceUsage,
       {{"file", true}, {"key-separator", true}, {"acks", true}, {"no-idempotence", false}},
       1,
       RunProduce},
      {"consume", kConsumeUsage, ConsumeFlags(), 1, RunConsume},
      {"cluster status", kClusterStatusUsage, {}, 0, RunClusterStatus},
      {"group list", kGroupListUsage, {}, 0, RunGroupList},
      {"group describe", kGroupDescribeUsage, {}, 1, RunGroupDescribe},
      {"group reset-offsets",
       kGroupResetOffsetsUsage,
       {{"topic", true},
        {"partition", true},
        {"to-earliest", false},
        {"to-latest", false},
        {"to-offset", true}},
       1,
       RunGroupResetOffsets},
      {"group delete", kGroupDeleteUsage, {}, 1, RunGroupDelete},
      {"quota set",
       kQuotaSetUsage,
       {{"client", true},
        {"topic", true},
        {"bytes-per-s", true},
        {"requests-per-s", true},
        {"remove", false}},
       0,
       RunQuotaSet},
      {"quota describe", kQuotaDescribeUsage, {}, 0, RunQuotaDescribe},
      // No cluster involved: Main runs it without a runtime (node/cli_tls.h).
      {"certs",
       kCertsUsage,
       {{"dir", true}, {"cluster-id", true}, {"nodes", true}, {"clients", true}},
       0,
       nullptr},
  };
  for (Command& command : others) commands.push_back(std::move(command));
  return commands;
}

// The command named by the first words ("produce", "topic create"), or nullptr; `group` is set
// to "topic"/"cluster"/"group" when only the group matched.
const Command* FindCommand(const std::vector<Command>& commands,
                           const std::vector<std::string>& words, std::string* group) {
  if (words.empty()) return nullptr;
  for (const Command& command : commands) {
    const size_t space = command.name.find(' ');
    if (space == std::string_view::npos) {
      if (command.name == words[0]) return &command;
      continue;
    }
    if (command.name.substr(0, space) != words[0]) continue;
    *group = words[0];
    if (words.size() > 1 && command.name.substr(space + 1) == words[1]) return &command;
  }
  return nullptr;
}

void PrintUsage(std::FILE* out, std::string_view usage) {
  fmt::print(out, "{}\n{}\n{}", usage, kGlobalFlagsText, kExitCodesText);
}

sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

// SIGINT/SIGTERM arrive on a signalfd: the first cancels the subcommand's fiber (its waits end
// with Cancelled and it returns), a second stops the runtime outright.
void CancelOnSignals(PosixRuntime& rt, io::FiberId command, bool* interrupted) {
  const sigset_t signals = StopSignals();
  const int fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return;  // Signals then keep their default action (ending the process).
  rt.Spawn("signals", [&rt, fd, command, interrupted] {
    std::unique_ptr<io::posix::FdWatch> watch = rt.Watch(fd);
    while (true) {
      signalfd_siginfo info{};
      if (read(fd, &info, sizeof(info)) == sizeof(info)) {
        if (*interrupted) rt.Stop();
        *interrupted = true;
        rt.scheduler().Cancel(command);
        continue;
      }
      watch->readable = false;
      if (!rt.WaitReady(*watch, io::posix::Readiness::kReadable, io::Instant::Infinite()).ok()) {
        break;
      }
    }
    rt.Unwatch(*watch);
    close(fd);
  });
}

// A private data directory for the runtime (it wants one, and locks it), removed by the caller.
absl::StatusOr<std::string> MakeTempDir() {
  const char* tmpdir = getenv("TMPDIR");
  std::string pattern =
      fmt::format("{}/meridian-cli.XXXXXX", tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp");
  if (mkdtemp(pattern.data()) == nullptr) {
    return io::posix::ErrnoStatus(errno, fmt::format("cannot create {}", pattern));
  }
  return pattern;
}

// Runs `command` on a fresh runtime and client. Returns the exit code.
int RunCommand(const Command& command, const Args& args, const std::vector<io::Address>& bootstrap,
               io::Duration timeout, std::shared_ptr<io::posix::TlsContext> tls) {
  const std::string bootstrap_text = args.Value("bootstrap", "127.0.0.1:9092");
  absl::StatusOr<std::string> data_dir = MakeTempDir();
  if (!data_dir.ok()) {
    fmt::print(stderr, "meridian {}: {}\n", command.name, std::string(data_dir.status().message()));
    return kExitFailure;
  }
  const sigset_t stop_signals = StopSignals();
  (void)pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // Before the helper thread starts.
  io::posix::PosixOptions posix;
  posix.data_dir = *data_dir;
  posix.security.client_tls = std::move(tls);
  int exit_code = kExitFailure;
  bool interrupted = false;
  absl::StatusOr<std::unique_ptr<PosixRuntime>> runtime = PosixRuntime::Create(posix);
  if (!runtime.ok()) {
    fmt::print(stderr, "meridian {}: cannot start: {}\n", command.name,
               std::string(runtime.status().message()));
  } else {
    PosixRuntime& rt = **runtime;
    core::client::Client client(
        rt, {.bootstrap = bootstrap, .client_id = "meridian-cli", .request_timeout = timeout});
    const io::FiberId fiber = rt.Spawn("command", [&] {
      Session session(rt, client, std::string(command.name), bootstrap_text, timeout);
      exit_code = command.run(session, args);
      client.Close();
      rt.Stop();
    });
    CancelOnSignals(rt, fiber, &interrupted);
    rt.Run();
    runtime->reset();  // Unwinds every fiber while the client they use still exists.
  }
  std::error_code ignored;
  std::filesystem::remove_all(*data_dir, ignored);
  if (interrupted && exit_code == kExitOk && !(command.name == "consume" && args.Has("follow"))) {
    exit_code = kExitFailure;
  }
  return exit_code;
}

int Main(int argc, char** argv) {
  const std::vector<Command> commands = Commands();
  absl::StatusOr<Args> args = ParseArgs(argc, argv, commands);
  if (!args.ok()) {
    fmt::print(stderr, "meridian: {} (see 'meridian --help')\n",
               std::string(args.status().message()));
    return kExitUsage;
  }
  std::string group;
  const Command* command = FindCommand(commands, args->words, &group);
  if (command == nullptr) {
    if (args->help && args->words.size() <= (group.empty() ? 0u : 1u)) {
      PrintUsage(stdout, kToolUsage);
      return kExitOk;
    }
    const std::string what = args->words.empty() ? "no subcommand given"
                             : group.empty()
                                 ? fmt::format("unknown subcommand '{}'", args->words[0])
                                 : fmt::format("'{}' needs one of its subcommands", group);
    fmt::print(stderr, "meridian: {} (see 'meridian --help')\n", what);
    return kExitUsage;
  }
  const std::string name(command->name);
  if (args->help) {
    PrintUsage(stdout, command->usage);
    return kExitOk;
  }
  const size_t name_words = group.empty() ? 1 : 2;
  args->words.erase(args->words.begin(), args->words.begin() + name_words);
  absl::Status checked = CheckFlags(*command, *args);
  if (checked.ok() && args->words.size() != command->positional) {
    checked = absl::InvalidArgumentError(
        command->positional == 0 ? fmt::format("unexpected argument '{}'", args->words[0])
                                 : fmt::format("expected {} argument(s), got {}",
                                               command->positional, args->words.size()));
  }
  if (checked.ok() && command->run == nullptr) {
    return RunCerts(args->Value("dir"), args->Value("cluster-id"), args->Value("nodes"),
                    args->Value("clients"));
  }
  absl::StatusOr<std::shared_ptr<io::posix::TlsContext>> tls =
      checked.ok() ? ClientTlsFromFlags(args->Value("tls-ca"), args->Value("tls-cert"),
                                        args->Value("tls-key"))
                   : checked;
  if (!tls.ok()) checked = tls.status();
  absl::StatusOr<std::vector<io::Address>> bootstrap =
      checked.ok() ? ParseBootstrap(args->Value("bootstrap", "127.0.0.1:9092")) : checked;
  double timeout_s = 30;
  if (bootstrap.ok() && args->Has("timeout") &&
      (!absl::SimpleAtod(args->Value("timeout"), &timeout_s) || !(timeout_s > 0) ||
       timeout_s > 86400)) {
    bootstrap = absl::InvalidArgumentError(fmt::format(
        "--timeout='{}' is not a number of seconds in (0, 86400]", args->Value("timeout")));
  }
  if (!bootstrap.ok()) {
    fmt::print(stderr, "meridian {}: {} (see 'meridian {} --help')\n", name,
               std::string(bootstrap.status().message()), name);
    return kExitUsage;
  }
  const io::Duration timeout =
      std::chrono::duration_cast<io::Duration>(std::chrono::duration<double>(timeout_s));
  return RunCommand(*command, *args, *bootstrap, timeout, *tls);
}

}  // namespace
}  // namespace meridian::node

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // A closed stdout is an EPIPE write error, handled where written.
  return meridian::node::Main(argc, argv);
}
