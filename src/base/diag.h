/*
 * diag.h - messages hakmem prints (misuse, corruption, config warnings,
 * stats) without stdio or malloc: a fixed buffer and write(2).
 */
#ifndef HAK_DIAG_H
#define HAK_DIAG_H

#include "internal.h"

typedef struct hak_buf {
    char *data;
    size_t len, cap;
    int fd; /* flushed to this fd when full; -1: truncate instead */
    /* If set, flushed through this instead of fd (e.g. to a FILE). */
    void (*sink)(void *ctx, const char *data, size_t len);
    void *sink_ctx;
} hak_buf;

void hak_buf_str(hak_buf *b, const char *s);
void hak_buf_mem(hak_buf *b, const char *s, size_t n);
void hak_buf_char(hak_buf *b, char c);
void hak_buf_u64(hak_buf *b, uint64_t v);
void hak_buf_i64(hak_buf *b, int64_t v);
void hak_buf_hex(hak_buf *b, uint64_t v);
/* Hexadecimal without "0x", zero-padded to at least min_digits. */
void hak_buf_hex_digits(hak_buf *b, uint64_t v, unsigned min_digits);
/* Right-aligned in `width` columns. */
void hak_buf_u64_pad(hak_buf *b, uint64_t v, unsigned width);
void hak_buf_str_pad(hak_buf *b, const char *s, unsigned width);
/* Left-aligned in `width` columns. */
void hak_buf_str_left(hak_buf *b, const char *s, unsigned width);
/* v/100 with two decimals, e.g. 9876 -> "98.76". */
void hak_buf_percent100(hak_buf *b, uint64_t v);
/* 1536 -> "1.5K" style: bytes with a K/M/G suffix. */
void hak_buf_size(hak_buf *b, uint64_t bytes);
void hak_buf_flush(hak_buf *b);

/* One line "hakmem: <what> 0x<addr><detail>\n" on stderr, then abort(). */
hak_noreturn hak_cold void hak_fatal_ptr(const char *what, const void *addr, const char *detail);
/* Same, with "(<size> bytes)" style detail built from a class size. */
hak_noreturn hak_cold void hak_fatal_block(const char *what, const void *addr, const char *tier,
                                           size_t block_size);
/* A sized or aligned free that does not match the block, then abort():
 * "hakmem: wrong size in sized free of 0x<addr> (<given> bytes given,
 * <tier> block of <block_size> bytes[, allocated for <asked> bytes])", or
 * with align set "wrong alignment in aligned free of 0x<addr> (alignment
 * <given> given, <tier> block of <block_size> bytes[, allocated with
 * alignment <asked>])".  asked 0: not known. */
hak_noreturn hak_cold void hak_fatal_mismatch(bool align, const void *addr, size_t given,
                                              const char *tier, size_t block_size, size_t asked);
/* A block that left the quarantine does not read as zero: "write after
 * free to <addr> (<tier> block of <n> bytes, byte <at> changed after
 * free)". */
hak_noreturn hak_cold void hak_fatal_written(const void *addr, const char *tier, size_t block_size,
                                             size_t at);
/* The canary after the usable bytes of a live block was changed: "buffer
 * overflow past the end of <addr> (<tier> block of <n> bytes: the canary
 * after its <usable> usable bytes was overwritten)". */
hak_noreturn hak_cold void hak_fatal_overflow(const void *addr, const char *tier, size_t block_size,
                                              size_t usable);
/* The `what` for a block that was already freed, reached through the call
 * whose invalid-pointer message is `op`: "double free of" from free,
 * "realloc of freed block" and "malloc_usable_size of freed block". */
const char *hak_diag_freed(const char *op);
/* A line on stderr, no abort. */
void hak_warn(const char *msg);

#endif
