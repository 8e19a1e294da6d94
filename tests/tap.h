/* tap.h — a small header-only TAP producer for iclc's test programs.
 *
 *   plan(n) or done_testing() at the end; ok(cond, fmt, ...); is_int(got, want, ...);
 *   is_double(got, want, tol, ...) (relative-or-absolute tolerance);
 *   is_str(got, want, ...); like(got, substring, ...); diag(fmt, ...);
 *   skip(n, why); todo_start(why) / todo_end().
 *
 * Output follows TAP version 13 as read by perl's `prove`. State lives in one
 * static struct per test program; this header is for tests only.
 */
#ifndef ICLC_TESTS_TAP_H
#define ICLC_TESTS_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    int run, failed, planned;
    const char *todo;
} tap_state;

static void tap_vline(int pass, const char *fmt, va_list ap) {
    tap_state.run++;
    if (!pass && !tap_state.todo) tap_state.failed++;
    printf("%sok %d - ", pass ? "" : "not ", tap_state.run);
    vprintf(fmt, ap);
    if (tap_state.todo) printf(" # TODO %s", tap_state.todo);
    printf("\n");
    fflush(stdout);
}

static inline void plan(int n) {
    tap_state.planned = n;
    printf("1..%d\n", n);
}

static inline void diag(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static inline int ok(int pass, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tap_vline(pass, fmt, ap);
    va_end(ap);
    return pass;
}

#define TAP_CHECK(pass, fmt)                                                 \
    do {                                                                            \
        va_list ap_;                                                                \
        va_start(ap_, fmt);                                                         \
        tap_vline((pass), fmt, ap_);                                                \
        va_end(ap_);                                                                \
    } while (0)

static inline int is_int(long long got, long long want, const char *fmt, ...) {
    int pass = got == want;
    TAP_CHECK(pass, fmt);
    if (!pass) diag("  got %lld, expected %lld", got, want);
    return pass;
}

/* Passes when |got - want| <= tol * max(1, |want|): relative for large values,
 * absolute near zero. NaN never passes unless both are NaN. */
static inline int is_double(double got, double want, double tol, const char *fmt, ...) {
    int pass = (isnan(got) && isnan(want)) ||
               (got == want) || fabs(got - want) <= tol * fmax(1.0, fabs(want));
    TAP_CHECK(pass, fmt);
    if (!pass) diag("  got %.9g, expected %.9g (tolerance %g)", got, want, tol);
    return pass;
}

static inline int is_str(const char *got, const char *want, const char *fmt, ...) {
    int pass = got && want && strcmp(got, want) == 0;
    TAP_CHECK(pass, fmt);
    if (!pass) diag("  got \"%s\"\n#   expected \"%s\"", got ? got : "(null)", want ? want : "(null)");
    return pass;
}

/* Passes when `needle` occurs in `got`. */
static inline int like(const char *got, const char *needle, const char *fmt, ...) {
    int pass = got && needle && strstr(got, needle) != NULL;
    TAP_CHECK(pass, fmt);
    if (!pass) diag("  \"%s\"\n#   does not contain \"%s\"", got ? got : "(null)", needle);
    return pass;
}

static inline void skip(int n, const char *why) {
    for (int i = 0; i < n; i++) {
        tap_state.run++;
        printf("ok %d # SKIP %s\n", tap_state.run, why);
    }
    fflush(stdout);
}

static inline void todo_start(const char *why) { tap_state.todo = why; }
static inline void todo_end(void) { tap_state.todo = NULL; }

/* Print the plan if none was given; return the process exit status. */
static inline int done_testing(void) {
    if (!tap_state.planned) printf("1..%d\n", tap_state.run);
    else if (tap_state.planned != tap_state.run)
        diag("planned %d tests but ran %d", tap_state.planned, tap_state.run);
    fflush(stdout);
    return tap_state.failed || (tap_state.planned && tap_state.planned != tap_state.run) ? 1 : 0;
}

#endif
