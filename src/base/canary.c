/*
 * canary.c - the canary secrets and the zero scan of canary.h.
 */
#include "base/canary.h"

#include "os/os.h"

uint64_t hak_canary_keys[2];

void hak_canary_init(void) { hak_os_random(hak_canary_keys, sizeof hak_canary_keys); }

/* One word of the block, whatever type the program stored there. */
static uint64_t canary_word(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Offset of the first non-zero byte of a non-zero word. */
static unsigned canary_first_byte(uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (unsigned)__builtin_ctzll(v) / 8;
#else
    return (unsigned)__builtin_clzll(v) / 8;
#endif
}

size_t hak_first_nonzero(const void *p, size_t n)
{
    const unsigned char *c = p;
    size_t i = 0;
    /* 32 bytes per test; the word is looked for only on a hit. */
    for (; i + 32 <= n; i += 32)
        if ((canary_word(c + i) | canary_word(c + i + 8) | canary_word(c + i + 16) |
             canary_word(c + i + 24)) != 0)
            break;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = canary_word(c + i);
        if (v != 0)
            return i + canary_first_byte(v);
    }
    for (; i < n; i++)
        if (c[i] != 0)
            return i;
    return n;
}
