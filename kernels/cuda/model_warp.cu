
// ---- Learning with one warp per key (appended to model.cu by NVRTC) ----
//
// weir_learn runs one thread per key, so the busiest key's rows are a chain
// of dependent global-memory operations on one thread, and a GPU learns
// slower than a CPU core (docs/benchmarks.md). For the linear models
// (no hidden layer) learning online (batch_size 1) with few features and
// outputs, this kernel gives each active key a warp instead: lane l holds
// features l and l + 32 of the key's weights, Adam moments and scaler in
// registers for the whole batch, a row's dot products are warp reductions,
// and its updates run on all lanes at once. The arithmetic is weir_learn's
// (the same scaler, link, clipping and steps); only the order of the sums
// differs. Shuffles have no host emulation: this kernel is tested on a GPU
// against the CPU bank and the float64 reference.

#define WEIR_WARP_FEATURES 2  // per lane: up to 64 features
#define WEIR_WARP_OUTPUTS 4

__device__ __forceinline__ float weir_warp_sum(float x) {
    for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(0xffffffffu, x, offset);
    return x;
}

// One key's row indices (order[j0..j1]) for a warp that walks them in
// order: they come 32 at a time, one per lane (a coalesced load, the next
// 32 fetched while these are used), and reach every lane by shuffle.
struct WeirKeyRows {
    const unsigned int* order;
    unsigned int end, base, chunk, chunk_next;
    int lane;

    __device__ WeirKeyRows(const unsigned int* order_, unsigned int j0, unsigned int j1, int lane_)
        : order(order_), end(j1), base(j0), lane(lane_) {
        chunk = j0 + lane < j1 ? order[j0 + lane] : 0u;
        chunk_next = j0 + 32 + lane < j1 ? order[j0 + 32 + lane] : 0u;
    }

    // order[j], on every lane together; j goes up by one from j0 call by call.
    __device__ size_t row(unsigned int j) {
        if (j - base == 32) {  // warp-uniform: every lane moves on
            base += 32;
            chunk = chunk_next;
            chunk_next = base + 32 + lane < end ? order[base + 32 + lane] : 0u;
        }
        return __shfl_sync(0xffffffffu, chunk, (int)(j - base));
    }
};

// The outputs of one row through the link, on every lane.
__device__ __forceinline__ void weir_warp_forward(int n_out, int task, int scale, const bool* has, const float* x,
                                                 const float* mu, const float* s2,
                                                 float w[WEIR_WARP_OUTPUTS][WEIR_WARP_FEATURES], const float* b,
                                                 float* p) {
    for (int o = 0; o < WEIR_WARP_OUTPUTS; ++o) {
        if (o >= n_out) break;
        float z = 0.0f;
        for (int f = 0; f < WEIR_WARP_FEATURES; ++f) {
            if (has[f]) z += w[o][f] * (scale ? weir_standardise(x[f], mu[f], s2[f]) : x[f]);
        }
        p[o] = weir_warp_sum(z) + b[o];
    }
    weir_link(task, n_out, p);
}

// Takes weir_learn's parameters, so that one launch serves both; those of
// hidden layers and mini-batches (hidden1, hidden2, activation, batch_size,
// grad_w, grad_b, pending) are not read.
extern "C" __global__ void weir_learn_linear_warp(WEIR_LEARN_PARAMS) {
    int warp = (int)((blockIdx.x * blockDim.x + threadIdx.x) / 32);
    int lane = (int)(threadIdx.x % 32);
    if (warp >= n_active) {
        return;  // the whole warp leaves together: warps never straddle keys
    }
    size_t k = active_keys[warp];
    size_t nw = (size_t)n_features * n_out;
    size_t moments = nw + n_out;
    float* w = weights + k * nw;
    float* b = bias + k * n_out;
    float* m = adam_m + k * moments;
    float* v = adam_v + k * moments;
    float* mu_g = mean + k * (size_t)n_features;
    float* s2_g = var + k * (size_t)n_features;
    bool adam = optimizer == WEIR_OPT_ADAM;

    bool has[WEIR_WARP_FEATURES];
    float mu[WEIR_WARP_FEATURES], s2[WEIR_WARP_FEATURES];
    float wr[WEIR_WARP_OUTPUTS][WEIR_WARP_FEATURES], mr[WEIR_WARP_OUTPUTS][WEIR_WARP_FEATURES],
        vr[WEIR_WARP_OUTPUTS][WEIR_WARP_FEATURES];
    float br[WEIR_WARP_OUTPUTS];
    for (int f = 0; f < WEIR_WARP_FEATURES; ++f) {
        int fi = lane + 32 * f;
        has[f] = fi < n_features;
        mu[f] = has[f] ? mu_g[fi] : 0.0f;
        s2[f] = has[f] ? s2_g[fi] : 0.0f;
        for (int o = 0; o < WEIR_WARP_OUTPUTS; ++o) {
            bool here = has[f] && o < n_out;
            size_t at = (size_t)o * n_features + fi;
            wr[o][f] = here ? w[at] : 0.0f;
            mr[o][f] = here && adam ? m[at] : 0.0f;
            vr[o][f] = here && adam ? v[at] : 0.0f;
        }
    }
    for (int o = 0; o < WEIR_WARP_OUTPUTS; ++o) br[o] = o < n_out ? b[o] : 0.0f;
    float c = count[k];
    unsigned int t = steps[k];

    // The next row's features and label are loaded while this row learns,
    // so the chain of dependent updates, which sets the busiest key's
    // time, does not also wait on memory.
    unsigned int j0 = offsets[warp], j1 = offsets[warp + 1];
    WeirKeyRows key_rows(order, j0, j1, lane);
    float x_next[WEIR_WARP_FEATURES];
    float y_next = 0.0f;
    size_t r_next = 0;
    auto fetch = [&](unsigned int j) {
        r_next = key_rows.row(j);
        y_next = labels[r_next];
        for (int f = 0; f < WEIR_WARP_FEATURES; ++f)
            x_next[f] = has[f] ? rows[r_next * (size_t)n_features + lane + 32 * f] : 0.0f;
    };
    if (j0 < j1) fetch(j0);

    for (unsigned int j = j0; j < j1; ++j) {
        size_t r = r_next;
        float y = y_next;
        float x[WEIR_WARP_FEATURES];
        for (int f = 0; f < WEIR_WARP_FEATURES; ++f) x[f] = x_next[f];
        if (j + 1 < j1) fetch(j + 1);
        float p[WEIR_WARP_OUTPUTS];
        // Test: the outputs before this row is learned.
        weir_warp_forward(n_out, task, scale, has, x, mu, s2, wr, br, p);
        for (int o = 0; o < n_out; ++o) {
            if (lane == o) out[r * (size_t)n_out + o] = p[o];
        }
        // Train: the scaler learns the row, the model runs again on it.
        if (scale) {
            c += 1.0f;
            for (int f = 0; f < WEIR_WARP_FEATURES; ++f) {
                if (!has[f]) continue;
                float old = mu[f];
                mu[f] = old + (x[f] - old) / c;
                s2[f] = s2[f] + ((x[f] - old) * (x[f] - mu[f]) - s2[f]) / c;
            }
            weir_warp_forward(n_out, task, scale, has, x, mu, s2, wr, br, p);
        }
        float g[WEIR_WARP_OUTPUTS];
        for (int o = 0; o < n_out; ++o) {
            float d = task == WEIR_TASK_REGRESSION ? 2.0f * (p[o] - y)
                      : task == WEIR_TASK_BINARY  ? p[o] - y
                                                  : p[o] - ((float)o == y ? 1.0f : 0.0f);
            g[o] = fminf(fmaxf(d, -WEIR_CLIP), WEIR_CLIP);
        }
        float rate = lr;
        if (adam) {
            t += 1;
            rate = lr * sqrtf(1.0f - powf(beta2, (float)t)) / (1.0f - powf(beta1, (float)t));
        }
        for (int o = 0; o < n_out; ++o) {
            br[o] -= intercept_lr * g[o];
            for (int f = 0; f < WEIR_WARP_FEATURES; ++f) {
                if (!has[f]) continue;
                float xs = scale ? weir_standardise(x[f], mu[f], s2[f]) : x[f];
                weir_step(optimizer, rate, beta1, beta2, eps, &wr[o][f], &mr[o][f], &vr[o][f], g[o] * xs + 2.0f * l2 * wr[o][f]);
            }
        }
    }

    for (int f = 0; f < WEIR_WARP_FEATURES; ++f) {
        if (!has[f]) continue;
        int fi = lane + 32 * f;
        mu_g[fi] = mu[f];
        s2_g[fi] = s2[f];
        for (int o = 0; o < n_out; ++o) {
            size_t at = (size_t)o * n_features + fi;
            w[at] = wr[o][f];
            if (adam) {
                m[at] = mr[o][f];
                v[at] = vr[o][f];
            }
        }
    }
    if (lane == 0) {
        for (int o = 0; o < n_out; ++o) b[o] = br[o];
        count[k] = c;
        steps[k] = t;
    }
}
