/* The shared flag parser of every iclc command. */
#include "runtime/cli.h"
#include "tests/tap.h"

int main(void) {
    int64_t n = 7;
    double lr = 0.5;
    bool run = false;
    const char *out = "x";
    cli_flag flags[] = {{"n", FLAG_INT, &n}, {"lr", FLAG_F64, &lr}, {"run", FLAG_BOOL, &run}, {"out", FLAG_STR, &out}};
    char a0[] = "t", a1[] = "pos1", a2[] = "--n", a3[] = "12", a4[] = "--lr=1e-3", a5[] = "--run", a6[] = "--out",
         a7[] = "dir", a8[] = "pos2";
    char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7, a8};
    int npos = -1;
    ok(cli_parse("t", 9, argv, flags, 4, &npos), "valid flags parse");
    is_int(npos, 2, "two positional arguments");
    is_str(argv[1], "pos1", "first positional kept in order");
    is_str(argv[2], "pos2", "second positional kept in order");
    is_int(n, 12, "--n 12");
    is_double(lr, 1e-3, 0, "--lr=1e-3");
    ok(run, "--run sets a bool");
    is_str(out, "dir", "--out dir");

    char b1[] = "--bogus";
    char *bad1[] = {a0, b1};
    ok(!cli_parse("t", 2, bad1, flags, 4, &npos), "unknown flag rejected");
    char b2[] = "--n", b3[] = "twelve";
    char *bad2[] = {a0, b2, b3};
    ok(!cli_parse("t", 3, bad2, flags, 4, &npos), "non-integer value rejected");
    char *bad3[] = {a0, b2};
    ok(!cli_parse("t", 2, bad3, flags, 4, &npos), "missing value rejected");
    return done_testing();
}
