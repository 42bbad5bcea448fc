/*
 * config.c - reading hakmem.conf and hakmem.d (see config.h for the
 * format), and the reports of what was read.
 */
#define _GNU_SOURCE
#include "config/config.h"

#include <errno.h>
#include <string.h>

#include "os/os.h"

/* Initialisation is serialised by the init lock, so one static buffer
 * serves every file (a stack buffer this size could overflow a small
 * thread stack); the same holds for the folder's buffers below. */
static char config_buf[HAK_CONFIG_FILE_MAX];

/* ---- what was read, for the reports ---- */

/* A file read: dir/name, or name alone when dir is NULL.  The strings are
 * the caller's (a path) or config_names (a folder's files), which stay
 * until the next load. */
typedef struct config_file {
    const char *dir;
    const char *name;
} config_file;

typedef struct config_section {
    uint16_t file; /* index in config_files + 1 */
    uint32_t line;
    char text[120]; /* the header as written, cut to fit */
} config_section;

/* Where a value came from: file and section are indexes + 1, 0 = none. */
typedef struct config_origin {
    uint16_t file;
    uint16_t section;
    uint32_t line;
} config_origin;

static config_file config_files[HAK_CONFIG_FILES_MAX];
static unsigned config_file_total;
static config_section config_sections[HAK_CONFIG_SECTIONS_MAX];
static unsigned config_section_total;
static config_origin config_origins[HAK_OPT_COUNT];
static hak_identity *config_who;

void hak_config_forget(void)
{
    config_file_total = 0;
    config_section_total = 0;
    memset(config_origins, 0, sizeof config_origins);
}

void hak_config_set_identity(hak_identity *who)
{
    config_who = who;
}

/* Index + 1 of a new file entry; 0 when the table is full. */
static uint16_t config_add_file(const char *dir, const char *name)
{
    if (config_file_total == HAK_CONFIG_FILES_MAX)
        return 0;
    config_files[config_file_total] = (config_file){ dir, name };
    return (uint16_t)++config_file_total;
}

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

/* ---- one file ---- */

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

/* What the lines of a file are under: no section, a section that matches
 * the program, one that does not (or a bad header). */
enum config_scope { CONFIG_GLOBAL, CONFIG_MATCH, CONFIG_NO_MATCH };

typedef struct config_state {
    const char *name; /* for warnings */
    uint16_t file;
    uint16_t section; /* the matching section's index + 1, 0 if not remembered */
    enum config_scope scope;
    hak_opt_source source;
} config_state;

static const char config_after_bad_header[] = "; the keys under it apply to no program";

static unsigned config_bad_header(config_state *st, unsigned lineno, const char *why)
{
    char msg[200];
    hak_buf b = { .data = msg, .cap = sizeof msg - 1, .fd = -1 };
    hak_buf_str(&b, why);
    hak_buf_str(&b, config_after_bad_header);
    msg[b.len] = 0;
    hak_config_warn(st->name, lineno, msg, NULL, 0);
    st->scope = CONFIG_NO_MATCH;
    return 1;
}

/* A section header "[kind patterns]", trimmed; returns the warnings. */
static unsigned config_header(config_state *st, unsigned lineno, const char *line, size_t len)
{
    if (line[len - 1] != ']')
        return config_bad_header(st, lineno, "section header without a closing ']'");
    const char *in = line + 1;
    size_t n = len - 2;
    config_trim(&in, &n);
    size_t kind_len = 0;
    while (kind_len < n && !config_space(in[kind_len]))
        kind_len++;
    const char *pat = in + kind_len;
    size_t pat_len = n - kind_len;
    config_trim(&pat, &pat_len);
    if (kind_len == 0)
        return config_bad_header(st, lineno, "empty section header (use [program ...], "
                                             "[unit ...] or [cgroup ...])");
    bool program = hak_option_word_is(in, kind_len, "program");
    bool unit = hak_option_word_is(in, kind_len, "unit");
    bool cgroup = hak_option_word_is(in, kind_len, "cgroup");
    if (!program && !unit && !cgroup)
        return config_bad_header(st, lineno, "unknown section kind (use program, unit or cgroup)");
    if (pat_len == 0)
        return config_bad_header(st, lineno, "section without a pattern");
    hak_identity *who = config_who ? config_who : hak_identity_self();
    hak_identity_read(who);
    const char *subject = program ? who->exe : unit ? who->unit : who->cgroup;
    if (subject == NULL || !hak_glob_list(pat, pat_len, subject, program)) {
        st->scope = CONFIG_NO_MATCH;
        return 0;
    }
    st->scope = CONFIG_MATCH;
    st->section = 0;
    if (config_section_total < HAK_CONFIG_SECTIONS_MAX) {
        config_section *sec = &config_sections[config_section_total];
        sec->file = st->file;
        sec->line = lineno;
        size_t copy = len < sizeof sec->text - 1 ? len : sizeof sec->text - 1;
        memcpy(sec->text, line, copy);
        sec->text[copy] = 0;
        st->section = (uint16_t)++config_section_total;
    }
    return 0;
}

static unsigned config_bad_value(const config_state *st, unsigned lineno, int id, const char *err,
                                 const char *key, size_t key_len)
{
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
    hak_config_warn(st->name, lineno, msg, key, key_len);
    return 1;
}

/* One line; returns the warnings it printed (0 or 1). */
static unsigned config_line(config_state *st, unsigned lineno, const char *line, size_t len)
{
    const char *hash = memchr(line, '#', len);
    if (hash)
        len = (size_t)(hash - line);
    config_trim(&line, &len);
    if (len == 0)
        return 0;
    if (line[0] == '[')
        return config_header(st, lineno, line, len);
    const char *eq = memchr(line, '=', len);
    if (eq == NULL) {
        hak_config_warn(st->name, lineno, "expected 'key = value'; line ignored", NULL, 0);
        return 1;
    }
    const char *key = line;
    size_t key_len = (size_t)(eq - line);
    const char *val = eq + 1;
    size_t val_len = len - key_len - 1;
    config_trim(&key, &key_len);
    config_trim(&val, &val_len);
    if (key_len == 0) {
        hak_config_warn(st->name, lineno, "missing key before '='; line ignored", NULL, 0);
        return 1;
    }
    int id = hak_option_find(key, key_len);
    if (id < 0) {
        hak_config_warn(st->name, lineno, "unknown key; line ignored", key, key_len);
        return 1;
    }
    if (st->scope == CONFIG_NO_MATCH) {
        /* Checked all the same: a mistake shows wherever it is. */
        const char *err = hak_option_check(id, val, val_len);
        return err ? config_bad_value(st, lineno, id, err, key, key_len) : 0;
    }
    int64_t x;
    const char *err = hak_option_parse(id, val, val_len, &x);
    if (err)
        return config_bad_value(st, lineno, id, err, key, key_len);
    bool in_section = st->scope == CONFIG_MATCH;
    hak_opt_source source = in_section ? st->source + 1 : st->source;
    if (hak_option_store(id, x, source))
        config_origins[id] = (config_origin){ st->file, in_section ? st->section : 0, lineno };
    return 0;
}

static unsigned config_parse(const char *name, uint16_t file, const char *buf, size_t len,
                             hak_opt_source source)
{
    config_state st = { .name = name, .file = file, .scope = CONFIG_GLOBAL, .source = source };
    unsigned lineno = 0, warnings = 0;
    size_t pos = 0;
    while (pos < len) {
        lineno++;
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        if (end - pos > HAK_CONFIG_LINE_MAX) {
            /* An overlong section header must not leave its keys under
             * the section before it. */
            const char *s = buf + pos;
            size_t n = end - pos;
            config_trim(&s, &n);
            if (n && s[0] == '[') {
                warnings += config_bad_header(&st, lineno, "section header longer than 1024 bytes");
            } else {
                hak_config_warn(name, lineno, "line longer than 1024 bytes; ignored", NULL, 0);
                warnings++;
            }
        } else {
            warnings += config_line(&st, lineno, buf + pos, end - pos);
        }
        pos = end + 1;
    }
    return warnings;
}

unsigned hak_config_parse(const char *name, const char *buf, size_t len, hak_opt_source source)
{
    return config_parse(name, config_add_file(NULL, name), buf, len, source);
}

/* Read and apply path, registered as file entry `file`. */
static bool config_load(const char *path, uint16_t file, hak_opt_source source, bool must_exist,
                        unsigned *warnings)
{
    bool truncated;
    ssize_t got = hak_os_read_file(path, config_buf, sizeof config_buf, &truncated);
    if (got < 0) {
        if (must_exist || got != -ENOENT) {
            hak_config_warn(path, 0, "cannot be opened or read; not read", NULL, 0);
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
    *warnings += config_parse(path, file, config_buf, n, source);
    return true;
}

/* Forget file entry `file` (index + 1) if it is the last one: it was not read. */
static void config_drop_file(uint16_t file)
{
    if (file && file == config_file_total)
        config_file_total--;
}

bool hak_config_load_file(const char *path, hak_opt_source source, bool must_exist,
                          unsigned *warnings)
{
    uint16_t file = config_add_file(NULL, path);
    if (config_load(path, file, source, must_exist, warnings))
        return true;
    config_drop_file(file);
    return false;
}

/* ---- a folder of files ---- */

static char config_dir_buf[4096];
/* The names kept, sorted; they stay for the reports until the next load. */
static char config_names[HAK_CONFIG_DIR_MAX][HAK_CONFIG_NAME_MAX];

typedef struct config_dir_list {
    unsigned count;
    bool dropped; /* more *.conf files than fit; the last in order left out */
    bool too_long;
} config_dir_list;

/* Keep name, if it is a *.conf file, among the HAK_CONFIG_DIR_MAX smallest
 * in byte order (insertion into the sorted table). */
static void config_dir_entry(const char *name, void *ctx)
{
    config_dir_list *l = ctx;
    size_t n = strlen(name);
    if (name[0] == '.' || n <= 5 || memcmp(name + n - 5, ".conf", 5) != 0)
        return;
    if (n >= HAK_CONFIG_NAME_MAX) {
        l->too_long = true;
        return;
    }
    unsigned at = l->count;
    while (at > 0 && strcmp(config_names[at - 1], name) > 0)
        at--;
    if (l->count == HAK_CONFIG_DIR_MAX) {
        l->dropped = true;
        if (at == HAK_CONFIG_DIR_MAX)
            return;
        l->count--;
    }
    memmove(config_names[at + 1], config_names[at], (size_t)(l->count - at) * HAK_CONFIG_NAME_MAX);
    memcpy(config_names[at], name, n + 1);
    l->count++;
}

unsigned hak_config_load_dir(const char *dir, hak_opt_source source, unsigned *warnings)
{
    config_dir_list l = { 0, false, false };
    int err = hak_os_list_dir(dir, config_dir_buf, sizeof config_dir_buf, config_dir_entry, &l);
    if (err < 0) {
        if (err != -ENOENT && err != -ENOTDIR) {
            hak_config_warn(dir, 0, "cannot be read; its files are not read", NULL, 0);
            ++*warnings;
        }
        return 0;
    }
    if (l.dropped) {
        hak_config_warn(dir, 0, "holds more than 64 *.conf files; only the first 64 in name order "
                                "are read", NULL, 0);
        ++*warnings;
    }
    if (l.too_long) {
        hak_config_warn(dir, 0, "a *.conf file name of 256 bytes or more is not read", NULL, 0);
        ++*warnings;
    }
    static char path[4096 + HAK_CONFIG_NAME_MAX + 1];
    if (strlen(dir) >= 4096)
        return 0;
    unsigned read = 0;
    for (unsigned i = 0; i < l.count; i++) {
        hak_buf b = { .data = path, .cap = sizeof path - 1, .fd = -1 };
        hak_buf_str(&b, dir);
        hak_buf_char(&b, '/');
        hak_buf_str(&b, config_names[i]);
        path[b.len] = 0;
        uint16_t file = config_add_file(dir, config_names[i]);
        if (config_load(path, file, source, true, warnings))
            read++;
        else
            config_drop_file(file);
    }
    return read;
}

/* ---- reports ---- */

unsigned hak_config_file_count(void)
{
    return config_file_total;
}

void hak_config_file_path(hak_buf *b, unsigned i)
{
    if (i >= config_file_total) {
        hak_buf_char(b, '?');
        return;
    }
    if (config_files[i].dir) {
        hak_buf_str(b, config_files[i].dir);
        hak_buf_char(b, '/');
    }
    hak_buf_str(b, config_files[i].name);
}

unsigned hak_config_section_count(void)
{
    return config_section_total;
}

void hak_config_section_describe(hak_buf *b, unsigned i)
{
    const config_section *sec = &config_sections[i];
    hak_buf_str(b, sec->text);
    hak_buf_str(b, " at ");
    hak_config_file_path(b, (unsigned)sec->file - 1);
    hak_buf_char(b, ':');
    hak_buf_u64(b, sec->line);
}

void hak_config_origin_describe(hak_buf *b, int id)
{
    const config_origin *o = &config_origins[id];
    switch (hak_option_sources[id]) {
    case HAK_SRC_DEFAULT:
        /* A value no source set differs from the table's default only by
         * the profile's preset. */
        hak_buf_str(b, hak_option_values[id] == hak_option_defs[id].def ? "default" : "profile");
        return;
    case HAK_SRC_ENV: hak_buf_str(b, "env"); return;
    case HAK_SRC_API: hak_buf_str(b, "api"); return;
    default: break;
    }
    hak_config_file_path(b, (unsigned)o->file - 1);
    hak_buf_char(b, ':');
    hak_buf_u64(b, o->line);
    if (o->section) {
        hak_buf_str(b, " in ");
        hak_buf_str(b, config_sections[o->section - 1].text);
    }
}

/* Option id's value v as a configuration file would write it; text: the
 * text area its STRING offsets point into. */
static void config_value(hak_buf *b, int id, int64_t v, const char *text)
{
    const hak_option_def *d = &hak_option_defs[id];
    switch (d->type) {
    case HAK_OPT_BOOL: hak_buf_str(b, v ? "on" : "off"); break;
    case HAK_OPT_INT: hak_buf_i64(b, v); break;
    case HAK_OPT_SIZE: hak_buf_size(b, (uint64_t)v); break;
    case HAK_OPT_STRING: {
        const char *t = v >= 0 && v < HAK_OPTION_TEXT_MAX ? text + v : "";
        hak_buf_str(b, *t ? t : "(empty)");
        break;
    }
    case HAK_OPT_ENUM: {
        const char *c = d->choices;
        for (int64_t k = 0; k < v && c; k++) {
            c = strchr(c, '|');
            if (c)
                c++;
        }
        const char *end = c ? strchr(c, '|') : NULL;
        if (c)
            hak_buf_mem(b, c, end ? (size_t)(end - c) : strlen(c));
        break;
    }
    }
}

void hak_config_value_describe(hak_buf *b, int id)
{
    config_value(b, id, hak_option_values[id], hak_option_text);
}

void hak_config_print_values(hak_buf *b, const int64_t *values, const uint8_t *sources,
                             const char *text)
{
    /* Another process's copies: its files and sections are not known
     * here, only the kind of source of each value. */
    static const char *const source_name[] = { "default", "file", "file, section", "HAKMEM_CONF",
                                               "HAKMEM_CONF, section", "env", "api" };
    bool own = values == hak_option_values;
    hak_buf_str(b, "effective configuration:\n");
    for (unsigned i = 0; own && i < config_section_total; i++) {
        hak_buf_str(b, "  section ");
        hak_config_section_describe(b, i);
        hak_buf_str(b, " applies\n");
    }
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        hak_buf_str(b, "  ");
        hak_buf_str(b, hak_option_defs[i].name);
        hak_buf_str(b, " = ");
        config_value(b, i, values[i], text);
        hak_buf_str(b, " (");
        if (own)
            hak_config_origin_describe(b, i);
        else
            hak_buf_str(b, sources[i] <= HAK_SRC_API ? source_name[sources[i]] : "?");
        hak_buf_str(b, ")\n");
    }
}

void hak_config_print_effective(hak_buf *b)
{
    hak_config_print_values(b, hak_option_values, hak_option_sources, hak_option_text);
}
