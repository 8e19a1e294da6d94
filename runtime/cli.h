/* The iclc command line: subcommands (runtime/commands.def) and one flag
 * parser they all share. */
#ifndef ICLC_RUNTIME_CLI_H
#define ICLC_RUNTIME_CLI_H

#include <stdbool.h>
#include <stdint.h>

/* Exit statuses of every command. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

#define CMD(name, fn, summary, usage) int fn(int argc, char **argv);
#include "runtime/commands.def"
#undef CMD

/* Usage text of a command (NULL when unknown). */
const char *cli_usage(const char *command);

typedef enum { FLAG_BOOL, FLAG_INT, FLAG_F64, FLAG_STR } cli_flag_kind;

/* One flag of a command. `dst` points at a bool, int64_t, double or
 * const char * according to `kind`; it keeps its default when the flag is
 * absent. Flags are written `--name VALUE` or `--name=VALUE`; bools take no
 * value. `--` ends the flags. */
typedef struct cli_flag {
    const char *name; /* without the leading dashes */
    cli_flag_kind kind;
    void *dst;
} cli_flag;

/* Parses argv[1..argc-1] of `command`. Positional arguments are moved, in
 * order, to the front of argv[1..]; their count is stored in *npos.
 * On a bad flag prints one line `iclc COMMAND: ...` plus a usage hint to
 * stderr and returns false (the caller exits with CLI_USAGE). */
bool cli_parse(const char *command, int argc, char **argv, const cli_flag *flags, int nflags,
               int *npos);

/* Prints `iclc COMMAND: message` and the usage hint to stderr; returns CLI_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
