/*
 * block.c - the per-process secrets of block.h.  Written once by
 * initialisation (runtime/init.c) before any block exists, then only read.
 */
#include "base/block.h"

hak_keys_t hak_keys;
