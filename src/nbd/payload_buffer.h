// Request payload buffers (write data, read data) for the NBD server, sized
// so the server's memory stays bounded and its large requests fast:
// - up to kSmall bytes: a buffer each worker keeps;
// - larger: a mapping of the request's size class (the next power of two),
//   taken from a BufferCache shared by the server's connections and given
//   back to it after the reply. The cache keeps at most `cap` bytes of free
//   mappings (the rest is unmapped at once), so a burst of large requests
//   leaves at most that much behind, and a stream of them reuses its
//   buffers instead of faulting in fresh zeroed pages each time (1.7x the
//   time for 1 MiB reads when every request mapped its own).
//
// Thread-safety: BufferCache is thread-safe; a PayloadBuffer is one
// worker's. Errors: Resize returns false when no memory can be mapped.
#pragma once

#include <sys/mman.h>

#include <bit>
#include <cstddef>
#include <map>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "util/mutex.h"

namespace vmstore::nbd {

class BufferCache {
 public:
  explicit BufferCache(size_t cap) : cap_(cap) {}
  ~BufferCache() {
    for (auto& [size, list] : free_) {
      for (void* p : list) ::munmap(p, size);
    }
  }
  BufferCache(const BufferCache&) = delete;
  BufferCache& operator=(const BufferCache&) = delete;

  // A mapping of `size` bytes (a size class), reused if one is free.
  char* Get(size_t size) EXCLUDES(mu_) {
    {
      MutexLock l(&mu_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        return static_cast<char*>(p);
      }
    }
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }
  // Gives a mapping back: kept if the cache has room, else unmapped.
  void Put(char* p, size_t size) EXCLUDES(mu_) {
    {
      MutexLock l(&mu_);
      if (cached_ + size <= cap_) {
        free_[size].push_back(p);
        cached_ += size;
        return;
      }
    }
    ::munmap(p, size);
  }
  size_t cached() const EXCLUDES(mu_) {
    MutexLock l(&mu_);
    return cached_;
  }

 private:
  const size_t cap_;
  mutable Mutex mu_;
  std::map<size_t, std::vector<void*>> free_ GUARDED_BY(mu_);
  size_t cached_ GUARDED_BY(mu_) = 0;
};

class PayloadBuffer {
 public:
  static constexpr size_t kSmall = 64 << 10;
  // The bytes a request of n bytes occupies (what it takes from the budget).
  static size_t Footprint(size_t n) { return n <= kSmall ? n : std::bit_ceil(n); }

  explicit PayloadBuffer(BufferCache* cache) : cache_(cache) {}
  ~PayloadBuffer() { Release(); }
  PayloadBuffer(const PayloadBuffer&) = delete;
  PayloadBuffer& operator=(const PayloadBuffer&) = delete;

  // Room for n bytes (contents unspecified).
  bool Resize(size_t n) {
    Release();
    if (n > kSmall) {
      large_size_ = Footprint(n);
      large_ = cache_->Get(large_size_);
      if (!large_) return false;
      data_ = large_;
    } else {
      if (!small_) small_.reset(new char[kSmall]);  // not zeroed: every request fills what it uses
      data_ = small_.get();
    }
    size_ = n;
    return true;
  }
  // Gives a large buffer back to the cache (the small one stays).
  void Release() {
    if (large_) cache_->Put(large_, large_size_);
    large_ = nullptr;
    data_ = small_.get();
    size_ = 0;
  }
  std::span<char> span() { return {data_, size_}; }
  std::string_view view() const { return {data_, size_}; }
  char* data() { return data_; }
  size_t size() const { return size_; }

 private:
  BufferCache* const cache_;
  std::unique_ptr<char[]> small_;
  char* large_ = nullptr;
  size_t large_size_ = 0;
  char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace vmstore::nbd
