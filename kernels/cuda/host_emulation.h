// Lets a CUDA kernel file compile as plain C++ so that the tests can run
// its arithmetic on a machine without a GPU. Only for kernels without
// warp- or block-level cooperation (no __shared__, __syncthreads or
// shuffles): each thread runs to completion, one after another, so an
// atomic is a plain read-modify-write.
#pragma once
#include <math.h>
#include <stddef.h>

#define __global__
#define __device__
#define __forceinline__ inline

struct weir_dim3 {
    unsigned int x, y, z;
};
static weir_dim3 threadIdx, blockIdx, blockDim, gridDim;

// Runs `call` once for every (block, thread) of a 1-D grid.
#define WEIR_LAUNCH(grid, block, call)                          \
    do {                                                        \
        gridDim.x = (grid);                                     \
        blockDim.x = (block);                                   \
        for (unsigned int b_ = 0; b_ < (grid); ++b_) {          \
            for (unsigned int t_ = 0; t_ < (block); ++t_) {     \
                blockIdx.x = b_;                                \
                threadIdx.x = t_;                               \
                call;                                           \
            }                                                   \
        }                                                       \
    } while (0)

static inline unsigned int atomicAdd(unsigned int* address, unsigned int value) {
    unsigned int old = *address;
    *address = old + value;
    return old;
}
