// Runs cuda/model.cu's kernels (and the warp kernels appended to it) on the
// CPU (through host_emulation.h) for the tests in kernels/tests/banks.rs.
// op: 0 scores, 1 learns with weir_learn (a thread per key), 2 with
// weir_learn_linear_warp, 3 with weir_learn_mlp_warp (a warp per key). Reads one batch and the bank's state
// from stdin as whitespace-separated numbers, writes the predictions and the
// new state to stdout. The Rust side owns the format; see `emulated` there.
#include "../../cuda/host_emulation.h"
#include "../../cuda/model.cu"
#include "../../cuda/model_warp.cu"
#include "../../cuda/model_mlp_warp.cu"

#include "harness_io.h"

static void write_all(const std::vector<float>& v) {
    for (float x : v) printf("%.9g\n", x);
}

int main() {
    int op, n_rows, n_features, h1, h2, n_out, n_keys, n_active, task, activation, optimizer, scale, batch_size;
    float lr, beta1, beta2, eps, l2, intercept_lr;
    if (scanf("%d %d %d %d %d %d %d %d %d %d %d %d %d %f %f %f %f %f %f", &op, &n_rows, &n_features, &h1, &h2, &n_out,
              &n_keys, &n_active, &task, &activation, &optimizer, &scale, &batch_size, &lr, &beta1, &beta2, &eps, &l2,
              &intercept_lr) != 19) {
        fprintf(stderr, "harness: bad header\n");
        return 2;
    }
    WeirNet net = weir_net(n_features, h1, h2, n_out, task, activation, scale);
    size_t nw = (size_t)n_keys * net.n_weights, nb = (size_t)n_keys * net.n_biases;
    size_t nf = (size_t)n_keys * n_features;
    size_t batched = batch_size > 1 ? 1 : 0;
    std::vector<unsigned int> keys, active, offsets, order, steps, pending;
    std::vector<float> rows, labels, w, bias, m, v, count, mean, var, gw, gb;
    read_all(keys, n_rows);
    read_all(active, n_active);
    read_all(offsets, n_active + 1);
    read_all(order, n_rows);
    read_all(rows, (size_t)n_rows * n_features);
    read_all(labels, n_rows);
    read_all(w, nw);
    read_all(bias, nb);
    read_all(m, nw + nb);
    read_all(v, nw + nb);
    read_all(steps, n_keys);
    read_all(count, n_keys);
    read_all(mean, nf);
    read_all(var, nf);
    read_all(gw, batched * nw);
    read_all(gb, batched * nb);
    read_all(pending, batched * n_keys);
    std::vector<float> out((size_t)n_rows * n_out, 0.0f);
    // One warp a block, so that a warp kernel's grid is one block a key.
    const unsigned int block = 32;
#define WEIR_LEARN_ARGS                                                                                          \
    n_active, n_features, h1, h2, n_out, task, activation, scale, optimizer, lr, beta1, beta2, eps, l2,        \
        intercept_lr, batch_size, active.data(), offsets.data(), order.data(), rows.data(), labels.data(),      \
        w.data(), bias.data(), m.data(), v.data(), steps.data(), count.data(), mean.data(), var.data(),         \
        gw.data(), gb.data(), pending.data(), out.data()
    if (op == 0) {
        WEIR_LAUNCH((n_rows + block - 1) / block, block,
                    weir_predict(n_rows, n_features, h1, h2, n_out, task, activation, scale, keys.data(), rows.data(),
                                 w.data(), bias.data(), mean.data(), var.data(), out.data()));
    } else if (op == 1) {
        WEIR_LAUNCH((n_active + block - 1) / block, block, weir_learn(WEIR_LEARN_ARGS));
    } else if (op == 2) {
        WEIR_LAUNCH_WARPS(n_active, block, weir_learn_linear_warp(WEIR_LEARN_ARGS));
    } else {
        WEIR_LAUNCH_WARPS(n_active, block, weir_learn_mlp_warp(WEIR_LEARN_ARGS));
    }
    write_all(out);
    write_all(w);
    write_all(bias);
    write_all(m);
    write_all(v);
    for (unsigned int s : steps) printf("%u\n", s);
    write_all(count);
    write_all(mean);
    write_all(var);
    write_all(gw);
    write_all(gb);
    for (unsigned int s : pending) printf("%u\n", s);
    return 0;
}
