/* `iclc graph` — print, check or run a graph (placeholder until the parser lands). */
#include "runtime/cli.h"

int cli_graph(int argc, char **argv) {
    bool run = false;
    int64_t seed = 1;
    cli_flag flags[] = {{"run", FLAG_BOOL, &run}, {"seed", FLAG_INT, &seed}};
    int npos;
    if (!cli_parse("graph", argc, argv, flags, 2, &npos)) return CLI_USAGE;
    return CLI_FAIL;
}
