/* `iclc demo` — placeholder until the IR lands (replaced in the foundation work). */
#include "runtime/cli.h"
#include <stdio.h>
int cli_demo(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("iclc demo: not built yet\n");
    return CLI_FAIL;
}
int cli_graph(int argc, char **argv) {
    bool run = false;
    int64_t seed = 1;
    cli_flag flags[] = {{"run", FLAG_BOOL, &run}, {"seed", FLAG_INT, &seed}};
    int npos;
    if (!cli_parse("graph", argc, argv, flags, 2, &npos)) return CLI_USAGE;
    return CLI_FAIL;
}
