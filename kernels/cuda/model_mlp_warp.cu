
// ---- Networks learning with one warp per key (appended to model.cu) ----
//
// weir_learn gives a network's key one thread, so the busiest key's rows
// are a chain of hundreds of dependent global-memory updates each, and the
// card learned networks slower than a CPU core (docs/benchmarks.md). For
// networks of one hidden layer of at most 32 units, at most 32 features and
// 4 outputs, learning online (batch_size 1), this kernel gives each active
// key a warp: lane j is hidden unit j and holds its row of input weights,
// their Adam moments, its bias and its weights to the outputs in registers
// for the whole batch; lane f also holds feature f's scaler and loads and
// standardises feature f of each row, which reaches the unit lanes by
// shuffle. A row's hidden layer is then one dot product per lane (in the
// CPU's order), its outputs warp reductions, and its updates run on all
// units at once: a row's chain is about the number of features long instead
// of the number of weights. The arithmetic is weir_learn's; only the order
// of the output sums differs. Shuffles have no host emulation: this kernel
// is tested on a GPU against the CPU bank and the float64 reference.

#define WEIR_MLP_FEATURES 32  // at most: one per lane
#define WEIR_MLP_OUTPUTS 4

// The outputs of one row through the link, on every lane: a is this lane's
// hidden unit's activation (0 on lanes beyond the hidden layer).
__device__ __forceinline__ void weir_mlp_outputs(int n_out, int task, float a, const float* w2, const float* b2,
                                                float* p) {
    for (int c = 0; c < WEIR_MLP_OUTPUTS; ++c) {
        if (c >= n_out) break;
        p[c] = weir_warp_sum(w2[c] * a) + b2[c];
    }
    weir_link(task, n_out, p);
}

// The hidden unit of this lane on standardised features xs (one per lane,
// lane f holding feature f): b1 + sum_f w1[f] * xs_f, in f order, activated.
__device__ __forceinline__ float weir_mlp_hidden(int n_features, int activation, bool unit, float xs,
                                                const float* w1, float b1) {
    float z = b1;
    for (int f = 0; f < WEIR_MLP_FEATURES; ++f) {
        if (f >= n_features) break;
        z += w1[f] * __shfl_sync(0xffffffffu, xs, f);
    }
    return unit ? weir_activate(activation, z) : 0.0f;
}

extern "C" __global__ void weir_learn_mlp_warp(WEIR_LEARN_PARAMS) {
    int warp = (int)((blockIdx.x * blockDim.x + threadIdx.x) / 32);
    int lane = (int)(threadIdx.x % 32);
    if (warp >= n_active) {
        return;  // the whole warp leaves together: warps never straddle keys
    }
    int n_hidden = hidden1;
    size_t k = active_keys[warp];
    // Layer 0: n_hidden x n_features weights, then layer 1: n_out x n_hidden;
    // the biases likewise; the moments the weights', then the biases'.
    size_t n_w1 = (size_t)n_hidden * n_features;
    size_t nw = n_w1 + (size_t)n_out * n_hidden;
    size_t nb = (size_t)n_hidden + n_out;
    float* w = weights + k * nw;
    float* b = bias + k * nb;
    float* m = adam_m + k * (nw + nb);
    float* v = adam_v + k * (nw + nb);
    float* mu_g = mean + k * (size_t)n_features;
    float* s2_g = var + k * (size_t)n_features;
    bool adam = optimizer == WEIR_OPT_ADAM;
    bool unit = lane < n_hidden;
    bool feature = lane < n_features;
    int j = lane;

    // Unit lane j: its input weights, bias and output weights, with moments.
    float w1[WEIR_MLP_FEATURES], m1[WEIR_MLP_FEATURES], v1[WEIR_MLP_FEATURES];
    for (int f = 0; f < WEIR_MLP_FEATURES; ++f) {
        bool here = unit && f < n_features;
        size_t at = (size_t)j * n_features + f;
        w1[f] = here ? w[at] : 0.0f;
        m1[f] = here && adam ? m[at] : 0.0f;
        v1[f] = here && adam ? v[at] : 0.0f;
    }
    float b1 = unit ? b[j] : 0.0f;
    float mb1 = unit && adam ? m[nw + j] : 0.0f;
    float vb1 = unit && adam ? v[nw + j] : 0.0f;
    float w2[WEIR_MLP_OUTPUTS], m2[WEIR_MLP_OUTPUTS], v2[WEIR_MLP_OUTPUTS];
    // Output biases and their moments: the same on every lane.
    float b2[WEIR_MLP_OUTPUTS], mb2[WEIR_MLP_OUTPUTS], vb2[WEIR_MLP_OUTPUTS];
    for (int c = 0; c < WEIR_MLP_OUTPUTS; ++c) {
        bool out_here = c < n_out;
        bool here = unit && out_here;
        size_t at = n_w1 + (size_t)c * n_hidden + j;
        w2[c] = here ? w[at] : 0.0f;
        m2[c] = here && adam ? m[at] : 0.0f;
        v2[c] = here && adam ? v[at] : 0.0f;
        b2[c] = out_here ? b[n_hidden + c] : 0.0f;
        mb2[c] = out_here && adam ? m[nw + n_hidden + c] : 0.0f;
        vb2[c] = out_here && adam ? v[nw + n_hidden + c] : 0.0f;
    }
    // Feature lane f: its scaler.
    float mu = feature ? mu_g[lane] : 0.0f;
    float s2 = feature ? s2_g[lane] : 0.0f;
    float cnt = count[k];
    unsigned int t = steps[k];

    // The next row prefetched, as in weir_learn_linear_warp.
    unsigned int j0 = offsets[warp], j1 = offsets[warp + 1];
    WeirKeyRows key_rows(order, j0, j1, lane);
    float x_next = 0.0f, y_next = 0.0f;
    size_t r_next = 0;
    auto fetch = [&](unsigned int i) {
        r_next = key_rows.row(i);
        y_next = labels[r_next];
        x_next = feature ? rows[r_next * (size_t)n_features + lane] : 0.0f;
    };
    if (j0 < j1) fetch(j0);

    for (unsigned int i = j0; i < j1; ++i) {
        size_t r = r_next;
        float y = y_next, x = x_next;
        if (i + 1 < j1) fetch(i + 1);
        // Test: the outputs before this row is learned.
        float xs = scale ? (feature ? weir_standardise(x, mu, s2) : 0.0f) : x;
        float a = weir_mlp_hidden(n_features, activation, unit, xs, w1, b1);
        float p[WEIR_MLP_OUTPUTS];
        weir_mlp_outputs(n_out, task, a, w2, b2, p);
        for (int c = 0; c < n_out; ++c) {
            if (lane == c) out[r * (size_t)n_out + c] = p[c];
        }
        // Train: the scaler learns the row, the network runs again on it.
        if (scale) {
            cnt += 1.0f;
            if (feature) {
                float old = mu;
                mu = old + (x - old) / cnt;
                s2 = s2 + ((x - old) * (x - mu) - s2) / cnt;
                xs = weir_standardise(x, mu, s2);
            }
            a = weir_mlp_hidden(n_features, activation, unit, xs, w1, b1);
            weir_mlp_outputs(n_out, task, a, w2, b2, p);
        }
        // Gradients: the outputs' (every lane), then this unit's.
        float g[WEIR_MLP_OUTPUTS];
        float back = 0.0f;
        for (int c = 0; c < WEIR_MLP_OUTPUTS; ++c) {
            if (c >= n_out) break;
            float d = task == WEIR_TASK_REGRESSION ? 2.0f * (p[c] - y)
                      : task == WEIR_TASK_BINARY  ? p[c] - y
                                                  : p[c] - ((float)c == y ? 1.0f : 0.0f);
            g[c] = fminf(fmaxf(d, -WEIR_CLIP), WEIR_CLIP);
            back += w2[c] * g[c];
        }
        float delta = back * weir_activate_grad(activation, a);

        float rate = lr;
        if (adam) {
            t += 1;
            rate = lr * sqrtf(1.0f - powf(beta2, (float)t)) / (1.0f - powf(beta1, (float)t));
        }
        if (unit) weir_step(optimizer, rate, beta1, beta2, eps, &b1, &mb1, &vb1, delta);
        for (int f = 0; f < WEIR_MLP_FEATURES; ++f) {
            if (f >= n_features) break;
            float xf = __shfl_sync(0xffffffffu, xs, f);  // on every lane: no shuffle under a branch
            if (unit) weir_step(optimizer, rate, beta1, beta2, eps, &w1[f], &m1[f], &v1[f], delta * xf + 2.0f * l2 * w1[f]);
        }
        for (int c = 0; c < WEIR_MLP_OUTPUTS; ++c) {
            if (c >= n_out) break;
            weir_step(optimizer, rate, beta1, beta2, eps, &b2[c], &mb2[c], &vb2[c], g[c]);
            if (unit) weir_step(optimizer, rate, beta1, beta2, eps, &w2[c], &m2[c], &v2[c], g[c] * a + 2.0f * l2 * w2[c]);
        }
    }

    if (unit) {
        for (int f = 0; f < WEIR_MLP_FEATURES; ++f) {
            if (f >= n_features) break;
            size_t at = (size_t)j * n_features + f;
            w[at] = w1[f];
            if (adam) {
                m[at] = m1[f];
                v[at] = v1[f];
            }
        }
        b[j] = b1;
        if (adam) {
            m[nw + j] = mb1;
            v[nw + j] = vb1;
        }
        for (int c = 0; c < n_out; ++c) {
            size_t at = n_w1 + (size_t)c * n_hidden + j;
            w[at] = w2[c];
            if (adam) {
                m[at] = m2[c];
                v[at] = v2[c];
            }
        }
    }
    if (feature) {
        mu_g[lane] = mu;
        s2_g[lane] = s2;
    }
    if (lane == 0) {
        for (int c = 0; c < n_out; ++c) {
            b[n_hidden + c] = b2[c];
            if (adam) {
                m[nw + n_hidden + c] = mb2[c];
                v[nw + n_hidden + c] = vb2[c];
            }
        }
        count[k] = cnt;
        steps[k] = t;
    }
}
