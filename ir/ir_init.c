/* ir_init.c — parameter initializers. A param's values are a pure function of (seed, name, element
 * index): Philox keyed by the seed and a hash of the name, addressed by the element index. */
#include "ir/ir.h"
#include "ir/philox.h"

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
        out[i] = (float)v;
    }
}
