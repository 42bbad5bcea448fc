/*
 * options_load.c - loading the options from their sources at
 * initialisation: the defaults, the system file and folder (hakmem.conf,
 * the *.conf files of hakmem.d), $HAKMEM_CONF and the HAKMEM_<KEY>
 * environment (the last two skipped in AT_SECURE processes), then the
 * profile's presets and the rules between keys.  No malloc, no stdio, no
 * getenv: the environment is walked directly.
 */
#define _GNU_SOURCE
#include "config/options.h"

#include <string.h>
#include <sys/auxv.h>

#include "base/diag.h"
#include "config/config.h"
#include "os/os.h"

extern char **environ;

static void opt_env_warn(const char *entry, size_t len, const char *why)
{
    char mem[256];
    hak_buf b = { .data = mem, .cap = sizeof mem - 1, .fd = -1 };
    hak_buf_str(&b, "hakmem: environment: ");
    hak_buf_mem(&b, entry, len > 96 ? 96 : len);
    hak_buf_str(&b, ": ");
    hak_buf_str(&b, why);
    hak_buf_str(&b, "; keeping the previous value");
    b.data[b.len++] = '\n';
    hak_os_write(2, b.data, b.len);
}

typedef void (*opt_env_fn)(const char *entry, size_t len, void *ctx);

/* Call fn for every "NAME=value" entry of the process environment.  environ
 * is not set yet when the dynamic loader makes the first call; the kernel's
 * copy in /proc/self/environ gives the same initial environment then. */
static void opt_env_foreach(opt_env_fn fn, void *ctx)
{
    if (environ != NULL) {
        for (char **e = environ; *e; e++)
            fn(*e, strlen(*e), ctx);
        return;
    }
    static char buf[16384];
    bool truncated;
    ssize_t got = hak_os_read_file("/proc/self/environ", buf, sizeof buf, &truncated);
    if (got <= 0)
        return;
    size_t n = (size_t)got;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == 0) {
            fn(buf + start, i - start, ctx);
            start = i + 1;
        }
    }
}

static const char opt_env_prefix[] = "HAKMEM_";

/* One "NAME=value" entry: apply it if it names an option. */
static void opt_apply_env_entry(const char *e, size_t len, void *ctx)
{
    unsigned *warnings = ctx;
    size_t plen = sizeof opt_env_prefix - 1;
    if (len <= plen || memcmp(e, opt_env_prefix, plen) != 0)
        return;
    const char *name = e + plen;
    const char *eq = memchr(name, '=', len - plen);
    if (eq == NULL)
        return;
    size_t nlen = (size_t)(eq - name);
    const char *val = eq + 1;
    size_t vlen = len - (size_t)(val - e);
    int id = hak_option_find(name, nlen);
    if (id < 0)
        return; /* HAKMEM_CONF, and other tools sharing the prefix */
    int64_t x;
    const char *err = hak_option_parse(id, val, vlen, &x);
    if (err) {
        opt_env_warn(e, len, err);
        ++*warnings;
        return;
    }
    hak_option_store(id, x, HAK_SRC_ENV);
}

struct opt_conf_path {
    char path[4096];
    bool found;
};

static void opt_find_conf(const char *e, size_t len, void *ctx)
{
    static const char key[] = "HAKMEM_CONF=";
    struct opt_conf_path *c = ctx;
    if (len < sizeof key - 1 || memcmp(e, key, sizeof key - 1) != 0)
        return;
    size_t vlen = len - (sizeof key - 1);
    if (vlen == 0 || vlen >= sizeof c->path)
        return;
    memcpy(c->path, e + sizeof key - 1, vlen);
    c->path[vlen] = 0;
    c->found = true;
}

/* Rules between keys: a pair that contradicts itself goes back to
 * defaults.  Returns the warnings printed (0 or 1). */
static unsigned opt_check_pair(int low, int high)
{
    if (hak_option_values[low] <= hak_option_values[high])
        return 0;
    char msg[160];
    hak_buf b = { .data = msg, .cap = sizeof msg - 1, .fd = -1 };
    hak_buf_str(&b, hak_option_defs[low].name);
    hak_buf_str(&b, " is larger than ");
    hak_buf_str(&b, hak_option_defs[high].name);
    hak_buf_str(&b, "; both keep their defaults");
    msg[b.len] = 0;
    hak_config_warn("configuration", 0, msg, NULL, 0);
    hak_option_values[low] = hak_option_defs[low].def;
    hak_option_values[high] = hak_option_defs[high].def;
    hak_option_sources[low] = hak_option_sources[high] = HAK_SRC_DEFAULT;
    return 1;
}

unsigned hak_options_load(const hak_options_inputs *in)
{
    unsigned warnings = 0;
    hak_options_reset();
    hak_config_set_identity(in->who);
    hak_config_load_file(in->system_file, HAK_SRC_FILE, false, &warnings);
    if (in->conf_dir)
        hak_config_load_dir(in->conf_dir, HAK_SRC_FILE, &warnings);
    if (!in->secure && !in->no_env) {
        /* setuid/setgid programs ignore both: the environment is the
         * caller's, not the program owner's. */
        static struct opt_conf_path conf;
        conf.found = false;
        opt_env_foreach(opt_find_conf, &conf);
        if (conf.found)
            hak_config_load_file(conf.path, HAK_SRC_CONF, true, &warnings);
        opt_env_foreach(opt_apply_env_entry, &warnings);
    }
    warnings += opt_check_pair(HAK_OPT_LEARN_MISS_LOW, HAK_OPT_LEARN_MISS_HIGH);
    warnings += opt_check_pair(HAK_OPT_LEARN_CAP_MIN, HAK_OPT_LEARN_CAP_MAX);
    hak_options_apply_profile();
    return warnings;
}

void hak_options_init(void)
{
    hak_options_inputs in = {
        .system_file = HAK_SYSCONFDIR "/hakmem.conf",
        .conf_dir = HAK_SYSCONFDIR "/hakmem.d",
        .secure = getauxval(AT_SECURE) != 0,
    };
    hak_options_load(&in);
}
