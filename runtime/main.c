/* iclc — compiler and trainer for in-context learners. Command dispatch. */
#include "runtime/cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name, *summary;
    int (*fn)(int, char **);
} commands[] = {
#define CMD(name, fn, summary, usage) {#name, summary, fn},
#include "runtime/commands.def"
#undef CMD
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static void print_help(FILE *out) {
    fprintf(out,
            "usage: iclc COMMAND [ARGS]\n"
            "iclc compiles neural architectures written in Lua into native CPU code and\n"
            "trains them on in-context-learning tasks.\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++) fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n  iclc help COMMAND   usage of one command\n"
            "  iclc --version      print the version\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        print_help(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("iclc %s\n", ICLC_VERSION);
        return CLI_OK;
    }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) {
            print_help(stdout);
            return CLI_OK;
        }
        const char *u = cli_usage(argv[2]);
        if (!u) {
            fprintf(stderr, "iclc help: unknown command '%s' (see `iclc --help`)\n", argv[2]);
            return CLI_USAGE;
        }
        fputs(u, stdout);
        return CLI_OK;
    }
    for (int i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, cmd) != 0) continue;
        /* `iclc CMD --help` prints that command's usage. */
        for (int k = 2; k < argc; k++)
            if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
                fputs(cli_usage(cmd), stdout);
                return CLI_OK;
            }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "iclc: unknown command '%s' (see `iclc --help`)\n", cmd);
    return CLI_USAGE;
}
