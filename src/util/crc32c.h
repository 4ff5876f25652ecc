/* CRC-32C (Castagnoli), the checksum of iSCSI, ext4 metadata and most write-ahead logs: the
 * SSE4.2 crc32 instruction where the CPU has it, else a table. */
#ifndef INFERD_UTIL_CRC32C_H
#define INFERD_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over n bytes: crc32c(crc32c(0, a), b) == crc32c(0, a b). */
uint32_t crc32c(uint32_t crc, const void *data, size_t n);
/* The table version alone (the test oracle for the instruction path). */
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t n);

#endif
