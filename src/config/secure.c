/*
 * secure.c - the secure profile's switches and the batch shuffle.
 */
#include "config/secure.h"

#include "base/canary.h"
#include "config/options.h"

hak_secure_t hak_secure;

void hak_secure_init(void)
{
    hak_secure.zero_on_free = hak_opt(HAK_OPT_ZERO_ON_FREE) != 0;
    hak_secure.guard_pages = hak_opt(HAK_OPT_GUARD_PAGES) != 0;
    hak_secure.random_freelist = hak_opt(HAK_OPT_RANDOM_FREELIST) != 0;
    hak_secure.canaries = hak_opt(HAK_OPT_CANARIES) != 0;
    hak_secure.zero_size_guard = hak_opt(HAK_OPT_ZERO_SIZE_GUARD) != 0;
    hak_secure.quarantine = (uint32_t)hak_opt(HAK_OPT_QUARANTINE);
    hak_secure.small_checked = hak_secure.canaries || hak_secure.zero_size_guard ||
                               hak_secure.quarantine != 0 || hak_secure.zero_on_free;
    if (hak_secure.canaries)
        hak_canary_init();
}

void hak_secure_shuffle(void **out, unsigned n, uint64_t *state)
{
    uint64_t x = *state;
    /* Fisher-Yates with xorshift64*; the state is seeded from the secret
     * keys, so the order is not predictable from outside. */
    for (unsigned i = n; i > 1; i--) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        unsigned j = (unsigned)(((x * 0x2545F4914F6CDD1Dull) >> 32) % i);
        void *t = out[i - 1];
        out[i - 1] = out[j];
        out[j] = t;
    }
    *state = x;
}
