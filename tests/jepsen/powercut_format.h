// The undo journal's record header, shared by powercut_shim.c (C, which writes it) and
// powercut_journal.cc (C++, which reads it). Little-endian, packed; followed by `path_len` bytes
// of path, `path2_len` of the second path, `data_len` of data. The record types are listed in
// powercut_shim.c's header comment.
#ifndef MERIDIAN_TESTS_JEPSEN_POWERCUT_FORMAT_H_
#define MERIDIAN_TESTS_JEPSEN_POWERCUT_FORMAT_H_

#include <stdint.h>

#define PC_MAGIC 0x314a4350u  // "PCJ1"

struct pc_header {
  uint32_t magic;
  uint32_t type;
  uint64_t seq;
  uint64_t offset;
  uint64_t length;
  uint64_t old_size;
  uint32_t path_len;
  uint32_t path2_len;
  uint32_t data_len;
  uint32_t checksum;  // FNV-1a over the header (checksum 0) and the payload: a torn tail is ignored
} __attribute__((packed));

#endif  // MERIDIAN_TESTS_JEPSEN_POWERCUT_FORMAT_H_
