// CRC32C (Castagnoli), the checksum of every frame on the wire and every record batch on disk.
// Uses the SSE4.2 instruction when the CPU has it, a slicing-by-8 table otherwise; both give
// identical results (tested against the RFC 3720 vectors).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace meridian::io {

// Extends `crc` (the value of a previous call, or 0 to start) over `data`.
uint32_t Crc32cExtend(uint32_t crc, std::span<const uint8_t> data);
inline uint32_t Crc32c(std::span<const uint8_t> data) { return Crc32cExtend(0, data); }

// The portable implementation, exposed so tests can compare it with the hardware path.
uint32_t Crc32cExtendPortable(uint32_t crc, std::span<const uint8_t> data);

}  // namespace meridian::io
