/* adam_torch.c — pass_adam on fixed gradients over 8 steps (clip 1.0, some steps clipped), printing the final
 * params; bench/adam_torch.py does the same with torch.optim.Adam/AdamW + clip_grad_norm_ (float64).
 *
 *   build/bench/adam_torch 0.1 > a.txt; /usr/bin/python3 bench/adam_torch.py 0.1 > b.txt; paste a.txt b.txt
 *
 * (argument: AdamW weight decay, 0 = Adam). Measured: identical to 15 digits for 0 and 0.1. */
#include "ir/interp.h"
#include "passes/adam.h"
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    double wd = argc > 1 ? atof(argv[1]) : 0;
    ir_graph *g = ir_graph_new();
    ir_id p = ir_param(g, "p", ir_shape_of(1, (int64_t[]){5}), ir_init_zeros());
    ir_id q = ir_param(g, "q", ir_shape_of(2, (int64_t[]){2, 3}), ir_init_zeros());
    ir_id gp = ir_input(g, "gp", ir_shape_of(1, (int64_t[]){5})), gq = ir_input(g, "gq", ir_shape_of(2, (int64_t[]){2, 3}));
    ir_output_add(g, "grad:p", gp); ir_output_add(g, "grad:q", gq);
    ir_adam_opts o = ir_adam_defaults(); o.weight_decay = wd; o.clip = 1.0;
    pass_adam(g, &o);
    ir_values *v = ir_values_new(g);
    for (int e = 0; e < 5; e++) v->t[p].data[e] = 0.1 * e - 0.2;
    for (int e = 0; e < 6; e++) v->t[q].data[e] = 0.3 - 0.05 * e;
    const char *names[2] = {"p", "q"}; ir_id ids[2] = {p, q}, gs[2] = {gp, gq}; int len[2] = {5, 6};
    char err[128], buf[64];
    for (int t = 1; t <= 8; t++) {
        v->t[ir_find_source(g, OP_input, "adam:lr")].data[0] = 0.01;
        v->t[ir_find_source(g, OP_input, "adam:step")].data[0] = t;
        for (int k = 0; k < 2; k++) for (int e = 0; e < len[k]; e++) v->t[gs[k]].data[e] = sin(1.7 * e + 0.9 * t + k) * (t % 3 == 0 ? 5 : 0.2);
        ir_interp(g, v, NULL, err, sizeof err);
        for (int k = 0; k < 2; k++) {
            snprintf(buf, 64, "new:%s", names[k]); memcpy(v->t[ids[k]].data, v->t[ir_output_find(g, buf)].data, len[k] * 8);
            snprintf(buf, 64, "adam:m_new:%s", names[k]); double *m = v->t[ir_output_find(g, buf)].data;
            snprintf(buf, 64, "adam:m:%s", names[k]); memcpy(v->t[ir_find_source(g, OP_input, buf)].data, m, len[k] * 8);
            snprintf(buf, 64, "adam:v_new:%s", names[k]); double *vv = v->t[ir_output_find(g, buf)].data;
            snprintf(buf, 64, "adam:v:%s", names[k]); memcpy(v->t[ir_find_source(g, OP_input, buf)].data, vv, len[k] * 8);
        }
    }
    for (int k = 0; k < 2; k++) for (int e = 0; e < len[k]; e++) printf("%.15g\n", v->t[ids[k]].data[e]);
}
