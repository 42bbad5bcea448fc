/*
 * inspect_config.c - hakmemctl's configuration commands, run through
 * hakmem-inspect with the library's own parser and matching (the static
 * core library): what the allocator would read, never a second copy.
 *
 *   check-config [--sysconfdir DIR]
 *       Read hakmem.conf and the *.conf files of hakmem.d as the library does, every
 *       line of every section checked, and print the library's warnings
 *       and a summary.  Exit 0 if there is no warning, 1 otherwise.
 *   explain [--sysconfdir DIR] [--unit UNIT] [--cgroup PATH] [--env]
 *           PROGRAM [OBJECT...]
 *       What PROGRAM (an absolute path, symbolic links resolved) would
 *       get: the sections that apply, whether hakmem steps aside and why,
 *       every key with its value and origin.  OBJECTs are the libraries it
 *       loads (hakmemctl passes what ldd lists): any of them, or the
 *       program, that exports malloc makes hakmem step aside.  The
 *       caller's HAKMEM_* variables and HAKMEM_CONF count only with --env.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/forward.h"
#include "config/match.h"
#include "config/options.h"
#include "inspect.h"

static const char *config_option_value(int *i, int argc, char **argv)
{
    if (*i + 1 >= argc)
        inspect_usage_error("this option needs a value:", argv[*i]);
    return argv[++*i];
}

static void config_paths(const char *sysconfdir, char *file, char *dir, size_t cap)
{
    if (snprintf(file, cap, "%s/hakmem.conf", sysconfdir) >= (int)cap ||
        snprintf(dir, cap, "%s/hakmem.d", sysconfdir) >= (int)cap)
        inspect_usage_error("--sysconfdir is too long:", sysconfdir);
}

static void print_files(void)
{
    char mem[4096];
    unsigned n = hak_config_file_count();
    for (unsigned i = 0; i < n; i++) {
        hak_buf b = { .data = mem, .cap = sizeof mem - 1, .fd = -1 };
        hak_config_file_path(&b, i);
        mem[b.len] = 0;
        printf("%s%s", i ? ", " : "", mem);
    }
    if (n == 0)
        printf("no file");
}

int inspect_check_config(int argc, char **argv)
{
    const char *sysconfdir = HAK_SYSCONFDIR;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--sysconfdir") == 0)
            sysconfdir = config_option_value(&i, argc, argv);
        else
            inspect_usage_error("unknown argument to check-config:", argv[i]);
    }
    char file[4096], dir[4096];
    config_paths(sysconfdir, file, dir, sizeof file);
    /* A program that matches nothing: every line is checked all the same. */
    hak_identity nobody = { .known = true };
    hak_options_inputs in = { .system_file = file, .conf_dir = dir, .no_env = true, .who = &nobody };
    fflush(stdout);
    unsigned warnings = hak_options_load(&in);
    printf("configuration: ");
    print_files();
    if (warnings)
        printf(": %u problem%s (above)\n", warnings, warnings == 1 ? "" : "s");
    else
        printf(": no problems\n");
    return warnings ? 1 : 0;
}

/* ---- the objects a program loads ---- */

/* The sanitizer runtimes, by what each one's initialisation exports (as
 * config/forward.c tells them apart in a running process). */
static const struct {
    const char *symbol, *name;
} config_sanitizers[] = {
    { "__asan_init", "AddressSanitizer" }, { "__hwasan_init", "HWAddressSanitizer" },
    { "__msan_init", "MemorySanitizer" },  { "__tsan_init", "ThreadSanitizer" },
    { "__lsan_init", "LeakSanitizer" },
};

/* The defined functions of an ELF file's dynamic symbol table, read from
 * the file (the program is not run). */
typedef struct elf_file {
    void *map;
    size_t size;
    const Elf64_Sym *syms;
    size_t nsyms;
    const char *strs;
    size_t strs_size;
} elf_file;

static bool elf_open(elf_file *e, const char *path)
{
    memset(e, 0, sizeof *e);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        close(fd);
        return false;
    }
    e->size = (size_t)st.st_size;
    e->map = mmap(NULL, e->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (e->map == MAP_FAILED) {
        e->map = NULL;
        return false;
    }
    const Elf64_Ehdr *h = e->map;
    if (memcmp(h->e_ident, ELFMAG, SELFMAG) != 0 || h->e_ident[EI_CLASS] != ELFCLASS64 ||
        h->e_shentsize != sizeof(Elf64_Shdr) || h->e_shoff > e->size ||
        (size_t)h->e_shnum > (e->size - h->e_shoff) / sizeof(Elf64_Shdr))
        return true; /* not a 64-bit ELF file: no symbols */
    const Elf64_Shdr *sh = (const Elf64_Shdr *)((const char *)e->map + h->e_shoff);
    for (unsigned i = 0; i < h->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= h->e_shnum)
            continue;
        const Elf64_Shdr *str = &sh[sh[i].sh_link];
        if (sh[i].sh_offset > e->size || sh[i].sh_size > e->size - sh[i].sh_offset ||
            str->sh_offset > e->size || str->sh_size > e->size - str->sh_offset)
            break;
        e->syms = (const Elf64_Sym *)((const char *)e->map + sh[i].sh_offset);
        e->nsyms = sh[i].sh_size / sizeof(Elf64_Sym);
        e->strs = (const char *)e->map + str->sh_offset;
        e->strs_size = str->sh_size;
        break;
    }
    return true;
}

static bool elf_defines(const elf_file *e, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < e->nsyms; i++) {
        const Elf64_Sym *s = &e->syms[i];
        if (s->st_shndx == SHN_UNDEF || ELF64_ST_TYPE(s->st_info) != STT_FUNC ||
            s->st_name >= e->strs_size || e->strs_size - s->st_name <= len)
            continue;
        if (memcmp(e->strs + s->st_name, name, len + 1) == 0)
            return true;
    }
    return false;
}

static void elf_close(elf_file *e)
{
    if (e->map)
        munmap(e->map, e->size);
}

static bool config_is_libc(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    return strncmp(name, "libc.so", 7) == 0 || strncmp(name, "ld-linux", 8) == 0 ||
           strstr(name, "libhakmem.so") != NULL;
}

/* Print why hakmem would step aside by itself in a process of these
 * objects (the program first), as the running library decides. */
static void explain_automatic(char **objects, int count)
{
    for (int i = 0; i < count; i++) {
        if (i > 0 && config_is_libc(objects[i]))
            continue;
        elf_file e;
        if (!elf_open(&e, objects[i])) {
            printf("  %s cannot be read\n", objects[i]);
            continue;
        }
        if (elf_defines(&e, "malloc")) {
            const char *what = "another malloc";
            for (size_t k = 0; k < sizeof config_sanitizers / sizeof config_sanitizers[0]; k++)
                if (elf_defines(&e, config_sanitizers[k].symbol))
                    what = config_sanitizers[k].name;
            printf("steps aside: yes, %s%s in %s\n", what,
                   strcmp(what, "another malloc") ? " runtime" : "", i ? objects[i] : "the program");
            elf_close(&e);
            return;
        }
        elf_close(&e);
    }
    printf("steps aside: no: no malloc in the program or the %d librar%s it loads (under "
           "valgrind it would)\n",
           count - 1, count == 2 ? "y" : "ies");
}

int inspect_explain(int argc, char **argv)
{
    const char *sysconfdir = HAK_SYSCONFDIR;
    hak_identity who = { .known = true };
    bool env = false;
    int i = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--sysconfdir") == 0)
            sysconfdir = config_option_value(&i, argc, argv);
        else if (strcmp(argv[i], "--unit") == 0)
            who.unit = config_option_value(&i, argc, argv);
        else if (strcmp(argv[i], "--cgroup") == 0)
            who.cgroup = config_option_value(&i, argc, argv);
        else if (strcmp(argv[i], "--env") == 0)
            env = true;
        else
            inspect_usage_error("unknown option to explain:", argv[i]);
    }
    if (i >= argc)
        inspect_usage_error("explain needs a program", NULL);
    who.exe = argv[i];
    if (who.exe[0] != '/')
        inspect_usage_error("the program must be an absolute path:", who.exe);
    /* A unit given alone: its cgroup as systemd makes it for a system unit. */
    char unit_buf[256], cgroup_buf[512];
    if (who.cgroup && !who.unit && hak_identity_unit_of(who.cgroup, unit_buf, sizeof unit_buf))
        who.unit = unit_buf;
    if (who.unit && !who.cgroup) {
        snprintf(cgroup_buf, sizeof cgroup_buf, "/system.slice/%s", who.unit);
        who.cgroup = cgroup_buf;
    }
    char file[4096], dir[4096];
    config_paths(sysconfdir, file, dir, sizeof file);
    hak_options_inputs in = { .system_file = file, .conf_dir = dir, .no_env = !env, .who = &who };
    fflush(stdout);
    unsigned warnings = hak_options_load(&in);

    printf("program: %s\n", who.exe);
    printf("unit: %s\n", who.unit ? who.unit : "(none given: [unit] sections do not match)");
    printf("cgroup: %s\n", who.cgroup ? who.cgroup : "(none given: [cgroup] sections do not match)");
    printf("files read: ");
    print_files();
    printf("%s\n", warnings ? " (with problems: see above)" : "");
    printf("environment: %s\n", env ? "this shell's HAKMEM_CONF and HAKMEM_* count"
                                    : "ignored (--env to count this shell's)");
    char mem[16384];
    hak_buf b = { .data = mem, .cap = sizeof mem - 1, .fd = -1 };
    hak_aside why = hak_forward_configured(&who);
    if (why != HAK_ASIDE_NONE) {
        int id = why == HAK_ASIDE_ALLOCATOR ? HAK_OPT_ALLOCATOR : HAK_OPT_EXCLUDE;
        hak_buf_str(&b, "allocator: libc: hakmem steps aside (");
        hak_buf_str(&b, why == HAK_ASIDE_ALLOCATOR ? "allocator = libc, " : "exclude, ");
        hak_config_origin_describe(&b, id);
        hak_buf_str(&b, ")\n");
    } else {
        hak_buf_str(&b, "allocator: hakmem\n");
    }
    mem[b.len] = 0;
    fputs(mem, stdout);
    if (why == HAK_ASIDE_NONE) {
        if (hak_opt(HAK_OPT_STEP_ASIDE))
            explain_automatic(argv + i, argc - i);
        else
            printf("steps aside: never by itself (step_aside = off)\n");
    }
    b.len = 0;
    hak_config_print_effective(&b);
    mem[b.len] = 0;
    fputs(mem, stdout);
    return 0;
}
