// Histograms of many feature windows at once, for Weir's feature-drift
// monitors (PSI and Jensen-Shannon are computed from these counts on the
// host: a few bins per window, so the work worth a GPU is the binning).
//
// The windows are concatenated: window g's values are
// values[value_offsets[g] .. value_offsets[g + 1]], its ascending cut points
// edges[edge_offsets[g] .. edge_offsets[g + 1]], and its counts
// counts[edge_offsets[g] + g .. edge_offsets[g + 1] + g] (one bin more than
// cut points). A value goes to the bin numbered by how many of its window's
// edges are at or below it, as kernels/src/stats.rs `histogram` does; NaN
// values are not counted.
//
// One thread per value: it finds its window by binary search over
// value_offsets, its bin by binary search over the window's edges, and adds
// one with an atomic. Windows are small (tens to thousands of values over
// ten bins), so contention on a bin stays low.
//
// Compiled at run time by NVRTC (kernels/src/cuda/histograms.rs) and, in
// the tests, as C++ under host_emulation.h.

extern "C" __global__ void weir_histograms(
    unsigned int n_values, unsigned int n_windows,
    const unsigned int* value_offsets, const float* values,
    const unsigned int* edge_offsets, const float* edges,
    unsigned int* counts) {
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_values) {
        return;
    }
    float x = values[i];
    if (x != x) {
        return;  // NaN
    }
    // The last window that starts at or before i (empty windows share a
    // start with the next one; the last of them is the one holding i).
    unsigned int lo = 0, hi = n_windows;
    while (hi - lo > 1) {
        unsigned int mid = lo + (hi - lo) / 2;
        if (value_offsets[mid] <= i) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    unsigned int first = edge_offsets[lo];
    unsigned int a = first, b = edge_offsets[lo + 1];
    while (a < b) {
        unsigned int mid = a + (b - a) / 2;
        if (edges[mid] <= x) {
            a = mid + 1;
        } else {
            b = mid;
        }
    }
    atomicAdd(&counts[a + lo], 1u);
}
