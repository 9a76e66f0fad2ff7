// Per-key banks of small dense models for Weir: linear, logistic and
// softmax regression (no hidden layer) and multilayer perceptrons (one or
// two hidden layers), trained online (test-then-train) and scored in
// batches.
//
// With no hidden layer the arithmetic is River's (StandardScaler |
// LinearRegression, LogisticRegression or SoftmaxRegression with an
// intercept), so results can be compared row by row:
//   - the scaler keeps a running mean and population variance per feature
//     and standardises x as (x - mean) / sqrt(var), or 0 where var == 0;
//   - predict uses the scaler as it was before the row; learn updates the
//     scaler with the row first, runs the network again and takes one
//     gradient step (or adds to the key's mini-batch);
//   - the output gradient is 2 (z - y) (squared loss), p - y (log loss) or
//     p_c - [c == y] (cross-entropy), clipped to +-1e12, and flows back
//     through the hidden layers by the chain rule;
//   - a linear model's biases move by intercept_lr * gradient (plain SGD,
//     as in River), a network's by its optimizer; the weights by SGD or Adam
//     on gradient * input + 2 * l2 * w. Adam's moments of key k are at
//     k * (n_weights + n_biases): the weights', then the biases'.
//
// Layout of one key's model (see kernels/src/spec.rs): layer l maps dims[l]
// inputs to dims[l + 1] outputs, weights row-major at weight_offset[l],
// biases at bias_offset[l]. Key k's weights start at k * n_weights, its
// biases at k * n_biases, its scaler at k * n_features. One row's layer
// outputs and gradients are kept in per-thread arrays laid out as the
// biases (at most WEIR_MAX_UNITS per layer, three layers).
//
// Each key's rows must be applied in order and different keys are
// independent, so learning runs one thread per key over that key's rows,
// given as a CSR grouping (active_keys, offsets, order) built on the host.
// No warp-level cooperation: the same text compiles as C++ with
// host_emulation.h, and the tests run it on the CPU against a float64
// reference.
//
// This file is compiled at run time by NVRTC (kernels/src/cuda.rs) and, in
// the tests, by the host C++ compiler; keep it to C that both accept.

#define WEIR_TASK_REGRESSION 0
#define WEIR_TASK_BINARY 1
#define WEIR_TASK_MULTICLASS 2
#define WEIR_OPT_SGD 0
#define WEIR_OPT_ADAM 1
#define WEIR_ACT_RELU 0
#define WEIR_ACT_TANH 1
#define WEIR_ACT_SIGMOID 2
#define WEIR_CLIP 1e12f
#define WEIR_MAX_UNITS 256
#define WEIR_MAX_LAYERS 3

// The shape and settings of every model in a bank.
struct WeirNet {
    int n_layers;
    int dims[WEIR_MAX_LAYERS + 1];
    int weight_offset[WEIR_MAX_LAYERS];
    int bias_offset[WEIR_MAX_LAYERS];
    int n_weights;
    int n_biases;
    int task;
    int activation;
    int scale;
};

__device__ __forceinline__ WeirNet weir_net(int n_features, int hidden1, int hidden2, int n_out, int task,
                                            int activation, int scale) {
    WeirNet net;
    net.n_layers = 0;
    net.dims[0] = n_features;
    if (hidden1 > 0) net.dims[++net.n_layers] = hidden1;
    if (hidden2 > 0) net.dims[++net.n_layers] = hidden2;
    net.dims[++net.n_layers] = n_out;
    net.n_weights = 0;
    net.n_biases = 0;
    for (int l = 0; l < net.n_layers; ++l) {
        net.weight_offset[l] = net.n_weights;
        net.bias_offset[l] = net.n_biases;
        net.n_weights += net.dims[l] * net.dims[l + 1];
        net.n_biases += net.dims[l + 1];
    }
    net.task = task;
    net.activation = activation;
    net.scale = scale;
    return net;
}

__device__ __forceinline__ float weir_sigmoid(float z) {
    if (z >= 0.0f) {
        return 1.0f / (1.0f + expf(-z));
    }
    float e = expf(z);
    return e / (1.0f + e);
}

__device__ __forceinline__ float weir_activate(int activation, float z) {
    if (activation == WEIR_ACT_TANH) return tanhf(z);
    if (activation == WEIR_ACT_SIGMOID) return weir_sigmoid(z);
    return z > 0.0f ? z : 0.0f;
}

// The activation's derivative, from its output.
__device__ __forceinline__ float weir_activate_grad(int activation, float out) {
    if (activation == WEIR_ACT_TANH) return 1.0f - out * out;
    if (activation == WEIR_ACT_SIGMOID) return out * (1.0f - out);
    return out > 0.0f ? 1.0f : 0.0f;
}

// Zero for subnormal values: Adam's moments of a weight whose gradient stays
// zero decay into the subnormal range, which is slow on CPUs; flushing keeps
// the host emulation and the CPU backend (kernels/src/cpu.rs) the same.
__device__ __forceinline__ float weir_flush(float x) {
    return fabsf(x) < 1.17549435e-38f ? 0.0f : x;
}

// One optimizer step of parameter p on gradient g (rate is the step size,
// bias-corrected for Adam).
__device__ __forceinline__ void weir_step(int optimizer, float rate, float beta1, float beta2, float eps, float* p,
                                          float* m, float* v, float g) {
    if (optimizer == WEIR_OPT_ADAM) {
        *m = weir_flush(beta1 * *m + (1.0f - beta1) * g);
        *v = weir_flush(beta2 * *v + (1.0f - beta2) * g * g);
        *p -= rate * *m / (sqrtf(*v) + eps);
    } else {
        *p -= rate * g;
    }
}

// One standardised feature; 0 where the variance is 0 (River's safe_div).
__device__ __forceinline__ float weir_standardise(float x, float mean, float var) {
    return var > 0.0f ? (x - mean) / sqrtf(var) : 0.0f;
}

// Input i of layer l: the (standardised) feature, or the layer below's output.
__device__ __forceinline__ float weir_input(const WeirNet* net, int l, int i, const float* x, const float* mean,
                                            const float* var, const float* act) {
    if (l > 0) return act[net->bias_offset[l - 1] + i];
    return net->scale ? weir_standardise(x[i], mean[i], var[i]) : x[i];
}

// The task's link on the n_out scores in out, in place: the logistic
// function (binary), softmax (multiclass), or none (regression).
__device__ __forceinline__ void weir_link(int task, int n_out, float* out) {
    if (task == WEIR_TASK_BINARY) {
        out[0] = weir_sigmoid(out[0]);
    } else if (task == WEIR_TASK_MULTICLASS) {
        float top = out[0];
        for (int c = 1; c < n_out; ++c) top = fmaxf(top, out[c]);
        float sum = 0.0f;
        for (int c = 0; c < n_out; ++c) {
            out[c] = expf(out[c] - top);
            sum += out[c];
        }
        for (int c = 0; c < n_out; ++c) out[c] /= sum;
    }
}

// Runs one key's network on row x; every layer's outputs land in act
// (hidden layers activated, the last through the task's link).
__device__ void weir_forward(const WeirNet* net, const float* x, const float* w, const float* b, const float* mean,
                             const float* var, float* act) {
    int last = net->n_layers - 1;
    for (int l = 0; l <= last; ++l) {
        int n_in = net->dims[l];
        const float* wl = w + net->weight_offset[l];
        float* out = act + net->bias_offset[l];
        for (int o = 0; o < net->dims[l + 1]; ++o) {
            float z = b[net->bias_offset[l] + o];
            for (int i = 0; i < n_in; ++i) {
                z += wl[o * n_in + i] * weir_input(net, l, i, x, mean, var, act);
            }
            out[o] = l < last ? weir_activate(net->activation, z) : z;
        }
    }
    weir_link(net->task, net->dims[last + 1], act + net->bias_offset[last]);
}

// Copies the output layer of act to out.
__device__ __forceinline__ void weir_outputs(const WeirNet* net, const float* act, float* out) {
    int last = net->n_layers - 1;
    for (int c = 0; c < net->dims[last + 1]; ++c) out[c] = act[net->bias_offset[last] + c];
}

// Scores rows with their keys' models: one thread per row; row r's outputs
// go to out[r * n_out ..].
extern "C" __global__ void weir_predict(
    int n_rows, int n_features, int hidden1, int hidden2, int n_out, int task, int activation, int scale,
    const unsigned int* keys, const float* rows,
    const float* weights, const float* bias,
    const float* mean, const float* var,
    float* out) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n_rows) {
        return;
    }
    WeirNet net = weir_net(n_features, hidden1, hidden2, n_out, task, activation, scale);
    float act[WEIR_MAX_UNITS * WEIR_MAX_LAYERS];
    size_t k = keys[r];
    size_t at = k * (size_t)n_features;
    weir_forward(&net, rows + (size_t)r * n_features, weights + k * (size_t)net.n_weights,
                 bias + k * (size_t)net.n_biases, mean + at, var + at, act);
    weir_outputs(&net, act, out + (size_t)r * n_out);
}

// The parameters of the learning kernels (weir_learn, and
// weir_learn_linear_warp in model_warp.cu): one list, so one launch serves
// both.
#define WEIR_LEARN_PARAMS                                                                                    \
    int n_active, int n_features, int hidden1, int hidden2, int n_out, int task, int activation, int scale,   \
        int optimizer, float lr, float beta1, float beta2, float eps, float l2, float intercept_lr,           \
        int batch_size, const unsigned int *active_keys, const unsigned int *offsets,                        \
        const unsigned int *order, const float *rows, const float *labels, float *weights, float *bias,      \
        float *adam_m, float *adam_v, unsigned int *steps, float *count, float *mean, float *var,             \
        float *grad_w, float *grad_b, unsigned int *pending, float *out

// Test-then-train over each active key's rows, in order: one thread per key.
// out[r * n_out ..] receives row r's outputs before learning from it.
// grad_w, grad_b and pending hold each key's unfinished mini-batch when
// batch_size > 1 (they are not read otherwise).
extern "C" __global__ void weir_learn(WEIR_LEARN_PARAMS) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_active) {
        return;
    }
    WeirNet net = weir_net(n_features, hidden1, hidden2, n_out, task, activation, scale);
    float act[WEIR_MAX_UNITS * WEIR_MAX_LAYERS];
    float delta[WEIR_MAX_UNITS * WEIR_MAX_LAYERS];
    size_t k = active_keys[i];
    size_t at = k * (size_t)n_features;
    float* w = weights + k * (size_t)net.n_weights;
    float* b = bias + k * (size_t)net.n_biases;
    size_t moments = (size_t)net.n_weights + net.n_biases;
    float* m = adam_m + k * moments;
    float* v = adam_v + k * moments;
    float* gw = batch_size > 1 ? grad_w + k * (size_t)net.n_weights : 0;
    float* gb = batch_size > 1 ? grad_b + k * (size_t)net.n_biases : 0;
    float* mu = mean + at;
    float* s2 = var + at;
    int last = net.n_layers - 1;
    for (unsigned int j = offsets[i]; j < offsets[i + 1]; ++j) {
        size_t r = order[j];
        const float* x = rows + r * (size_t)n_features;
        float y = labels[r];

        // Test: the outputs before this row is learned.
        weir_forward(&net, x, w, b, mu, s2, act);
        weir_outputs(&net, act, out + r * (size_t)n_out);

        // Train: the scaler learns the row, the network runs again on it.
        if (scale) {
            float c = count[k] + 1.0f;
            count[k] = c;
            for (int f = 0; f < n_features; ++f) {
                float old = mu[f];
                mu[f] = old + (x[f] - old) / c;
                s2[f] = s2[f] + ((x[f] - old) * (x[f] - mu[f]) - s2[f]) / c;
            }
            weir_forward(&net, x, w, b, mu, s2, act);
        }

        // Gradients at every layer's pre-activations, output layer first.
        int top = net.bias_offset[last];
        for (int c = 0; c < n_out; ++c) {
            float p = act[top + c];
            float g = task == WEIR_TASK_REGRESSION ? 2.0f * (p - y)
                      : task == WEIR_TASK_BINARY  ? p - y
                                                  : p - ((float)c == y ? 1.0f : 0.0f);
            delta[top + c] = fminf(fmaxf(g, -WEIR_CLIP), WEIR_CLIP);
        }
        for (int l = last; l >= 1; --l) {
            int n_in = net.dims[l];
            const float* wl = w + net.weight_offset[l];
            for (int u = 0; u < n_in; ++u) {
                float s = 0.0f;
                for (int o = 0; o < net.dims[l + 1]; ++o) {
                    s += wl[o * n_in + u] * delta[net.bias_offset[l] + o];
                }
                delta[net.bias_offset[l - 1] + u] =
                    s * weir_activate_grad(activation, act[net.bias_offset[l - 1] + u]);
            }
        }

        // Mini-batches: add this row's gradients; step when the batch is full.
        float scale_g = 1.0f;
        if (batch_size > 1) {
            for (int l = 0; l <= last; ++l) {
                int n_in = net.dims[l];
                for (int o = 0; o < net.dims[l + 1]; ++o) {
                    float d = delta[net.bias_offset[l] + o];
                    gb[net.bias_offset[l] + o] += d;
                    for (int u = 0; u < n_in; ++u) {
                        gw[net.weight_offset[l] + o * n_in + u] += d * weir_input(&net, l, u, x, mu, s2, act);
                    }
                }
            }
            unsigned int p = pending[k] + 1;
            pending[k] = p;
            if (p < (unsigned int)batch_size) {
                continue;
            }
            scale_g = 1.0f / (float)p;
        }

        float rate = lr;
        if (optimizer == WEIR_OPT_ADAM) {
            unsigned int t = steps[k] + 1;
            steps[k] = t;
            rate = lr * sqrtf(1.0f - powf(beta2, (float)t)) / (1.0f - powf(beta1, (float)t));
        }
        for (int l = 0; l <= last; ++l) {
            int n_in = net.dims[l];
            for (int o = 0; o < net.dims[l + 1]; ++o) {
                int bo = net.bias_offset[l] + o;
                float d = batch_size > 1 ? gb[bo] * scale_g : delta[bo];
                if (last > 0) {
                    weir_step(optimizer, rate, beta1, beta2, eps, &b[bo], &m[net.n_weights + bo], &v[net.n_weights + bo], d);
                } else {
                    b[bo] -= intercept_lr * d;
                }
                for (int u = 0; u < n_in; ++u) {
                    int wo = net.weight_offset[l] + o * n_in + u;
                    float g = (batch_size > 1 ? gw[wo] * scale_g : d * weir_input(&net, l, u, x, mu, s2, act)) +
                              2.0f * l2 * w[wo];
                    weir_step(optimizer, rate, beta1, beta2, eps, &w[wo], &m[wo], &v[wo], g);
                }
            }
        }
        if (batch_size > 1) {
            for (int u = 0; u < net.n_weights; ++u) gw[u] = 0.0f;
            for (int u = 0; u < net.n_biases; ++u) gb[u] = 0.0f;
            pending[k] = 0;
        }
    }
}
