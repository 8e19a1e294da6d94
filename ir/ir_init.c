/* ir_init.c — parameter initializers. A param's values are a pure function of (seed, name, element
 * index): Philox keyed by the seed and a hash of the name, addressed by the element index. */
#include "ir/ir.h"
#include "ir/philox.h"

#include <math.h>
#include <string.h>

static const char *const post_names[INIT_POST_COUNT] = {"none", "exp", "softplus_inv"};

const char *ir_init_post_name(ir_init_post p) { return (unsigned)p < INIT_POST_COUNT ? post_names[p] : NULL; }

ir_init_post ir_init_post_by_name(const char *name) {
    for (int i = 1; i < INIT_POST_COUNT; i++)
        if (strcmp(post_names[i], name) == 0) return (ir_init_post)i;
    return INIT_POST_COUNT;
}

ir_init ir_init_then(ir_init init, ir_init_post post) {
    for (int k = 0; k < IR_INIT_MAX_POST; k++)
        if (init.post[k] == INIT_POST_NONE) {
            init.post[k] = post;
            break;
        }
    return init;
}

void ir_init_fill(const ir_node *param, uint64_t seed, float *out) {
    const ir_init *in = &param->attr.init;
    int64_t n = ir_numel(param->shape);
    philox_key key = philox_make_key(seed, philox_hash_str(param->attr.name ? param->attr.name : ""));
    for (int64_t i = 0; i < n; i++) {
        double v = 0;
        switch (in->kind) {
        case INIT_ZEROS: v = 0; break;
        case INIT_ONES: v = 1; break;
        case INIT_CONSTANT: v = in->a; break;
        case INIT_NORMAL: {
            double z0, z1;
            philox_normal2(philox_block(key, 0, (uint64_t)i), &z0, &z1);
            v = in->a + in->b * z0;
            break;
        }
        case INIT_UNIFORM: {
            philox_ctr r = philox_block(key, 0, (uint64_t)i);
            v = in->a + (in->b - in->a) * philox_unit53(r.c[0], r.c[1]);
            break;
        }
        case INIT_DATA: v = in->data[i]; break;
        case INIT_COUNT: break;
        }
        for (int k = 0; k < IR_INIT_MAX_POST; k++) {
            if (in->post[k] == INIT_POST_EXP) v = exp(v);
            else if (in->post[k] == INIT_POST_SOFTPLUS_INV) v = v > 20 ? v : log(expm1(v)); /* log(e^v - 1) */
        }
        out[i] = (float)v;
    }
}
