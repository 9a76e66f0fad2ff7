// Linear models for Weir: per-key banks of linear and logistic regression,
// trained online (test-then-train) and scored in batches.
//
// The arithmetic is River's (StandardScaler | LinearRegression or
// LogisticRegression) so results can be compared row by row:
//   - the scaler keeps a running mean and population variance per feature
//     and standardises x as (x - mean) / sqrt(var), or 0 where var == 0;
//   - predict uses the scaler as it was before the row; learn updates the
//     scaler with the row first, then takes one gradient step on it;
//   - the loss gradient is p - y (log loss) or 2 (z - y) (squared loss),
//     the bias moves by intercept_lr * gradient (plain SGD, as in River),
//     the weights by SGD or Adam on gradient * x + 2 * l2 * w.
//
// The state of key k lives at k * n_features (weights, Adam moments, scaler
// means and variances) and at k (bias, Adam step, scaler count). Each key's
// rows must be applied in order and different keys are independent, so
// learning runs one thread per key over that key's rows, given as a CSR
// grouping (active_keys, offsets, order) built on the host. No warp-level
// cooperation: the same text compiles as C++ with host_emulation.h, and the
// tests run it on the CPU against a float64 reference.
//
// This file is compiled at run time by NVRTC (kernels/src/cuda.rs) and, in
// the tests, by the host C++ compiler; keep it to C that both accept.

#define WEIR_TASK_REGRESSION 0
#define WEIR_TASK_BINARY 1
#define WEIR_OPT_SGD 0
#define WEIR_OPT_ADAM 1
#define WEIR_CLIP 1e12f

__device__ __forceinline__ float weir_sigmoid(float z) {
    if (z >= 0.0f) {
        return 1.0f / (1.0f + expf(-z));
    }
    float e = expf(z);
    return e / (1.0f + e);
}

// One standardised feature; 0 where the variance is 0 (River's safe_div).
__device__ __forceinline__ float weir_standardise(float x, float mean, float var) {
    return var > 0.0f ? (x - mean) / sqrtf(var) : 0.0f;
}

// w . standardise(x) + b for one row of one key.
__device__ __forceinline__ float weir_linear_score(
    const float* x, const float* w, float b, int n_features, int scale,
    const float* mean, const float* var) {
    float z = b;
    for (int f = 0; f < n_features; ++f) {
        float xs = scale ? weir_standardise(x[f], mean[f], var[f]) : x[f];
        z += w[f] * xs;
    }
    return z;
}

// Scores rows with their keys' models: one thread per row.
// out[r] = z (regression) or sigmoid(z) (binary).
extern "C" __global__ void weir_linear_predict(
    int n_rows, int n_features, int task, int scale,
    const unsigned int* keys, const float* rows,
    const float* weights, const float* bias,
    const float* mean, const float* var,
    float* out) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n_rows) {
        return;
    }
    size_t k = keys[r];
    size_t at = k * (size_t)n_features;
    float z = weir_linear_score(rows + (size_t)r * n_features, weights + at, bias[k],
                                n_features, scale, mean + at, var + at);
    out[r] = task == WEIR_TASK_BINARY ? weir_sigmoid(z) : z;
}

// Test-then-train over each active key's rows, in order: one thread per key.
// out[r] receives the prediction for row r made before learning from it.
extern "C" __global__ void weir_linear_learn(
    int n_active, int n_features, int task, int optimizer, int scale,
    float lr, float beta1, float beta2, float eps, float l2, float intercept_lr,
    const unsigned int* active_keys, const unsigned int* offsets, const unsigned int* order,
    const float* rows, const float* labels,
    float* weights, float* bias, float* adam_m, float* adam_v, unsigned int* steps,
    float* count, float* mean, float* var,
    float* out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_active) {
        return;
    }
    size_t k = active_keys[i];
    size_t at = k * (size_t)n_features;
    float* w = weights + at;
    float* m = adam_m + at;
    float* v = adam_v + at;
    float* mu = mean + at;
    float* s2 = var + at;
    for (unsigned int j = offsets[i]; j < offsets[i + 1]; ++j) {
        size_t r = order[j];
        const float* x = rows + r * (size_t)n_features;
        float y = labels[r];

        // Test: the prediction before this row is learned.
        float z = weir_linear_score(x, w, bias[k], n_features, scale, mu, s2);
        out[r] = task == WEIR_TASK_BINARY ? weir_sigmoid(z) : z;

        // Train: the scaler learns the row, then one gradient step on it.
        if (scale) {
            float c = count[k] + 1.0f;
            count[k] = c;
            for (int f = 0; f < n_features; ++f) {
                float old = mu[f];
                mu[f] = old + (x[f] - old) / c;
                s2[f] = s2[f] + ((x[f] - old) * (x[f] - mu[f]) - s2[f]) / c;
            }
            z = weir_linear_score(x, w, bias[k], n_features, scale, mu, s2);
        }
        float g = task == WEIR_TASK_BINARY ? weir_sigmoid(z) - y : 2.0f * (z - y);
        g = fminf(fmaxf(g, -WEIR_CLIP), WEIR_CLIP);
        bias[k] -= intercept_lr * g;
        if (optimizer == WEIR_OPT_ADAM) {
            unsigned int t = steps[k] + 1;
            steps[k] = t;
            float rate = lr * sqrtf(1.0f - powf(beta2, (float)t)) / (1.0f - powf(beta1, (float)t));
            for (int f = 0; f < n_features; ++f) {
                float xs = scale ? weir_standardise(x[f], mu[f], s2[f]) : x[f];
                float gi = g * xs + 2.0f * l2 * w[f];
                m[f] = beta1 * m[f] + (1.0f - beta1) * gi;
                v[f] = beta2 * v[f] + (1.0f - beta2) * gi * gi;
                w[f] -= rate * m[f] / (sqrtf(v[f]) + eps);
            }
        } else {
            for (int f = 0; f < n_features; ++f) {
                float xs = scale ? weir_standardise(x[f], mu[f], s2[f]) : x[f];
                w[f] -= lr * (g * xs + 2.0f * l2 * w[f]);
            }
        }
    }
}
