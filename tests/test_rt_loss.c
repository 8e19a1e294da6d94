/* The loss graph (runtime/rt_loss.c) against the same loss computed directly in C. */
#include "ir/interp.h"
#include "runtime/rt_loss.h"
#include "tests/tap.h"

#include <math.h>

enum { B = 2, T = 6, DO = 2 };

static double pred_at(int b, int t, int c) { return 0.3 * b - 0.2 * t + 0.7 * c - 0.1 * (t % 3) * c; }

int main(void) {
    rt_head heads[] = {
        {"y", 0, 2, 3, 1, RT_LOSS_SQUARED, 1}, /* positions 0, 2, 4; channel 1 */
        {"s", 1, 3, 2, 2, RT_LOSS_BCE, 0},     /* positions 1, 4; needs padding past T */
    };
    ir_graph *g = ir_graph_new();
    ir_id pred = ir_input(g, "pred", ir_shape_of(3, (int64_t[]){B, T, DO}));
    ir_id loss = rt_loss_append(g, pred, heads, 2);
    ok(loss != IR_NONE, "loss graph built: %s", ir_error(g));
    ok(ir_output_add(g, "loss", loss) && ir_verify(g), "loss graph verifies: %s", ir_error(g));
    is_int(g->nodes[loss].shape.rank, 0, "the loss is a scalar");

    ir_values *v = ir_values_new(g);
    ir_tensor *P = &v->t[pred], *ty = &v->t[ir_find_source(g, OP_input, "target:y")],
              *my = &v->t[ir_find_source(g, OP_input, "mask:y")], *ts = &v->t[ir_find_source(g, OP_input, "target:s")],
              *ms = &v->t[ir_find_source(g, OP_input, "mask:s")];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < DO; c++) P->data[(b * T + t) * DO + c] = pred_at(b, t, c);
    double want_y = 0, cnt_y = 0, want_s = 0, cnt_s = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < 3; i++) {
            double target = 0.5 * i - b, mask = (b + i) % 3 != 0;
            ty->data[b * 3 + i] = target;
            my->data[b * 3 + i] = mask;
            double d = pred_at(b, 2 * i, 1) - target;
            want_y += mask * d * d;
            cnt_y += mask;
        }
    for (int b = 0; b < B; b++)
        for (int i = 0; i < 2; i++) {
            ms->data[b * 2 + i] = 1;
            cnt_s += 1;
            for (int c = 0; c < 2; c++) {
                double target = (b + i + c) % 2 ? 1 : -1, t01 = (target + 1) / 2, p = pred_at(b, 1 + 3 * i, c);
                ts->data[(b * 2 + i) * 2 + c] = target;
                double sig = 1 / (1 + exp(-p));
                want_s += -(t01 * log(sig) + (1 - t01) * log(1 - sig));
            }
        }
    char err[256];
    ok(ir_interp(g, v, NULL, err, sizeof err), "interpreted: %s", err);
    is_double(v->t[loss].data[0], want_y / cnt_y + want_s / cnt_s, 1e-12, "loss = masked mean SE + mean BCE");
    for (int i = 0; i < B * 3; i++) my->data[i] = 0;
    ok(ir_interp(g, v, NULL, err, sizeof err), "interpreted with an empty mask");
    is_double(v->t[loss].data[0], want_s / cnt_s, 1e-12, "a head with nothing counted adds 0");
    ir_values_free(v);
    ir_graph_free(g);

    g = ir_graph_new();
    pred = ir_input(g, "pred", ir_shape_of(3, (int64_t[]){B, T, 1}));
    ok(rt_loss_append(g, pred, heads + 1, 1) == IR_NONE, "a head wider than the prediction is refused");
    like(ir_error(g), "head 's'", "... naming the head");
    ir_graph_free(g);
    return done_testing();
}
