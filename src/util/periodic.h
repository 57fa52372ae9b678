// Periodic: runs a function on its own thread every `period` (first after
// one period) until it returns false or the Periodic is destroyed; the
// destructor waits for a run in progress to end.
//
// Thread-safety: construct and destroy from one thread. Errors: none (the
// function handles its own).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace vmstore {

class Periodic {
 public:
  Periodic(std::chrono::milliseconds period, std::function<bool()> fn) {
    thread_ = std::thread([this, period, fn = std::move(fn)] {
      std::unique_lock<std::mutex> l(mu_);
      while (!cv_.wait_for(l, period, [this] { return stop_; })) {
        l.unlock();
        const bool again = fn();
        l.lock();
        if (!again) return;
      }
    });
  }
  ~Periodic() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace vmstore
