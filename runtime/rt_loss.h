/* rt_loss.h — the training loss as graph ops (see rt_loss.c). */
#ifndef ICLC_RUNTIME_RT_LOSS_H
#define ICLC_RUNTIME_RT_LOSS_H

#include "ir/ir.h"

typedef enum { RT_LOSS_SQUARED, RT_LOSS_BCE } rt_loss_kind;

/* A read-out head: predictions at token positions start + i*stride (i < count), channels
 * [channel, channel + width) of the model's output (heads share the output's channels side by side). */
typedef struct rt_head {
    const char *name;
    int64_t start, stride, count, width;
    rt_loss_kind loss;
    int64_t channel;
} rt_head;

/* Appends the loss of `heads` over `pred` (f32[B,T,d_out]) to g, with inputs "target:<head>"
 * f32[B,count,width] and "mask:<head>" f32[B,count]. Returns the scalar loss node, or IR_NONE with the
 * error in g. */
ir_id rt_loss_append(ir_graph *g, ir_id pred, const rt_head *heads, int nheads);

#endif
