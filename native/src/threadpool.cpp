// Persistent worker threads woken by a generation counter; the caller runs chunk 0 itself.
#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace sftkit {
namespace {

class Pool {
 public:
  Pool() {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("SFTKIT_THREADS")) {
      int v = std::atoi(env);
      if (v > 0) n = v;
    }
    start(std::max(1, n));
  }
  ~Pool() { stop(); }

  int size() const { return nthreads_; }

  void resize(int n) {
    n = std::max(1, n);
    if (n == nthreads_) return;
    stop();
    start(n);
  }

  void run(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t, int)>& fn) {
    if (n <= 0) return;
    min_chunk = std::max<int64_t>(1, min_chunk);
    int64_t max_tasks = (n + min_chunk - 1) / min_chunk;
    int tasks = static_cast<int>(std::min<int64_t>(nthreads_, max_tasks));
    if (tasks <= 1) {
      fn(0, n, 0);
      return;
    }
    std::unique_lock<std::mutex> run_lock(run_mutex_);  // one parallel region at a time
    {
      std::lock_guard<std::mutex> lk(mutex_);
      fn_ = &fn;
      n_ = n;
      tasks_ = tasks;
      pending_.store(tasks - 1);
      ++generation_;
    }
    cv_.notify_all();
    run_chunk(0);
    std::unique_lock<std::mutex> lk(mutex_);
    done_cv_.wait(lk, [&] { return pending_.load() == 0; });
    fn_ = nullptr;
  }

 private:
  void run_chunk(int t) {
    int64_t begin = n_ * t / tasks_;
    int64_t end = n_ * (t + 1) / tasks_;
    if (begin < end) (*fn_)(begin, end, t);
  }

  // `seen` starts at the generation current when the worker was created: after a resize, a new
  // worker must not mistake the last (finished) region for new work.
  void worker(int index, uint64_t seen) {
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mutex_);
        cv_.wait(lk, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
        if (index >= tasks_) continue;
      }
      run_chunk(index);
      if (pending_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lk(mutex_);
        done_cv_.notify_one();
      }
    }
  }

  void start(int n) {
    nthreads_ = n;
    quit_ = false;
    const uint64_t gen = generation_;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, gen] { worker(i, gen); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mutex_);
      quit_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  int nthreads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  uint64_t generation_ = 0;
  bool quit_ = false;
  const std::function<void(int64_t, int64_t, int)>* fn_ = nullptr;
  int64_t n_ = 0;
  int tasks_ = 0;
  std::atomic<int> pending_{0};
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(n); }
void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t, int)>& fn) {
  pool().run(n, min_chunk, fn);
}

}  // namespace sftkit
