/*
 * test_docs.c - the option table, hakmem.conf(5) and the shipped
 * etc/hakmem.conf must list the same keys with the same defaults, and the
 * shipped file must be valid once uncommented.
 */
#include "test_util.h"

#include "config/config.h"
#include "base/diag.h"
#include "config/options.h"

#ifndef HAK_SRCDIR
#error "HAK_SRCDIR must name the source tree"
#endif

static char *slurp(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", HAK_SRCDIR, rel);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    static char bufs[2][65536];
    static int next;
    char *buf = bufs[next++ % 2];
    size_t n = fread(buf, 1, sizeof bufs[0] - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* The default as the documents write it. */
static void format_default(int id, char *out, size_t cap)
{
    const hak_option_def *d = &hak_option_defs[id];
    hak_buf b = { .data = out, .cap = cap - 1, .fd = -1 };
    switch (d->type) {
    case HAK_OPT_BOOL: hak_buf_str(&b, d->def ? "on" : "off"); break;
    case HAK_OPT_INT: hak_buf_i64(&b, d->def); break;
    case HAK_OPT_SIZE: hak_buf_size(&b, (uint64_t)d->def); break;
    case HAK_OPT_STRING: hak_buf_str(&b, "(empty)"); break;
    case HAK_OPT_ENUM: {
        const char *c = d->choices;
        for (int64_t k = 0; k < d->def; k++)
            c = strchr(c, '|') + 1;
        const char *end = strchr(c, '|');
        hak_buf_mem(&b, c, end ? (size_t)(end - c) : strlen(c));
        break;
    }
    }
    out[b.len] = 0;
}

/* Keys documented in the KEYS section: ".TP" then ".B key". */
static int man_keys(const char *man, char keys[][64], char defaults[][64], int max)
{
    const char *sec = strstr(man, "\n.SH KEYS\n");
    cr_assert_not_null(sec, "hakmem.conf.5 has no KEYS section");
    const char *end = strstr(sec + 1, "\n.SH ");
    int n = 0;
    for (const char *p = strstr(sec, "\n.TP\n.B "); p && p < end; p = strstr(p + 1, "\n.TP\n.B ")) {
        cr_assert_lt(n, max);
        sscanf(p + 8, "%63s", keys[n]);
        const char *def = strstr(p, "Default:\n.BR ");
        cr_assert(def != NULL && def < end, "no default for %s", keys[n]);
        sscanf(def + 13, "%63s", defaults[n]);
        n++;
    }
    return n;
}

/* Keys in the shipped file: lines "#key = value". */
static int conf_keys(const char *conf, char keys[][64], char defaults[][64], int max)
{
    int n = 0;
    for (const char *p = conf; p; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        char key[64], val[64];
        int used = 0;
        if (p[0] == '#' && p[1] >= 'a' && p[1] <= 'z' && sscanf(p + 1, "%63s =%n", key, &used) == 1 &&
            used > 0) {
            /* An empty value ("#exclude =") is written "(empty)" in the page. */
            if (sscanf(p + 1 + used, "%63s", val) != 1 || p[1 + used] == '\n')
                strcpy(val, "(empty)");
            cr_assert_lt(n, max);
            strcpy(keys[n], key);
            strcpy(defaults[n], val);
            n++;
        }
    }
    return n;
}

static void same_as_table(const char *what, char keys[][64], char defaults[][64], int n)
{
    cr_assert_eq(n, HAK_OPT_COUNT, "%s lists %d keys, the table has %d", what, n, HAK_OPT_COUNT);
    for (int i = 0; i < n; i++) {
        int id = hak_option_find(keys[i], strlen(keys[i]));
        cr_assert_geq(id, 0, "%s documents '%s', which the table does not have", what, keys[i]);
        char want[64];
        format_default(id, want, sizeof want);
        cr_assert_str_eq(defaults[i], want, "%s: default of %s is '%s', the table says '%s'", what,
                         keys[i], defaults[i], want);
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(keys[i], keys[j], "%s lists %s twice", what, keys[i]);
    }
}

Test(docs, man_page_matches_the_option_table)
{
    static char keys[64][64], defaults[64][64];
    int n = man_keys(slurp("man/hakmem.conf.5"), keys, defaults, 64);
    same_as_table("hakmem.conf(5)", keys, defaults, n);
}

Test(docs, shipped_config_matches_the_option_table)
{
    static char keys[64][64], defaults[64][64];
    int n = conf_keys(slurp("etc/hakmem.conf"), keys, defaults, 64);
    same_as_table("etc/hakmem.conf", keys, defaults, n);
}

Test(docs, shipped_config_is_valid_when_uncommented)
{
    char *conf = slurp("etc/hakmem.conf");
    /* Uncomment "#key" lines; leave prose comments alone. */
    for (char *p = conf; *p; p++)
        if ((p == conf || p[-1] == '\n') && p[0] == '#' && p[1] >= 'a' && p[1] <= 'z')
            p[0] = ' ';
    hak_options_reset();
    cr_assert_eq(hak_config_parse("etc/hakmem.conf", conf, strlen(conf), HAK_SRC_FILE), 0);
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        cr_assert_eq(hak_option_sources[i], HAK_SRC_FILE, "%s not set", hak_option_defs[i].name);
        if (hak_option_defs[i].type == HAK_OPT_STRING)
            cr_assert_str_empty(hak_option_text + hak_option_values[i]);
        else
            cr_assert_eq(hak_option_values[i], hak_option_defs[i].def);
    }
}

Test(docs, fuzz_dictionary_has_every_key)
{
    const char *dict = slurp("fuzz/fuzz_config.dict");
    for (int i = 0; i < HAK_OPT_COUNT; i++) {
        char quoted[80];
        snprintf(quoted, sizeof quoted, "=\"%s\"\n", hak_option_defs[i].name);
        cr_assert_not_null(strstr(dict, quoted), "fuzz/fuzz_config.dict lacks the key %s",
                           hak_option_defs[i].name);
    }
}

Test(docs, library_page_documents_every_environment_variable)
{
    const char *man3 = slurp("man/hakmem.3");
    cr_assert_not_null(strstr(man3, "HAKMEM_CONF"));
    cr_assert_not_null(strstr(man3, ".SH DIAGNOSTICS"));
    cr_assert_not_null(strstr(man3, "dlopen"));
    const char *man5 = slurp("man/hakmem.conf.5");
    cr_assert_not_null(strstr(man5, "AT_SECURE"));
}
