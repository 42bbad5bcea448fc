/*
 * config.c - reading hakmem.conf (see config.h for the format).
 */
#define _GNU_SOURCE
#include "config/config.h"

#include <errno.h>
#include <string.h>

#include "base/diag.h"
#include "os/os.h"

/* Initialisation is serialised by the init lock, so one static buffer
 * serves every file (a stack buffer this size could overflow a small
 * thread stack). */
static char config_buf[HAK_CONFIG_FILE_MAX];

void hak_config_warn(const char *name, unsigned line, const char *msg, const char *key,
                     size_t key_len)
{
    char mem[512];
    hak_buf b = { .data = mem, .cap = sizeof mem - 1, .fd = -1 };
    hak_buf_str(&b, "hakmem: ");
    hak_buf_str(&b, name);
    if (line) {
        hak_buf_char(&b, ':');
        hak_buf_u64(&b, line);
    }
    hak_buf_str(&b, ": ");
    if (key) {
        hak_buf_char(&b, '\'');
        hak_buf_mem(&b, key, key_len > 64 ? 64 : key_len);
        hak_buf_str(&b, "': ");
    }
    hak_buf_str(&b, msg);
    b.data[b.len++] = '\n';
    hak_os_write(2, b.data, b.len);
}

static bool config_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static void config_trim(const char **s, size_t *len)
{
    while (*len && config_space(**s))
        (*s)++, (*len)--;
    while (*len && config_space((*s)[*len - 1]))
        (*len)--;
}

/* One line; returns the warnings it printed (0 or 1). */
static unsigned config_line(const char *name, unsigned lineno, const char *line, size_t len,
                            hak_opt_source source)
{
    const char *hash = memchr(line, '#', len);
    if (hash)
        len = (size_t)(hash - line);
    config_trim(&line, &len);
    if (len == 0)
        return 0;
    const char *eq = memchr(line, '=', len);
    if (eq == NULL) {
        hak_config_warn(name, lineno, "expected 'key = value'; line ignored", NULL, 0);
        return 1;
    }
    const char *key = line;
    size_t key_len = (size_t)(eq - line);
    const char *val = eq + 1;
    size_t val_len = len - key_len - 1;
    config_trim(&key, &key_len);
    config_trim(&val, &val_len);
    if (key_len == 0) {
        hak_config_warn(name, lineno, "missing key before '='; line ignored", NULL, 0);
        return 1;
    }
    int id = hak_option_find(key, key_len);
    if (id < 0) {
        hak_config_warn(name, lineno, "unknown key; line ignored", key, key_len);
        return 1;
    }
    int64_t x;
    const char *err = hak_option_parse(id, val, val_len, &x);
    if (err) {
        char msg[160];
        hak_buf b = { .data = msg, .cap = sizeof msg - 1, .fd = -1 };
        hak_buf_str(&b, err);
        const hak_option_def *d = &hak_option_defs[id];
        if (d->type == HAK_OPT_INT || d->type == HAK_OPT_SIZE) {
            hak_buf_str(&b, " (allowed ");
            hak_buf_i64(&b, d->min);
            hak_buf_str(&b, "..");
            hak_buf_i64(&b, d->max);
            hak_buf_char(&b, ')');
        } else if (d->type == HAK_OPT_ENUM) {
            hak_buf_str(&b, " (allowed ");
            hak_buf_str(&b, d->choices);
            hak_buf_char(&b, ')');
        }
        hak_buf_str(&b, "; keeping the previous value");
        msg[b.len] = 0;
        hak_config_warn(name, lineno, msg, key, key_len);
        return 1;
    }
    hak_option_store(id, x, source);
    return 0;
}

unsigned hak_config_parse(const char *name, const char *buf, size_t len, hak_opt_source source)
{
    unsigned lineno = 0, warnings = 0;
    size_t pos = 0;
    while (pos < len) {
        lineno++;
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        if (end - pos > HAK_CONFIG_LINE_MAX) {
            hak_config_warn(name, lineno, "line longer than 1024 bytes; ignored", NULL, 0);
            warnings++;
        } else {
            warnings += config_line(name, lineno, buf + pos, end - pos, source);
        }
        pos = end + 1;
    }
    return warnings;
}

bool hak_config_load_file(const char *path, hak_opt_source source, bool must_exist,
                          unsigned *warnings)
{
    bool truncated;
    ssize_t got = hak_os_read_file(path, config_buf, sizeof config_buf, &truncated);
    if (got < 0) {
        if (must_exist || got != -ENOENT) {
            hak_config_warn(path, 0, "cannot be opened; not read", NULL, 0);
            ++*warnings;
        }
        return false;
    }
    size_t n = (size_t)got;
    if (truncated) {
        hak_config_warn(path, 0, "larger than 64 KiB; only the lines in its first 64 KiB are read",
                        NULL, 0);
        ++*warnings;
        /* Drop the partial last line. */
        while (n > 0 && config_buf[n - 1] != '\n')
            n--;
    }
    *warnings += hak_config_parse(path, config_buf, n, source);
    return true;
}
