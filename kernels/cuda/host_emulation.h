// Lets a CUDA kernel file compile as plain C++ so that the tests can run
// its arithmetic on a machine without a GPU.
//
// WEIR_LAUNCH runs kernels without warp- or block-level cooperation (no
// __shared__, __syncthreads or shuffles): each thread runs to completion,
// one after another, so an atomic is a plain read-modify-write.
//
// WEIR_LAUNCH_WARPS runs kernels whose lanes cooperate by shuffles
// (__shfl_sync, __shfl_xor_sync with a full mask): the 32 lanes of a warp
// are coroutines (ucontext), and each shuffle is a rendezvous: a lane
// leaves its value and yields, and once every lane of the warp has done
// so they all read. A shuffle that not every lane of the warp reaches
// (one under a divergent branch, undefined on a GPU) aborts the harness.
#pragma once
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <functional>

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

// ---- Warps as coroutines ----

struct WeirWarpEmulation {
    ucontext_t scheduler;
    ucontext_t lanes[32];
    char* stacks[32] = {};
    // Two rounds of values: a lane that has read round n may write round
    // n + 1 while others still read round n.
    unsigned char slots[2][32][8];
    unsigned long shuffles[32];
    bool finished[32];
    int lane;
    std::function<void()> body;
};
static WeirWarpEmulation weir_warps;
static const size_t WEIR_LANE_STACK = 1 << 20;

static inline void weir_lane_entry() {
    weir_warps.body();
    weir_warps.finished[weir_warps.lane] = true;  // then uc_link: back to the scheduler
}

// Runs `body` on the 32 lanes of the warp whose first thread is `first`,
// interleaving them at every shuffle.
static inline void weir_run_warp(unsigned int first, std::function<void()> body) {
    WeirWarpEmulation& w = weir_warps;
    w.body = body;
    for (int l = 0; l < 32; ++l) {
        if (!w.stacks[l]) w.stacks[l] = (char*)malloc(WEIR_LANE_STACK);
        getcontext(&w.lanes[l]);
        w.lanes[l].uc_stack.ss_sp = w.stacks[l];
        w.lanes[l].uc_stack.ss_size = WEIR_LANE_STACK;
        w.lanes[l].uc_link = &w.scheduler;
        makecontext(&w.lanes[l], weir_lane_entry, 0);
        w.shuffles[l] = 0;
        w.finished[l] = false;
    }
    for (;;) {
        int running = 0;
        for (int l = 0; l < 32; ++l) {
            if (w.finished[l]) continue;
            w.lane = l;
            threadIdx.x = first + (unsigned int)l;
            swapcontext(&w.scheduler, &w.lanes[l]);
        }
        unsigned long round = 0;
        bool seen = false;
        for (int l = 0; l < 32; ++l) {
            if (w.finished[l]) continue;
            if (seen && w.shuffles[l] != round) {
                fprintf(stderr, "host emulation: lanes of a warp reached different shuffles\n");
                abort();
            }
            round = w.shuffles[l];
            seen = true;
            running += 1;
        }
        if (running == 0) return;
        if (running < 32) {
            fprintf(stderr, "host emulation: a shuffle that not every lane of the warp reached\n");
            abort();
        }
    }
}

template <typename T> static inline T weir_exchange(T value, int src) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes here");
    WeirWarpEmulation& w = weir_warps;
    int lane = w.lane;
    int round = (int)(w.shuffles[lane]++ & 1);
    memcpy(w.slots[round][lane], &value, sizeof(T));
    swapcontext(&w.lanes[lane], &w.scheduler);  // until every lane has left its value
    T out;
    memcpy(&out, w.slots[round][src & 31], sizeof(T));
    return out;
}

template <typename T> static inline T __shfl_sync(unsigned int, T value, int src) {
    return weir_exchange(value, src);
}

template <typename T> static inline T __shfl_xor_sync(unsigned int, T value, int lane_mask) {
    return weir_exchange(value, (int)(weir_warps.lane ^ lane_mask));
}

// Runs `call` on every thread of a 1-D grid, a warp (32 threads) at a time.
#define WEIR_LAUNCH_WARPS(grid, block, call)                                    \
    do {                                                                        \
        gridDim.x = (grid);                                                     \
        blockDim.x = (block);                                                   \
        for (unsigned int b_ = 0; b_ < (unsigned int)(grid); ++b_) {            \
            blockIdx.x = b_;                                                    \
            for (unsigned int t_ = 0; t_ < (block); t_ += 32) {                 \
                weir_run_warp(t_, [&]() { call; });                             \
            }                                                                   \
        }                                                                       \
    } while (0)
