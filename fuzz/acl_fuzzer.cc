// Fuzz target: the ACL rules file (core/broker/acl.h), which an operator writes and
// meridian-node hands to AccessControl::Parse at start-up. Careless input must give a clear
// error, never a crash; and a file that parses must mean what the format says.
//
// Input: any bytes, read as the rules file. Checked:
//   - Parse returns rules or InvalidArgument "line N: ..." with N a line of the input;
//   - it agrees with a reference reading of the format written here independently (one rule a
//     line, `#` to the end of the line is a comment, three words split on space/tab/CR, the
//     operations a comma list of produce/consume/admin/all): the same verdict (rules or error)
//     and the same rule count;
//   - when both accept, Allows gives the reference's answer for every principal and topic the
//     text names (and every prefix of each topic, anonymous, and a name no rule names), for each
//     operation; cluster nodes and open requests are always allowed, cluster-only requests never
//     to a client;
//   - appending `* * all` to an accepted file allows everything.
// Seeds: fuzz/corpus/acl (make_corpus.cc).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/broker/acl.h"
#include "io/assert.h"

namespace meridian::fuzz {
namespace {

using core::broker::AccessControl;
using core::broker::Operation;
using core::broker::Principal;
using core::broker::RequiredAccess;

constexpr Operation kOperations[] = {Operation::kProduce, Operation::kConsume, Operation::kAdmin};
constexpr size_t kNamesChecked = 48;  // Keeps one input's queries to a few thousand.

struct ReferenceRule {
  std::string principal;
  std::string topic;
  std::set<Operation> operations;
};

std::vector<std::string> SplitWords(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  for (const char c : line) {
    if (c == ' ' || c == '\t' || c == '\r') {
      if (!word.empty()) words.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

std::optional<std::set<Operation>> ReferenceOperations(const std::string& list) {
  std::set<Operation> operations;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    const std::string word = list.substr(start, comma - start);
    if (word == "all") {
      operations.insert(std::begin(kOperations), std::end(kOperations));
    } else if (word == "produce") {
      operations.insert(Operation::kProduce);
    } else if (word == "consume") {
      operations.insert(Operation::kConsume);
    } else if (word == "admin") {
      operations.insert(Operation::kAdmin);
    } else if (!word.empty()) {
      return std::nullopt;
    }
    start = comma + 1;
  }
  if (operations.empty()) return std::nullopt;
  return operations;
}

// The rules, or nullopt where the format says the file is wrong.
std::optional<std::vector<ReferenceRule>> ReferenceParse(std::string_view text) {
  std::vector<ReferenceRule> rules;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    const std::vector<std::string> words = SplitWords(line);
    if (words.empty()) continue;
    if (words.size() != 3) return std::nullopt;
    if (words[0].size() > AccessControl::kNameBytesMax) return std::nullopt;
    if (words[1].size() > AccessControl::kNameBytesMax) return std::nullopt;
    std::optional<std::set<Operation>> operations = ReferenceOperations(words[2]);
    if (!operations.has_value()) return std::nullopt;
    if (rules.size() == AccessControl::kRulesMax) return std::nullopt;
    rules.push_back({words[0], words[1], *operations});
  }
  return rules;
}

bool ReferenceAllows(const std::vector<ReferenceRule>& rules, const std::string& principal,
                     Operation operation, const std::string& topic) {
  for (const ReferenceRule& rule : rules) {
    if (rule.principal != "*" && rule.principal != principal) continue;
    if (!rule.operations.contains(operation)) continue;
    if (rule.topic == "*" || rule.topic == topic) return true;
    if (rule.topic.ends_with('*') &&
        topic.starts_with(std::string_view(rule.topic).substr(0, rule.topic.size() - 1))) {
      return true;
    }
  }
  return false;
}

// Principals and topics to ask about: the words the rules name, prefixes of the topics (so a
// `prefix*` rule is tried on both sides of its boundary), and names no rule names.
void NamesToCheck(const std::vector<ReferenceRule>& rules, std::set<std::string>* principals,
                  std::set<std::string>* topics) {
  principals->insert({core::broker::kAnonymousPrincipal, "nobody-named-this"});
  topics->insert({"", "no-topic-named-this"});
  for (const ReferenceRule& rule : rules) {
    if (principals->size() < kNamesChecked) principals->insert(rule.principal);
    for (size_t n = 0; n <= rule.topic.size() && topics->size() < kNamesChecked; n++) {
      topics->insert(rule.topic.substr(0, n));
      topics->insert(rule.topic.substr(0, n) + "x");
    }
  }
}

void CheckAllows(const AccessControl& acl, const std::vector<ReferenceRule>& rules) {
  std::set<std::string> principals;
  std::set<std::string> topics;
  NamesToCheck(rules, &principals, &topics);
  const Principal node{"any", /*cluster_node=*/true};
  for (const std::string& name : principals) {
    const Principal principal{name, false};
    MERIDIAN_CHECK(acl.Allows(principal, RequiredAccess{RequiredAccess::Kind::kOpen}));
    MERIDIAN_CHECK(!acl.Allows(principal, RequiredAccess{RequiredAccess::Kind::kClusterNode}));
    for (const std::string& topic : topics) {
      for (const Operation operation : kOperations) {
        const RequiredAccess access{RequiredAccess::Kind::kTopic, operation, topic};
        const bool allowed = acl.Allows(principal, access);
        MERIDIAN_CHECK(allowed == ReferenceAllows(rules, name, operation, topic),
                       "principal '{}' {} on '{}': Allows says {}", name,
                       core::broker::OperationName(operation), topic, allowed);
        MERIDIAN_CHECK(acl.Allows(node, access));
      }
    }
  }
}

void Run(std::string_view text) {
  absl::StatusOr<AccessControl> acl = AccessControl::Parse(text);
  const std::optional<std::vector<ReferenceRule>> reference = ReferenceParse(text);
  MERIDIAN_CHECK(acl.ok() == reference.has_value(), "Parse says {}, the format says {}",
                 acl.status().ToString(), reference.has_value() ? "valid" : "invalid");
  if (!acl.ok()) {
    MERIDIAN_CHECK(absl::IsInvalidArgument(acl.status()));
    const std::string message(acl.status().message());
    MERIDIAN_CHECK(message.starts_with("line "), "error without a line: {}", message);
    const size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    const size_t line = std::strtoull(std::string(message.substr(5)).c_str(), nullptr, 10);
    MERIDIAN_CHECK(line >= 1 && line <= lines, "line {} of {}", line, lines);
    return;
  }
  MERIDIAN_CHECK(acl->rule_count() == reference->size());
  MERIDIAN_CHECK(acl->rule_count() <= AccessControl::kRulesMax);
  CheckAllows(*acl, *reference);
  if (reference->size() == AccessControl::kRulesMax) return;  // One more rule is an error.
  absl::StatusOr<AccessControl> open = AccessControl::Parse(std::string(text) + "\n* * all");
  MERIDIAN_CHECK(open.ok(), "appending '* * all': {}", open.status().ToString());
  for (const Operation operation : kOperations) {
    MERIDIAN_CHECK(open->Allows(Principal{}, {RequiredAccess::Kind::kTopic, operation, "t"}));
  }
}

}  // namespace
}  // namespace meridian::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meridian::fuzz::Run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
