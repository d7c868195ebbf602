// Test support: write a history as prose, one complete operation per call.
//
//   History h = HistoryBuilder()
//                   .Send(/*process=*/0, /*partition=*/0, {10}, {0})
//                   .Poll(1, {{0, 0, 10}})
//                   .Build();
//
// By default each operation occupies its own instant [t, t+1] after the previous one, so
// operations are sequential; At(invoke_ns, complete_ns) sets explicit times for the next call to
// make operations overlap.
#ifndef MERIDIAN_CHECKS_HISTORY_BUILDER_H_
#define MERIDIAN_CHECKS_HISTORY_BUILDER_H_

#include <string>
#include <utility>
#include <vector>

#include "checks/assert.h"
#include "checks/history.h"

namespace meridian::checks {

class HistoryBuilder {
 public:
  HistoryBuilder& At(int64_t invoke_ns, int64_t complete_ns) {
    CHECKS_ASSERT(invoke_ns <= complete_ns);
    next_invoke_ns_ = invoke_ns;
    next_complete_ns_ = complete_ns;
    return *this;
  }

  HistoryBuilder& Send(int64_t process, int64_t partition, std::vector<int64_t> values,
                       std::vector<int64_t> offsets, Outcome outcome = Outcome::kOk) {
    Operation op = Start(process, Function::kSend, outcome);
    op.partition = partition;
    op.values = std::move(values);
    if (outcome == Outcome::kOk) op.offsets = std::move(offsets);
    return Push(std::move(op));
  }

  // A send of records keyed `key`, which the producer routed among `partition_count` partitions.
  HistoryBuilder& KeyedSend(int64_t process, int64_t partition, std::string key,
                            int64_t partition_count, std::vector<int64_t> values,
                            std::vector<int64_t> offsets, Outcome outcome = Outcome::kOk) {
    Send(process, partition, std::move(values), std::move(offsets), outcome);
    operations_.back().key = std::move(key);
    operations_.back().partition_count = partition_count;
    return *this;
  }

  // A send accepted by producer `producer` as its `producer_seq`-th (the order it keeps).
  HistoryBuilder& ProducerSend(int64_t process, int64_t partition, int64_t producer,
                               int64_t producer_seq, std::vector<int64_t> values,
                               std::vector<int64_t> offsets, Outcome outcome = Outcome::kOk) {
    Send(process, partition, std::move(values), std::move(offsets), outcome);
    operations_.back().producer = producer;
    operations_.back().producer_seq = producer_seq;
    return *this;
  }

  HistoryBuilder& Poll(int64_t process, std::vector<Read> reads, Outcome outcome = Outcome::kOk) {
    Operation op = Start(process, Function::kPoll, outcome);
    if (outcome == Outcome::kOk) op.reads = std::move(reads);
    return Push(std::move(op));
  }

  HistoryBuilder& Assign(int64_t process, std::vector<int64_t> partitions,
                         Outcome outcome = Outcome::kOk, std::vector<Commit> starts = {}) {
    Operation op = Start(process, Function::kAssign, outcome);
    op.partitions = std::move(partitions);
    op.starts = std::move(starts);
    return Push(std::move(op));
  }

  // A group member's assign (with its generation) and commit.
  // `starts`: partitions started at their log start (retention deleted what lay below).
  HistoryBuilder& GroupAssign(int64_t process, int64_t generation, std::vector<int64_t> partitions,
                              std::vector<Commit> starts = {}) {
    Operation op = Start(process, Function::kAssign, Outcome::kOk);
    op.partitions = std::move(partitions);
    op.generation = generation;
    op.starts = std::move(starts);
    return Push(std::move(op));
  }

  HistoryBuilder& GroupCommit(int64_t process, int64_t generation, std::vector<Commit> commits) {
    Operation op = Start(process, Function::kCommit, Outcome::kOk);
    op.commits = std::move(commits);
    op.generation = generation;
    return Push(std::move(op));
  }

  HistoryBuilder& Write(int64_t process, std::string key, int64_t value,
                        Outcome outcome = Outcome::kOk) {
    Operation op = Start(process, Function::kWrite, outcome);
    op.key = std::move(key);
    op.value = value;
    return Push(std::move(op));
  }

  HistoryBuilder& ReadValue(int64_t process, std::string key, int64_t value,
                            Outcome outcome = Outcome::kOk) {
    Operation op = Start(process, Function::kRead, outcome);
    op.key = std::move(key);
    op.value = outcome == Outcome::kOk ? value : kValueNone;
    return Push(std::move(op));
  }

  HistoryBuilder& Cas(int64_t process, std::string key, int64_t expected, int64_t value,
                      Outcome outcome = Outcome::kOk) {
    Operation op = Start(process, Function::kCas, outcome);
    op.key = std::move(key);
    op.expected = expected;
    op.value = value;
    return Push(std::move(op));
  }

  History Build() {
    History history;
    history.operations = operations_;
    FinishHistory(&history);
    return history;
  }

 private:
  Operation Start(int64_t process, Function f, Outcome outcome) {
    Operation op;
    op.process = process;
    op.f = f;
    op.outcome = outcome;
    if (next_invoke_ns_ >= 0) {
      op.invoke_ns = next_invoke_ns_;
      op.complete_ns = next_complete_ns_;
      next_invoke_ns_ = -1;
    } else {
      op.invoke_ns = clock_ns_;
      op.complete_ns = clock_ns_ + 1;
    }
    clock_ns_ = std::max(clock_ns_, op.complete_ns + 1);
    return op;
  }

  HistoryBuilder& Push(Operation op) {
    operations_.push_back(std::move(op));
    return *this;
  }

  std::vector<Operation> operations_;
  int64_t clock_ns_ = 0;
  int64_t next_invoke_ns_ = -1;
  int64_t next_complete_ns_ = -1;
};

}  // namespace meridian::checks

#endif  // MERIDIAN_CHECKS_HISTORY_BUILDER_H_
