/* rt_loss.c — the training loss as graph ops, appended to a model graph.
 *
 * A model maps tokens f32[B,T,d_in] to predictions f32[B,T,d_out] at every position. A task reads some
 * of them: head h takes positions start + i*stride (i < count) and `width` channels from `channel`, and
 * compares them with inputs "target:<head>" f32[B,count,width] under "mask:<head>" f32[B,count]:
 *
 *   squared:  per position sum_w (p - t)^2
 *   bce:      per element softplus(p) - t01 * p, t01 = (t + 1) / 2   (= BCE of sigmoid(p), stable form)
 *
 * A head's loss is the masked mean over counted positions; the loss is the sum over heads. Being graph
 * ops, the loss is differentiated, fused and compiled with the model. */
#include "runtime/rt_loss.h"

#include <stdio.h>

/* pred[:, start + i*stride, channel:channel+width] for i < count, as f32[B,count,width]. */
static ir_id gather_head(ir_graph *g, ir_id pred, const rt_head *h) {
    ir_shape s = g->nodes[pred].shape;
    int64_t B = s.dim[0], T = s.dim[1], d_out = s.dim[2], span = h->count * h->stride;
    ir_id x = pred;
    if (h->start + span > T) x = ir_pad(g, x, 1, 0, h->start + span - T, 0.0);
    x = ir_slice(g, x, 1, h->start, h->start + span);
    if (h->stride > 1) {
        x = ir_reshape(g, x, ir_shape_of(4, (int64_t[]){B, h->count, h->stride, d_out}));
        x = ir_slice(g, x, 2, 0, 1);
        x = ir_reshape(g, x, ir_shape_of(3, (int64_t[]){B, h->count, d_out}));
    }
    if (h->width < d_out) x = ir_slice(g, x, 2, h->channel, h->channel + h->width);
    return x;
}

static ir_id head_loss(ir_graph *g, ir_id pred, const rt_head *h) {
    char name[160];
    ir_id p = gather_head(g, pred, h);
    if (p == IR_NONE) return IR_NONE;
    int64_t B = g->nodes[p].shape.dim[0];
    snprintf(name, sizeof name, "target:%s", h->name);
    ir_id t = ir_input(g, name, ir_shape_of(3, (int64_t[]){B, h->count, h->width}));
    snprintf(name, sizeof name, "mask:%s", h->name);
    ir_id m = ir_input(g, name, ir_shape_of(2, (int64_t[]){B, h->count}));
    ir_id per_elem;
    if (h->loss == RT_LOSS_BCE) {
        ir_id t01 = ir_binary(g, OP_mul, ir_binary(g, OP_add, t, ir_scalar(g, 1.0)), ir_scalar(g, 0.5));
        per_elem = ir_binary(g, OP_sub, ir_unary(g, OP_softplus, p), ir_binary(g, OP_mul, t01, p));
    } else {
        per_elem = ir_unary(g, OP_square, ir_binary(g, OP_sub, p, t));
    }
    ir_id per_pos = ir_reshape(g, ir_reduce(g, OP_sum, per_elem, 2), ir_shape_of(2, (int64_t[]){B, h->count}));
    ir_shape all = ir_shape_of(1, (int64_t[]){B * h->count});
    ir_id total = ir_reduce(g, OP_sum, ir_reshape(g, ir_binary(g, OP_mul, per_pos, m), all), 0);
    ir_id counted = ir_reduce(g, OP_sum, ir_reshape(g, m, all), 0);
    ir_id denom = ir_binary(g, OP_max, counted, ir_scalar(g, 1.0));
    return ir_reshape(g, ir_binary(g, OP_div, total, denom), ir_shape_scalar());
}

ir_id rt_loss_append(ir_graph *g, ir_id pred, const rt_head *heads, int nheads) {
    if (pred == IR_NONE) return IR_NONE;
    ir_shape s = g->nodes[pred].shape;
    if (s.rank != 3) {
        char buf[96];
        ir_errorf(g, "loss: the model's prediction must be f32[B,T,d_out], got %s",
                  ir_type_str(IR_F32, s, buf, sizeof buf));
        return IR_NONE;
    }
    ir_loc saved = g->loc;
    g->loc = (ir_loc){ir_intern(g, "<loss>"), 0};
    ir_id loss = IR_NONE;
    for (int i = 0; i < nheads; i++) {
        const rt_head *h = &heads[i];
        if (h->channel < 0 || h->channel + h->width > s.dim[2] || h->count < 1 || h->stride < 1 || h->start < 0 || h->start >= s.dim[1]) {
            ir_errorf(g, "loss: head '%s' (start %lld, stride %lld, count %lld, width %lld) does not fit the "
                         "prediction f32[%lld,%lld,%lld]",
                      h->name, (long long)h->start, (long long)h->stride, (long long)h->count,
                      (long long)h->width, (long long)s.dim[0], (long long)s.dim[1], (long long)s.dim[2]);
            loss = IR_NONE;
            break;
        }
        ir_id l = head_loss(g, pred, h);
        loss = i == 0 ? l : ir_binary(g, OP_add, loss, l);
        if (loss == IR_NONE) break;
    }
    g->loc = saved;
    return loss;
}
