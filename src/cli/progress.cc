#include "cli/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "cli/cli_util.h"
#include "util/steady_clock.h"

namespace vmstore::cli {

Progress::Progress(int fd, std::string label) : fd_(fd), label_(std::move(label)), enabled_(::isatty(fd) == 1) {}

void Progress::Update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  int64_t now = internal::SteadyNowNs();
  if (drawn_ && now - last_ns_ < 200'000'000 && done < total) return;
  last_ns_ = now;
  Draw(done, total);
}

void Progress::Draw(uint64_t done, uint64_t total) {
  double pct = total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0;
  char line[256];
  int n = std::snprintf(line, sizeof line, "\r%s %5.1f%% %s of %s   ", label_.c_str(), pct, Human(done).c_str(),
                        Human(total).c_str());
  if (n > 0) (void)!::write(fd_, line, static_cast<size_t>(std::min<int>(n, sizeof line - 1)));
  drawn_ = true;
}

void Progress::Done() {
  if (!drawn_) return;
  (void)!::write(fd_, "\n", 1);
  drawn_ = false;
}

}  // namespace vmstore::cli
