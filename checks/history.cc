#include "checks/history.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "checks/assert.h"
#include "checks/json.h"

namespace meridian::checks {

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kInvoke:
      return "invoke";
    case EventType::kOk:
      return "ok";
    case EventType::kFail:
      return "fail";
    case EventType::kInfo:
      return "info";
  }
  CHECKS_ASSERT_MSG(false, "unknown event type");
  return "";
}

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFail:
      return "fail";
    case Outcome::kInfo:
      return "info";
  }
  CHECKS_ASSERT_MSG(false, "unknown outcome");
  return "";
}

const char* FunctionName(Function f) {
  switch (f) {
    case Function::kSend:
      return "send";
    case Function::kPoll:
      return "poll";
    case Function::kCommit:
      return "commit";
    case Function::kAssign:
      return "assign";
    case Function::kRead:
      return "read";
    case Function::kWrite:
      return "write";
    case Function::kCas:
      return "cas";
  }
  CHECKS_ASSERT_MSG(false, "unknown function");
  return "";
}

bool IsLogFunction(Function f) {
  return f == Function::kSend || f == Function::kPoll || f == Function::kCommit ||
         f == Function::kAssign;
}

namespace {

// One line of the file, decoded but not yet paired. Optional fields are kept as "present" flags
// so that a completion may omit what its invocation said.
struct Event {
  int64_t line = 0;
  int64_t process = 0;
  EventType type = EventType::kInvoke;
  Function f = Function::kSend;
  int64_t time_ns = 0;
  std::optional<int64_t> partition;
  std::optional<std::vector<int64_t>> values;
  std::optional<std::vector<int64_t>> offsets;
  std::optional<std::vector<Read>> reads;
  std::optional<std::vector<Commit>> commits;
  std::optional<std::vector<Commit>> starts;
  std::optional<std::vector<int64_t>> partitions;
  std::optional<int64_t> generation;
  std::optional<int64_t> partition_count;
  std::optional<int64_t> producer;
  std::optional<int64_t> producer_seq;
  std::optional<std::string> key;
  std::optional<int64_t> value;  // kValueNone for null
  std::optional<int64_t> expected;
};

absl::Status FieldError(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrFormat("field \"%s\": %s", field, what));
}

absl::StatusOr<int64_t> NonNegativeInt(std::string_view field, const json::Value& v) {
  if (v.kind() != json::Kind::kInt) {
    return FieldError(field, absl::StrCat("expected an integer, found ", json::KindName(v.kind())));
  }
  if (v.as_int() < 0) return FieldError(field, "must not be negative");
  return v.as_int();
}

absl::StatusOr<int64_t> ValueOrNull(std::string_view field, const json::Value& v) {
  if (v.is_null()) return kValueNone;
  if (v.kind() != json::Kind::kInt) return FieldError(field, "expected an integer or null");
  if (v.as_int() == kValueNone) return FieldError(field, "the value -2^63 is reserved for null");
  return v.as_int();
}

// An array of `width`-long integer tuples (width 1 = plain integers).
absl::StatusOr<std::vector<std::vector<int64_t>>> IntTuples(std::string_view field,
                                                            const json::Value& v, int width) {
  if (v.kind() != json::Kind::kArray) return FieldError(field, "expected an array");
  if (static_cast<int64_t>(v.as_array().size()) > kBatchValuesMax) {
    return FieldError(field, absl::StrFormat("more than %d elements", kBatchValuesMax));
  }
  std::vector<std::vector<int64_t>> out;
  for (const json::Value& item : v.as_array()) {
    std::vector<int64_t> tuple;
    if (width == 1) {
      if (item.kind() != json::Kind::kInt) return FieldError(field, "expected integers");
      tuple.push_back(item.as_int());
    } else {
      if (item.kind() != json::Kind::kArray || static_cast<int>(item.as_array().size()) != width) {
        return FieldError(field, absl::StrFormat("expected arrays of %d integers", width));
      }
      for (const json::Value& x : item.as_array()) {
        if (x.kind() != json::Kind::kInt) return FieldError(field, "expected integers");
        tuple.push_back(x.as_int());
      }
    }
    out.push_back(std::move(tuple));
  }
  return out;
}

absl::Status DecodeHeader(const json::Value& object, Event* event) {
  static constexpr std::pair<std::string_view, EventType> kTypes[] = {
      {"invoke", EventType::kInvoke},
      {"ok", EventType::kOk},
      {"fail", EventType::kFail},
      {"info", EventType::kInfo}};
  static constexpr std::pair<std::string_view, Function> kFunctions[] = {
      {"send", Function::kSend},     {"poll", Function::kPoll}, {"commit", Function::kCommit},
      {"assign", Function::kAssign}, {"read", Function::kRead}, {"write", Function::kWrite},
      {"cas", Function::kCas}};
  const json::Value* process = object.Find("process");
  const json::Value* type = object.Find("type");
  const json::Value* f = object.Find("f");
  const json::Value* time = object.Find("time_ns");
  if (process == nullptr) return FieldError("process", "missing");
  if (type == nullptr) return FieldError("type", "missing");
  if (f == nullptr) return FieldError("f", "missing");
  if (time == nullptr) return FieldError("time_ns", "missing");
  absl::StatusOr<int64_t> p = NonNegativeInt("process", *process);
  if (!p.ok()) return p.status();
  event->process = *p;
  absl::StatusOr<int64_t> t = NonNegativeInt("time_ns", *time);
  if (!t.ok()) return t.status();
  event->time_ns = *t;
  if (type->kind() != json::Kind::kString) return FieldError("type", "expected a string");
  if (f->kind() != json::Kind::kString) return FieldError("f", "expected a string");
  bool type_known = false;
  for (const auto& [name, value] : kTypes) {
    if (name == type->as_string()) event->type = value, type_known = true;
  }
  if (!type_known) return FieldError("type", "expected invoke, ok, fail or info");
  bool f_known = false;
  for (const auto& [name, value] : kFunctions) {
    if (name == f->as_string()) event->f = value, f_known = true;
  }
  if (!f_known) return FieldError("f", "expected send, poll, commit, assign, read, write or cas");
  return absl::OkStatus();
}

absl::Status DecodeLogFields(const json::Value& object, Event* event) {
  if (const json::Value* v = object.Find("partition")) {
    absl::StatusOr<int64_t> p = NonNegativeInt("partition", *v);
    if (!p.ok()) return p.status();
    event->partition = *p;
  }
  if (const json::Value* v = object.Find("partition_count")) {
    absl::StatusOr<int64_t> count = NonNegativeInt("partition_count", *v);
    if (!count.ok()) return count.status();
    if (*count == 0) return FieldError("partition_count", "a topic has at least one partition");
    event->partition_count = *count;
  }
  if (const json::Value* v = object.Find("generation")) {
    absl::StatusOr<int64_t> g = NonNegativeInt("generation", *v);
    if (!g.ok()) return g.status();
    event->generation = *g;
  }
  for (std::string_view field : {"values", "offsets", "partitions"}) {
    const json::Value* v = object.Find(field);
    if (v == nullptr) continue;
    absl::StatusOr<std::vector<std::vector<int64_t>>> tuples = IntTuples(field, *v, 1);
    if (!tuples.ok()) return tuples.status();
    std::vector<int64_t> flat;
    for (const auto& t : *tuples) flat.push_back(t[0]);
    for (int64_t x : flat) {
      if (field != "values" && x < 0) return FieldError(field, "must not be negative");
      if (x == kValueNone) return FieldError(field, "the value -2^63 is reserved for null");
    }
    (field == "values"    ? event->values
     : field == "offsets" ? event->offsets
                          : event->partitions) = std::move(flat);
  }
  if (const json::Value* v = object.Find("reads")) {
    absl::StatusOr<std::vector<std::vector<int64_t>>> tuples = IntTuples("reads", *v, 3);
    if (!tuples.ok()) return tuples.status();
    event->reads.emplace();
    for (const auto& t : *tuples) {
      if (t[0] < 0 || t[1] < 0) return FieldError("reads", "partition and offset must be >= 0");
      if (t[2] == kValueNone) return FieldError("reads", "the value -2^63 is reserved for null");
      event->reads->push_back(Read{t[0], t[1], t[2]});
    }
  }
  if (const json::Value* v = object.Find("starts")) {
    absl::StatusOr<std::vector<std::vector<int64_t>>> tuples = IntTuples("starts", *v, 2);
    if (!tuples.ok()) return tuples.status();
    event->starts.emplace();
    for (const auto& t : *tuples) {
      if (t[0] < 0 || t[1] < 0) return FieldError("starts", "partition and offset must be >= 0");
      event->starts->push_back(Commit{t[0], t[1]});
    }
  }
  if (const json::Value* v = object.Find("commits")) {
    absl::StatusOr<std::vector<std::vector<int64_t>>> tuples = IntTuples("commits", *v, 2);
    if (!tuples.ok()) return tuples.status();
    event->commits.emplace();
    for (const auto& t : *tuples) {
      if (t[0] < 0 || t[1] < 0) return FieldError("commits", "partition and offset must be >= 0");
      event->commits->push_back(Commit{t[0], t[1]});
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeProducerFields(const json::Value& object, Event* event) {
  for (std::string_view field : {"producer", "producer_seq"}) {
    const json::Value* v = object.Find(field);
    if (v == nullptr) continue;
    absl::StatusOr<int64_t> x = NonNegativeInt(field, *v);
    if (!x.ok()) return x.status();
    (field == "producer" ? event->producer : event->producer_seq) = *x;
  }
  if (event->producer.has_value() != event->producer_seq.has_value()) {
    return FieldError(event->producer ? "producer_seq" : "producer",
                      "`producer` and `producer_seq` come together");
  }
  return absl::OkStatus();
}

absl::Status DecodeRegisterFields(const json::Value& object, Event* event) {
  if (const json::Value* v = object.Find("key")) {
    if (v->kind() != json::Kind::kString) return FieldError("key", "expected a string");
    event->key = v->as_string();
  }
  for (std::string_view field : {"value", "expected"}) {
    const json::Value* v = object.Find(field);
    if (v == nullptr) continue;
    absl::StatusOr<int64_t> x = ValueOrNull(field, *v);
    if (!x.ok()) return x.status();
    (field == "value" ? event->value : event->expected) = *x;
  }
  return absl::OkStatus();
}

absl::StatusOr<Event> DecodeEvent(std::string_view line_text, int64_t line) {
  absl::StatusOr<json::Value> object = json::Parse(line_text);
  if (!object.ok()) return object.status();
  if (object->kind() != json::Kind::kObject) {
    return absl::InvalidArgumentError("each line must be a JSON object");
  }
  static constexpr std::string_view kKnown[] = {
      "process",         "type",     "f",           "time_ns",
      "partition",       "values",   "offsets",     "reads",
      "partitions",      "commits",  "key",         "value",
      "expected",        "error",    "starts",      "generation",
      "partition_count", "producer", "producer_seq"};
  for (const auto& [name, value] : object->as_object()) {
    if (std::find(std::begin(kKnown), std::end(kKnown), name) == std::end(kKnown)) {
      return FieldError(name, "unknown field (see docs/history-format.md)");
    }
  }
  if (const json::Value* error = object->Find("error")) {
    if (error->kind() != json::Kind::kString) return FieldError("error", "expected a string");
  }
  Event event;
  event.line = line;
  if (absl::Status s = DecodeHeader(*object, &event); !s.ok()) return s;
  if (absl::Status s = DecodeLogFields(*object, &event); !s.ok()) return s;
  if (absl::Status s = DecodeProducerFields(*object, &event); !s.ok()) return s;
  if (absl::Status s = DecodeRegisterFields(*object, &event); !s.ok()) return s;
  return event;
}

// Rejects fields that mean nothing for the event's function: they are most likely a harness bug.
absl::Status CheckFieldsAllowed(const Event& e) {
  const bool send = e.f == Function::kSend;
  const bool reg = e.f == Function::kRead || e.f == Function::kWrite || e.f == Function::kCas;
  const std::pair<bool, bool> present_allowed[] = {
      {e.partition.has_value(), send},
      {e.values.has_value(), send},
      {e.offsets.has_value(), send},
      {e.reads.has_value(), e.f == Function::kPoll},
      {e.commits.has_value(), e.f == Function::kCommit},
      {e.partitions.has_value(), e.f == Function::kAssign},
      {e.key.has_value(), reg || send},
      {e.value.has_value(), reg},
      {e.expected.has_value(), e.f == Function::kCas},
      {e.starts.has_value(), e.f == Function::kAssign},
      {e.generation.has_value(), e.f == Function::kAssign || e.f == Function::kCommit},
      {e.partition_count.has_value(), send},
      {e.producer.has_value(), send},
  };
  static constexpr std::string_view kNames[] = {
      "partition", "values",   "offsets", "reads",      "commits",         "partitions", "key",
      "value",     "expected", "starts",  "generation", "partition_count", "producer"};
  static_assert(std::size(kNames) == std::size(present_allowed));
  for (size_t i = 0; i < std::size(kNames); i++) {
    if (present_allowed[i].first && !present_allowed[i].second) {
      return FieldError(kNames[i], absl::StrCat("not allowed when f is ", FunctionName(e.f)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Operation> StartOperation(const Event& e, int64_t id) {
  Operation op;
  op.id = id;
  op.process = e.process;
  op.f = e.f;
  op.invoke_ns = e.time_ns;
  op.invoke_line = e.line;
  switch (e.f) {
    case Function::kSend:
      if (!e.partition) return FieldError("partition", "a send invocation needs it");
      if (!e.values || e.values->empty()) return FieldError("values", "a send needs values");
      if (e.offsets) return FieldError("offsets", "only an ok completion reports offsets");
      op.partition = *e.partition;
      op.values = *e.values;
      if (e.partition_count) {
        if (!e.key) return FieldError("partition_count", "routes a key: the send needs `key`");
        op.partition_count = *e.partition_count;
      }
      op.producer = e.producer.value_or(-1);
      op.producer_seq = e.producer_seq.value_or(-1);
      break;
    case Function::kPoll:
      if (e.reads) return FieldError("reads", "only an ok completion reports reads");
      break;
    case Function::kCommit:
      if (!e.commits) return FieldError("commits", "a commit invocation needs it");
      op.commits = *e.commits;
      op.generation = e.generation.value_or(-1);
      break;
    case Function::kAssign:
      if (!e.partitions) return FieldError("partitions", "an assign invocation needs it");
      if (e.starts) return FieldError("starts", "only an ok completion reports starts");
      op.partitions = *e.partitions;
      op.generation = e.generation.value_or(-1);
      break;
    case Function::kRead:
      if (e.value && *e.value != kValueNone) {
        return FieldError("value", "a read invocation has no value yet");
      }
      break;
    case Function::kCas:
      if (!e.expected) return FieldError("expected", "a cas invocation needs it");
      op.expected = *e.expected;
      [[fallthrough]];
    case Function::kWrite:
      if (!e.value || *e.value == kValueNone) return FieldError("value", "needs an integer");
      op.value = *e.value;
      break;
  }
  op.key = e.key.value_or("");
  return op;
}

absl::Status CompleteOperation(const Event& e, Operation* op) {
  CHECKS_ASSERT(e.type != EventType::kInvoke);
  CHECKS_ASSERT(op->process == e.process);
  if (e.f != op->f) {
    return absl::InvalidArgumentError(
        absl::StrFormat("completion f=%s does not match the invocation f=%s on line %d",
                        FunctionName(e.f), FunctionName(op->f), op->invoke_line));
  }
  if (e.partition && *e.partition != op->partition) return FieldError("partition", "differs");
  if (e.values && *e.values != op->values) return FieldError("values", "differ from invocation");
  if (e.key && *e.key != op->key) return FieldError("key", "differs from the invocation");
  if (e.partition_count && *e.partition_count != op->partition_count) {
    return FieldError("partition_count", "differs from the invocation");
  }
  if ((e.producer && *e.producer != op->producer) ||
      (e.producer_seq && *e.producer_seq != op->producer_seq)) {
    return FieldError("producer", "differs from the invocation");
  }
  if (e.expected && *e.expected != op->expected) return FieldError("expected", "differs");
  op->outcome = e.type == EventType::kOk     ? Outcome::kOk
                : e.type == EventType::kFail ? Outcome::kFail
                                             : Outcome::kInfo;
  op->complete_line = e.line;
  op->complete_ns = e.time_ns;
  const bool has_results = e.offsets || e.reads || e.starts || (e.f == Function::kRead && e.value);
  if (!op->ok()) {
    if (has_results) return absl::InvalidArgumentError("only ok completions carry results");
    return absl::OkStatus();
  }
  if (e.f == Function::kSend) {
    if (!e.offsets) return FieldError("offsets", "an ok send must report them");
    if (e.offsets->size() != op->values.size()) return FieldError("offsets", "one per value");
    op->offsets = *e.offsets;
  } else if (e.f == Function::kPoll) {
    if (!e.reads) return FieldError("reads", "an ok poll must report them (maybe [])");
    op->reads = *e.reads;
  } else if (e.f == Function::kAssign && e.starts) {
    op->starts = *e.starts;
  } else if (e.f == Function::kRead) {
    if (!e.value) return FieldError("value", "an ok read must report it (maybe null)");
    op->value = *e.value;
  } else if ((e.f == Function::kWrite || e.f == Function::kCas) && e.value &&
             *e.value != op->value) {
    return FieldError("value", "differs from the invocation");
  }
  return absl::OkStatus();
}

absl::Status LineError(int64_t line, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrFormat("line %d: %s", line, status.message()));
}

// Pairs invocations with completions, per process, in file order.
class Pairer {
 public:
  absl::Status Add(const Event& e) {
    if (e.time_ns < time_ns_last_) {
      return absl::InvalidArgumentError(
          absl::StrFormat("time_ns %d is before the previous line's %d", e.time_ns, time_ns_last_));
    }
    time_ns_last_ = e.time_ns;
    if (absl::Status s = CheckFieldsAllowed(e); !s.ok()) return s;
    if (auto crashed = crashed_line_.find(e.process); crashed != crashed_line_.end()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "process %d was already completed with info on line %d: a crashed process may not "
          "act again; use a new process id",
          e.process, crashed->second));
    }
    processes_.try_emplace(e.process, true);
    auto open = open_.find(e.process);
    if (e.type == EventType::kInvoke) {
      if (open != open_.end()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("process %d invokes while its operation from line %d is open",
                            e.process, history_.operations[open->second].invoke_line));
      }
      const int64_t id = static_cast<int64_t>(history_.operations.size());
      absl::StatusOr<Operation> op = StartOperation(e, id);
      if (!op.ok()) return op.status();
      history_.operations.push_back(*std::move(op));
      open_[e.process] = id;
      return absl::OkStatus();
    }
    if (open == open_.end()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("process %d completes an operation it never invoked", e.process));
    }
    Operation* op = &history_.operations[open->second];
    open_.erase(open);
    if (absl::Status s = CompleteOperation(e, op); !s.ok()) return s;
    if (op->indeterminate()) crashed_line_[e.process] = e.line;
    return absl::OkStatus();
  }

  History Finish() && {
    for (const auto& [process, id] : open_) {
      CHECKS_ASSERT(history_.operations[id].complete_line == 0);
      history_.operations[id].outcome = Outcome::kInfo;
    }
    history_.processes_count = static_cast<int64_t>(processes_.size());
    for (const Operation& op : history_.operations) {
      (IsLogFunction(op.f) ? history_.has_log_operations : history_.has_register_operations) = true;
    }
    return std::move(history_);
  }

 private:
  History history_;
  int64_t time_ns_last_ = 0;
  absl::btree_map<int64_t, int64_t> open_;          // process -> operation id
  absl::btree_map<int64_t, int64_t> crashed_line_;  // process -> line of its info completion
  absl::btree_map<int64_t, bool> processes_;
};

}  // namespace

absl::StatusOr<History> ParseHistory(std::string_view text) {
  Pairer pairer;
  int64_t line = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line_text = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    line++;
    if (line > kLinesMax) return absl::InvalidArgumentError("history has too many lines");
    if (static_cast<int64_t>(line_text.size()) > kLineBytesMax) {
      return LineError(line, absl::InvalidArgumentError("line too long"));
    }
    if (line_text.find_first_not_of(" \t\r") == std::string_view::npos) continue;  // blank
    absl::StatusOr<Event> event = DecodeEvent(line_text, line);
    if (!event.ok()) return LineError(line, event.status());
    if (absl::Status s = pairer.Add(*event); !s.ok()) return LineError(line, s);
  }
  return std::move(pairer).Finish();
}

absl::StatusOr<History> ReadHistoryFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open history file ", path));
  std::stringstream buffer;
  buffer << file.rdbuf();
  if (file.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  absl::StatusOr<History> history = ParseHistory(buffer.str());
  if (!history.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", history.status().message()));
  }
  return history;
}

}  // namespace meridian::checks
