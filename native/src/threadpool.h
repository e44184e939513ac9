// A persistent thread pool sized to the cores (SFTKIT_THREADS overrides).
// parallel_for splits [0, n) into contiguous chunks; the calling thread takes part.
#pragma once
#include <cstdint>
#include <functional>

namespace sftkit {

int num_threads();
void set_num_threads(int n);

// fn(begin, end, thread_index) is called on disjoint chunks covering [0, n); chunks hold
// at least min_chunk items (except the last). Runs inline when n is small or one thread.
// Not reentrant: a kernel must not call parallel_for from inside fn.
void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t, int)>& fn);

}  // namespace sftkit
