/* Flag parsing shared by every iclc subcommand. */
#include "runtime/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name, *usage;
} commands[] = {
#define CMD(name, fn, summary, usage) {#name, usage},
#include "runtime/commands.def"
#undef CMD
};

const char *cli_usage(const char *command) {
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, command) == 0) return commands[i].usage;
    return NULL;
}

int cli_usage_error(const char *command, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "iclc %s: ", command);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see `iclc help %s`)\n", command);
    va_end(ap);
    return CLI_USAGE;
}

static bool set_value(const char *command, const cli_flag *f, const char *v) {
    char *end = NULL;
    errno = 0;
    switch (f->kind) {
    case FLAG_INT: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end) {
            cli_usage_error(command, "--%s wants an integer, got '%s'", f->name, v);
            return false;
        }
        *(int64_t *)f->dst = x;
        return true;
    }
    case FLAG_F64: {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x)) {
            cli_usage_error(command, "--%s wants a finite number, got '%s'", f->name, v);
            return false;
        }
        *(double *)f->dst = x;
        return true;
    }
    case FLAG_STR: *(const char **)f->dst = v; return true;
    case FLAG_BOOL: break;
    }
    return false;
}

bool cli_parse(const char *command, int argc, char **argv, const cli_flag *flags, int nflags,
               int *npos) {
    int pos = 1;
    bool only_positional = false;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_positional || a[0] != '-' || a[1] == '\0') {
            argv[pos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (a[1] != '-') {
            cli_usage_error(command, "unknown flag '%s'", a);
            return false;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_flag *f = NULL;
        for (int k = 0; k < nflags; k++)
            if (strlen(flags[k].name) == len && strncmp(flags[k].name, name, len) == 0) f = &flags[k];
        if (!f) {
            cli_usage_error(command, "unknown flag '--%.*s'", (int)len, name);
            return false;
        }
        if (f->kind == FLAG_BOOL) {
            if (eq) {
                cli_usage_error(command, "--%s takes no value", f->name);
                return false;
            }
            *(bool *)f->dst = true;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            cli_usage_error(command, "--%s needs a value", f->name);
            return false;
        }
        if (!set_value(command, f, v)) return false;
    }
    *npos = pos - 1;
    return true;
}
