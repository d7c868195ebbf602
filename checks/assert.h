// Always-on assertions for checks/: a failed assertion is a programmer error (a bug in a checker
// or in its caller), never bad input, so it prints where and why and aborts. Bad input is reported
// through absl::Status instead. checks/ has its own macro because it may not depend on core/ or
// io/.
#ifndef MERIDIAN_CHECKS_ASSERT_H_
#define MERIDIAN_CHECKS_ASSERT_H_

#include <cstdio>
#include <cstdlib>

#define CHECKS_ASSERT(condition)                                                             \
  do {                                                                                       \
    if (!(condition)) {                                                                      \
      std::fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)

#define CHECKS_ASSERT_MSG(condition, message)                                                    \
  do {                                                                                           \
    if (!(condition)) {                                                                          \
      std::fprintf(stderr, "%s:%d: assertion failed: %s (%s)\n", __FILE__, __LINE__, #condition, \
                   message);                                                                     \
      std::abort();                                                                              \
    }                                                                                            \
  } while (false)

#endif  // MERIDIAN_CHECKS_ASSERT_H_
