/* Prompt i of (seed, stream) is the same bytes whatever the thread count, the batch split or the
 * layout length; streams and seeds give different prompts. */
#include "tasks/task.h"
#include "tests/tap.h"

#include <omp.h>

enum { B = 12 };


typedef struct {
    task_shape sh;
    task_batch b;
} batch;

static batch make(const task *t, int64_t nb, int64_t N) {
    batch x;
    task_error err;
    x.sh = task_shape_at(t, N);
    if (!task_batch_alloc(t, nb, N, true, &x.b, &err)) {
        diag("%s", err.msg);
        exit(1);
    }
    return x;
}

/* Bytes of prompt range [lo, hi) of x (tokens, targets, masks, latent) equal those of y at offset. */
static bool same_prompts(const batch *x, int64_t xoff, const batch *y, int64_t yoff, int64_t n) {
    const task_shape *s = &x->sh;
    bool eq = !memcmp(x->b.tokens + xoff * s->T * s->d_tok, y->b.tokens + yoff * s->T * s->d_tok,
                      (size_t)(n * s->T * s->d_tok) * sizeof(float));
    for (int h = 0; h < s->nheads; h++) {
        int64_t cw = s->heads[h].count * s->heads[h].width, c = s->heads[h].count;
        eq = eq && !memcmp(x->b.targets[h] + xoff * cw, y->b.targets[h] + yoff * cw, (size_t)(n * cw) * sizeof(float));
        eq = eq && !memcmp(x->b.mask[h] + xoff * c, y->b.mask[h] + yoff * c, (size_t)(n * c) * sizeof(float));
    }
    if (s->latent)
        eq = eq && !memcmp(x->b.latent + xoff * s->latent, y->b.latent + yoff * s->latent,
                           (size_t)(n * s->latent) * sizeof(float));
    return eq;
}

static void check_task(const char *name, const char *params) {
    task_error err;
    task *t = task_create(name, params, &err);
    const int64_t N = task_n_max(t);
    const task_state st = task_curriculum_at(t, 2500).st; /* a mid-curriculum state */
    const uint64_t seed = 20240101, first = 640;
    diag("%s %s (state d_cur = %lld, N = %lld)", name, params ? params : "", (long long)st.d_cur, (long long)st.N);

    batch one = make(t, B, N), two = make(t, B, N);
    omp_set_num_threads(1);
    task_sample(t, st, seed, TASK_TRAIN, first, &one.b, &err);
    omp_set_num_threads(2);
    task_sample(t, st, seed, TASK_TRAIN, first, &two.b, &err);
    ok(same_prompts(&one, 0, &two, 0, B), "  1 thread and 2 threads: identical bytes");

    /* split 12 = 5 + 7 */
    batch a = make(t, 5, N), b = make(t, 7, N);
    task_sample(t, st, seed, TASK_TRAIN, first, &a.b, &err);
    task_sample(t, st, seed, TASK_TRAIN, first + 5, &b.b, &err);
    ok(same_prompts(&one, 0, &a, 0, 5) && same_prompts(&one, 5, &b, 0, 7), "  batch split 5 + 7: identical bytes");

    /* a layout of exactly st.N points holds the same prompt as the longer layout */
    batch s = make(t, B, st.N);
    task_sample(t, st, seed, TASK_TRAIN, first, &s.b, &err);
    bool prefix = true;
    const task_shape *L = &one.sh, *S = &s.sh;
    for (int64_t i = 0; i < B; i++) {
        /* compare the examples' tokens (regression/parity/cot: the first S->T tokens; mqar: the pairs) */
        int64_t nt = !strcmp(name, "mqar") ? 2 * st.N : S->T;
        prefix = prefix && !memcmp(one.b.tokens + i * L->T * L->d_tok, s.b.tokens + i * S->T * S->d_tok,
                                   (size_t)(nt * S->d_tok) * sizeof(float));
        for (int h = 0; h < S->nheads; h++) {
            int64_t cw = S->heads[h].count * S->heads[h].width;
            prefix = prefix && !memcmp(one.b.targets[h] + i * L->heads[h].count * L->heads[h].width,
                                       s.b.targets[h] + i * cw, (size_t)cw * sizeof(float));
        }
    }
    ok(prefix, "  layout of N = %lld points holds the same prompt as the layout of %lld", (long long)st.N, (long long)N);
    /* beyond the state's points the longer layout is zero and masked */
    bool tail = true;
    if (strcmp(name, "mqar") != 0 && st.N < N)
        for (int64_t i = 0; i < B; i++) {
            for (int64_t p = S->T; p < L->T; p++)
                for (int64_t c = 0; c < L->d_tok; c++) tail = tail && one.b.tokens[(i * L->T + p) * L->d_tok + c] == 0;
            for (int h = 0; h < L->nheads; h++)
                for (int64_t k = st.N; k < N; k++) tail = tail && one.b.mask[h][i * L->heads[h].count + k] == 0;
        }
    ok(tail, "  positions beyond the state's N are zero tokens with mask 0");

    /* other stream, other seed: different prompts; same call again: same prompts */
    batch e = make(t, B, N), o = make(t, B, N), r = make(t, B, N);
    task_sample(t, st, seed, TASK_EVAL, first, &e.b, &err);
    task_sample(t, st, seed + 1, TASK_TRAIN, first, &o.b, &err);
    task_sample(t, st, seed, TASK_TRAIN, first, &r.b, &err);
    ok(same_prompts(&one, 0, &r, 0, B), "  same seed, same prompts: identical bytes");
    bool differ_e = true, differ_o = true;
    for (int64_t i = 0; i < B; i++) {
        differ_e = differ_e && !same_prompts(&one, i, &e, i, 1);
        differ_o = differ_o && !same_prompts(&one, i, &o, i, 1);
    }
    ok(differ_e, "  evaluation stream differs from the training stream at every prompt index");
    ok(differ_o, "  another seed gives other prompts");
    batch *all[] = {&one, &two, &a, &b, &s, &e, &o, &r};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) task_batch_free(&all[i]->b);
    task_free(t);
}

/* Training prompts step * 64 + b and the 1280 evaluation prompts never coincide (x tokens compared). */
static void eval_disjoint(void) {
    task_error err;
    task *t = task_create("linear_regression", "N=2", &err);
    task_batch ev, tr;
    task_batch_alloc(t, TASK_EVAL_PROMPTS, 2, false, &ev, &err);
    task_batch_alloc(t, 64 * 50, 2, false, &tr, &err);
    task_sample(t, task_eval_state(t), 5, TASK_EVAL, 0, &ev, &err);
    task_sample(t, task_eval_state(t), 5, TASK_TRAIN, 0, &tr, &err);
    int64_t hits = 0;
    for (int64_t i = 0; i < ev.B; i++)
        for (int64_t j = 0; j < tr.B; j++) hits += !memcmp(ev.tokens + i * 80, tr.tokens + j * 80, 20 * sizeof(float));
    is_int(hits, 0, "no evaluation prompt equals any of the first 3200 training prompts");
    task_batch_free(&ev);
    task_batch_free(&tr);
    task_free(t);
}

/* FNV-1a over the bytes of 16 training prompts of seed 3 (tokens, targets, masks, latent) at the
 * evaluation state. The sampler uses only IEEE-exact operations (no libm calls, no FMA contraction,
 * no reassociation), so these values are the same on every x86-64 CPU, vector width (the AVX-512,
 * AVX2 and SSE2 clones were checked) and optimisation level. A deliberate change of a sampler
 * changes them: update the table then. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ull;
    return h;
}

static void golden(void) {
    static const uint64_t want[9] = {
        0x30576ba55e1d52e9ull,
        0x739f102a3c9c9160ull,
        0x3f4a7fc216a2fa57ull,
        0xe87d9b94f6830c90ull,
        0xd483f45277dc9b61ull,
        0xcc3956d15b984406ull,
        0x8fef8d965572dcbdull,
        0x517a788757ae96c6ull,
        0xba96341ca939b740ull};
    for (int k = 0; k < task_count(); k++) {
        task_error err;
        task *t = task_create(task_name(k), NULL, &err);
        const int64_t N = task_n_max(t);
        batch x = make(t, 16, N);
        task_sample(t, task_eval_state(t), 3, TASK_TRAIN, 0, &x.b, &err);
        uint64_t h = fnv(1469598103934665603ull, x.b.tokens, (size_t)(16 * x.sh.T * x.sh.d_tok) * sizeof(float));
        for (int hh = 0; hh < x.sh.nheads; hh++) {
            h = fnv(h, x.b.targets[hh], (size_t)(16 * x.sh.heads[hh].count * x.sh.heads[hh].width) * sizeof(float));
            h = fnv(h, x.b.mask[hh], (size_t)(16 * x.sh.heads[hh].count) * sizeof(float));
        }
        h = fnv(h, x.b.latent, (size_t)(16 * x.sh.latent) * sizeof(float));
        ok(h == want[k], "%s: golden checksum %016llx", task_name(k), (unsigned long long)h);
        task_batch_free(&x.b);
        task_free(t);
    }
}

int main(void) {
    for (int i = 0; i < task_count(); i++) check_task(task_name(i), NULL);
    check_task("ortho_outlier_regression", "dummy=code");
    check_task("sparse_parity", "support=batch");
    eval_disjoint();
    golden();
    return done_testing();
}
