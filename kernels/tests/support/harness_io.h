// Input for the emulation harnesses (model_harness.cpp, stats_harness.cpp):
// whitespace-separated numbers on stdin, written by the Rust tests.
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <vector>

// Reads n numbers into v (resized to n); exits with status 2 on short input.
template <typename T> static void read_all(std::vector<T>& v, size_t n) {
    v.resize(n);
    for (size_t i = 0; i < n; ++i) {
        double x;
        if (scanf("%lf", &x) != 1) {
            fprintf(stderr, "harness: short input\n");
            exit(2);
        }
        v[i] = (T)x;
    }
}
