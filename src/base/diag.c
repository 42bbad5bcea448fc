/*
 * diag.c - formatting into a fixed buffer and fatal misuse reports.
 */
#include "base/diag.h"

#include <stdlib.h>
#include <string.h>

#include "os/os.h"

void hak_buf_flush(hak_buf *b)
{
    if (b->len && b->sink)
        b->sink(b->sink_ctx, b->data, b->len);
    else if (b->fd >= 0 && b->len)
        hak_os_write(b->fd, b->data, b->len);
    b->len = 0;
}

void hak_buf_mem(hak_buf *b, const char *s, size_t n)
{
    while (n > 0) {
        if (b->len == b->cap) {
            if (b->fd < 0 && !b->sink)
                return;
            hak_buf_flush(b);
        }
        size_t room = b->cap - b->len;
        size_t k = n < room ? n : room;
        memcpy(b->data + b->len, s, k);
        b->len += k;
        s += k;
        n -= k;
    }
}

void hak_buf_str(hak_buf *b, const char *s) { hak_buf_mem(b, s, strlen(s)); }
void hak_buf_char(hak_buf *b, char c) { hak_buf_mem(b, &c, 1); }

static unsigned diag_u64_digits(char *tmp, uint64_t v)
{
    unsigned n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return n;
}

void hak_buf_u64(hak_buf *b, uint64_t v) { hak_buf_u64_pad(b, v, 0); }

void hak_buf_u64_pad(hak_buf *b, uint64_t v, unsigned width)
{
    char tmp[24];
    unsigned n = diag_u64_digits(tmp, v);
    for (unsigned i = n; i < width; i++)
        hak_buf_char(b, ' ');
    while (n)
        hak_buf_char(b, tmp[--n]);
}

void hak_buf_i64(hak_buf *b, int64_t v)
{
    if (v < 0) {
        hak_buf_char(b, '-');
        hak_buf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        hak_buf_u64(b, (uint64_t)v);
    }
}

void hak_buf_str_pad(hak_buf *b, const char *s, unsigned width)
{
    size_t n = strlen(s);
    for (size_t i = n; i < width; i++)
        hak_buf_char(b, ' ');
    hak_buf_mem(b, s, n);
}

void hak_buf_str_left(hak_buf *b, const char *s, unsigned width)
{
    size_t n = strlen(s);
    hak_buf_mem(b, s, n);
    for (size_t i = n; i < width; i++)
        hak_buf_char(b, ' ');
}

void hak_buf_hex_digits(hak_buf *b, uint64_t v, unsigned min_digits)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    unsigned n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    for (unsigned i = n; i < min_digits; i++)
        hak_buf_char(b, '0');
    while (n)
        hak_buf_char(b, tmp[--n]);
}

void hak_buf_hex(hak_buf *b, uint64_t v)
{
    hak_buf_str(b, "0x");
    hak_buf_hex_digits(b, v, 1);
}

void hak_buf_percent100(hak_buf *b, uint64_t v)
{
    hak_buf_u64(b, v / 100);
    hak_buf_char(b, '.');
    hak_buf_char(b, (char)('0' + (v / 10) % 10));
    hak_buf_char(b, (char)('0' + v % 10));
}

void hak_buf_size(hak_buf *b, uint64_t bytes)
{
    static const char suffix[] = "KMGT";
    if (bytes < 1024) {
        hak_buf_u64(b, bytes);
        return;
    }
    unsigned s = 0;
    uint64_t unit = 1024;
    while (s < 3 && bytes >= unit * 1024) {
        unit *= 1024;
        s++;
    }
    uint64_t tenths = (bytes * 10 + unit / 2) / unit;
    hak_buf_u64(b, tenths / 10);
    if (tenths % 10 && tenths < 1000) {
        hak_buf_char(b, '.');
        hak_buf_char(b, (char)('0' + tenths % 10));
    }
    hak_buf_char(b, suffix[s]);
}

void hak_fatal_ptr(const char *what, const void *addr, const char *detail)
{
    char mem[256];
    hak_buf b = { .data = mem, .cap = sizeof mem, .fd = -1 };
    hak_buf_str(&b, "hakmem: ");
    hak_buf_str(&b, what);
    hak_buf_char(&b, ' ');
    hak_buf_hex(&b, (uint64_t)(uintptr_t)addr);
    if (detail) {
        hak_buf_str(&b, " (");
        hak_buf_str(&b, detail);
        hak_buf_char(&b, ')');
    }
    if (b.len == b.cap)
        b.len--;
    hak_buf_char(&b, '\n');
    hak_os_write(2, b.data, b.len);
    abort();
}

void hak_fatal_block(const char *what, const void *addr, const char *tier, size_t block_size)
{
    char mem[96];
    hak_buf b = { .data = mem, .cap = sizeof mem, .fd = -1 };
    hak_buf_str(&b, tier);
    hak_buf_str(&b, " block of ");
    hak_buf_u64(&b, block_size);
    hak_buf_str(&b, " bytes");
    mem[b.len < sizeof mem ? b.len : sizeof mem - 1] = 0;
    hak_fatal_ptr(what, addr, mem);
}

void hak_fatal_mismatch(bool align, const void *addr, size_t given, const char *tier,
                        size_t block_size, size_t asked)
{
    char mem[160];
    hak_buf b = { .data = mem, .cap = sizeof mem, .fd = -1 };
    if (align)
        hak_buf_str(&b, "alignment ");
    hak_buf_u64(&b, given);
    hak_buf_str(&b, align ? " given, " : " bytes given, ");
    hak_buf_str(&b, tier);
    hak_buf_str(&b, " block of ");
    hak_buf_u64(&b, block_size);
    hak_buf_str(&b, " bytes");
    if (asked) {
        hak_buf_str(&b, align ? ", allocated with alignment " : ", allocated for ");
        hak_buf_u64(&b, asked);
        if (!align)
            hak_buf_str(&b, " bytes");
    }
    mem[b.len < sizeof mem ? b.len : sizeof mem - 1] = 0;
    hak_fatal_ptr(align ? "wrong alignment in aligned free of" : "wrong size in sized free of", addr,
                  mem);
}

/* "<what> <addr> (<tier> block of <n> bytes<before><v><after>)" */
static hak_noreturn void diag_fatal_block_value(const char *what, const void *addr, const char *tier,
                                               size_t block_size, const char *before, uint64_t v,
                                               const char *after)
{
    char mem[128];
    hak_buf b = { .data = mem, .cap = sizeof mem - 1, .fd = -1 };
    hak_buf_str(&b, tier);
    hak_buf_str(&b, " block of ");
    hak_buf_u64(&b, block_size);
    hak_buf_str(&b, before);
    hak_buf_u64(&b, v);
    hak_buf_str(&b, after);
    mem[b.len] = 0;
    hak_fatal_ptr(what, addr, mem);
}

void hak_fatal_written(const void *addr, const char *tier, size_t block_size, size_t at)
{
    diag_fatal_block_value("write after free to", addr, tier, block_size, " bytes, byte ", at,
                           " changed after free");
}

void hak_fatal_overflow(const void *addr, const char *tier, size_t block_size, size_t usable)
{
    diag_fatal_block_value("buffer overflow past the end of", addr, tier, block_size,
                           " bytes: the canary after its ", usable, " usable bytes was overwritten");
}

const char *hak_diag_freed(const char *op)
{
    if (op[0] == 'r') /* "realloc of invalid pointer" */
        return "realloc of freed block";
    if (op[0] == 'm') /* "malloc_usable_size of invalid pointer" */
        return "malloc_usable_size of freed block";
    return "double free of";
}

void hak_warn(const char *msg)
{
    char mem[512];
    hak_buf b = { .data = mem, .cap = sizeof mem - 1, .fd = -1 };
    hak_buf_str(&b, "hakmem: ");
    hak_buf_str(&b, msg);
    b.data[b.len++] = '\n';
    hak_os_write(2, b.data, b.len);
}
