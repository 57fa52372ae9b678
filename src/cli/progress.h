// A progress line for long commands ("  42% 1.2 GiB of 2.9 GiB"), drawn on a
// terminal only: quiet when the stream is a file or a pipe.
// Thread-safety: one thread. Ownership: borrows the descriptor.
#pragma once

#include <cstdint>
#include <string>

namespace vmstore::cli {

class Progress {
 public:
  Progress(int fd, std::string label);
  ~Progress() { Done(); }
  bool enabled() const { return enabled_; }
  void Update(uint64_t done, uint64_t total);  // redraws at most 5 times a second
  void Done();                                 // ends the line

 private:
  void Draw(uint64_t done, uint64_t total);
  int fd_;
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  int64_t last_ns_ = 0;
};

}  // namespace vmstore::cli
