// Runs cuda/stats.cu's weir_histograms on the CPU (through
// host_emulation.h) for kernels/tests/stats.rs. Reads, as whitespace-
// separated numbers: n_values n_windows n_edges, then value_offsets
// (n_windows + 1), values, edge_offsets (n_windows + 1), edges ("nan" is a
// NaN); writes the n_edges + n_windows counts.
#include "../../cuda/host_emulation.h"
#include "../../cuda/stats.cu"

#include "harness_io.h"

int main() {
    unsigned int n_values, n_windows, n_edges;
    if (scanf("%u %u %u", &n_values, &n_windows, &n_edges) != 3) {
        fprintf(stderr, "harness: bad header\n");
        return 2;
    }
    std::vector<unsigned int> value_offsets, edge_offsets;
    std::vector<float> values, edges;
    read_all(value_offsets, n_windows + 1);
    read_all(values, n_values);
    read_all(edge_offsets, n_windows + 1);
    read_all(edges, n_edges);
    std::vector<unsigned int> counts(n_edges + n_windows, 0);
    const unsigned int block = 256;
    WEIR_LAUNCH((n_values + block - 1) / block, block,
                weir_histograms(n_values, n_windows, value_offsets.data(), values.data(), edge_offsets.data(),
                                edges.data(), counts.data()));
    for (unsigned int c : counts) printf("%u\n", c);
    return 0;
}
