#include "core/strong_id.h"

#include <gtest/gtest.h>

#include <type_traits>

namespace meridian::core {
namespace {

TEST(StrongId, OrdersPrintsAndSteps) {
  EXPECT_LT(Term(1), Term(2));
  EXPECT_EQ(Term(1).next(), Term(2));
  EXPECT_EQ(Offset(42).ToString(), "@42");
  EXPECT_EQ(PartitionId(3).ToString(), "p3");
}

// The point of the types: a term is not an offset, and neither is a bare integer.
static_assert(!std::is_convertible_v<Term, Offset>);
static_assert(!std::is_convertible_v<uint64_t, Term>);
static_assert(!std::is_convertible_v<Epoch, Term>);

}  // namespace
}  // namespace meridian::core
