/*
 * os.h - the only layer that talks to the kernel: mappings, purging, time,
 * randomness, futexes and raw writes.  Everything above it is policy.
 *
 * None of these functions allocate, use stdio or change errno on success;
 * on failure they leave errno as the kernel set it, except that the
 * mapping functions report failure by returning NULL and callers set ENOMEM.
 */
#ifndef HAK_OS_H
#define HAK_OS_H

#include <sys/types.h>

#include "internal.h"

/* Anonymous read/write mapping of `size` bytes (page multiple); NULL on failure. */
void *hak_os_map(size_t size);
/* Mapping of `size` bytes whose address plus `offset` is a multiple of `align`
 * (a power of two, at least a page).  NULL on failure. */
void *hak_os_map_aligned(size_t size, size_t align, size_t offset);
/* Ask for transparent huge pages on [p, p + size) (MADV_HUGEPAGE): a
 * hint; a kernel without them leaves the range as it is. */
void hak_os_advise_huge_pages(void *p, size_t size);
/* Anonymous mapping of `size` bytes exactly at `addr`, never replacing an
 * existing mapping (MAP_FIXED_NOREPLACE); readable and writable, or
 * read-only.  NULL on failure, errno EEXIST if something is mapped there. */
void *hak_os_map_at(void *addr, size_t size, bool writable);
/* Where the kernel would place a new mapping now (the top of the free
 * address space, below the libraries), or 0. */
uintptr_t hak_os_map_hint(void);
/* Does the process run under a finite RLIMIT_AS? */
bool hak_os_address_space_limited(void);
void hak_os_unmap(void *p, size_t size);
/* Make pages readable and writable, or inaccessible (guard pages). */
/* false if mprotect failed (ENOMEM: the process is out of mappings). */
bool hak_os_protect(void *p, size_t size, bool accessible);
/* Give the pages back to the OS; contents become zero (dontneed) or
 * undefined-until-written (free=true, MADV_FREE). */
void hak_os_purge(void *p, size_t size, bool lazy_free);
/* Resize a mapping in place; true on success. */
bool hak_os_remap_inplace(void *p, size_t old_size, size_t new_size);
/* Move a mapping to `dst` (which must be a mapping of new_size we own). */
bool hak_os_remap_to(void *p, size_t old_size, size_t new_size, void *dst);

uint64_t hak_os_now_ms(void);
/* The same clock as of the last timer tick (a few ms behind, never ahead
 * of hak_os_now_ms), at a third of the cost: for the timestamps of the
 * decay, read on every free that reaches the pools. */
uint64_t hak_os_coarse_ms(void);
void hak_os_random(void *buf, size_t len);
void hak_os_write(int fd, const char *buf, size_t len);

void hak_os_futex_wait(_Atomic uint32_t *addr, uint32_t expected);
void hak_os_futex_wake(_Atomic uint32_t *addr, int count);

/* Peak resident set (KiB) and current resident set (KiB, from /proc). */
uint64_t hak_os_peak_rss_kib(void);
uint64_t hak_os_current_rss_kib(void);

/* Read up to `cap` bytes of a file (open, read until EOF or full, close),
 * retrying interrupted reads; *truncated tells whether the file had more.
 * Returns the bytes read, or -errno if the file cannot be opened or read
 * (a folder: -EISDIR).  errno is left as it was either way. */
ssize_t hak_os_read_file(const char *path, char *buf, size_t cap, bool *truncated);

/* A new file of `size` zero bytes, created with O_EXCL|O_NOFOLLOW and mode
 * 0600 (never an existing file or a link planted by someone else), mapped
 * shared read/write; the descriptor is closed again.  NULL if any step
 * fails (the file is removed then).  errno is left as it was. */
void *hak_os_shared_create(const char *path, size_t size);
/* Remove a file by name; errno is left as it was. */
void hak_os_unlink(const char *path);
/* A new file for writing, as hak_os_shared_create creates it; the
 * descriptor, or -errno. */
int hak_os_create_file(const char *path);
void hak_os_close(int fd);
/* Copy up to `max` bytes of file `path` to descriptor fd, in pieces through
 * a small stack buffer; the bytes copied. */
size_t hak_os_copy_file(const char *path, int fd, size_t max);
/* Whether the 8 bytes at p (8-aligned) can be read, asked of the kernel:
 * rt_sigprocmask with an invalid `how` copies the set in before it checks
 * `how`, so it fails with EFAULT for unreadable memory and EINVAL
 * otherwise, changing nothing. */
bool hak_os_readable(const void *p);

/* Call fn(name, ctx) for every entry of directory `path` but "." and "..",
 * in the kernel's order, reading it with getdents64 into buf (cap bytes,
 * the caller's, so nothing here allocates or keeps state).  Returns 0, or
 * -errno if the directory cannot be opened or read.  errno is left as it
 * was either way. */
typedef void (*hak_os_dir_fn)(const char *name, void *ctx);
int hak_os_list_dir(const char *path, char *buf, size_t cap, hak_os_dir_fn fn, void *ctx);

/* This process's executable as an absolute path, NUL-terminated: the
 * target of /proc/self/exe (symbolic links resolved), or the kernel's
 * AT_EXECFN where /proc is missing.  Returns its length, 0 if neither is
 * available or it does not fit in cap bytes. */
size_t hak_os_exe_path(char *buf, size_t cap);

/* Whether the process runs on valgrind's synthetic CPU (any tool): asks
 * valgrind with its client-request instruction sequence, which is a no-op
 * on a real CPU.  Always false on architectures without one here. */
bool hak_os_under_valgrind(void);

#endif
