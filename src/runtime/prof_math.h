/*
 * prof_math.h - the natural logarithm and 1 - exp(-x) for the heap
 * profiler's sampler (runtime/prof.c), in plain double arithmetic: the
 * library takes nothing from libm.  Accurate to about 1e-12 relative,
 * far below the sampler's own noise.
 */
#ifndef HAK_PROF_MATH_H
#define HAK_PROF_MATH_H

#include <string.h>

#include "internal.h"

/* ln(x) for x > 0 (a normal double). */
hak_inline double hak_prof_ln(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    int e = (int)((u >> 52) & 0x7ff) - 1023;
    u = (u & 0xfffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    memcpy(&m, &u, sizeof m);
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e++;
    }
    /* ln(m) = 2 atanh(z), z = (m-1)/(m+1), |z| <= 0.172. */
    double z = (m - 1.0) / (m + 1.0), z2 = z * z, t = z, sum = 0.0;
    for (int k = 1; k <= 23; k += 2) {
        sum += t / k;
        t *= z2;
    }
    return 2.0 * sum + e * 0.6931471805599453;
}

/* 1 - exp(-x) for x >= 0, without cancellation for small x. */
hak_inline double hak_prof_one_minus_exp_neg(double x)
{
    if (x < 0.5) {
        /* x - x^2/2! + x^3/3! - ... */
        double term = x, sum = 0.0;
        for (int k = 1; k <= 16; k++) {
            sum += term;
            term *= -x / (k + 1);
        }
        return sum;
    }
    if (x > 700.0)
        return 1.0;
    /* exp(-x) = 2^-k exp(-r), r = x - k ln 2 in [0, ln 2). */
    int k = (int)(x / 0.6931471805599453);
    double r = x - k * 0.6931471805599453;
    double term = 1.0, e = 1.0;
    for (int i = 1; i <= 20; i++) {
        term *= -r / i;
        e += term;
    }
    for (int i = 0; i < k; i++)
        e *= 0.5;
    return 1.0 - e;
}

#endif
