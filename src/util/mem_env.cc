#include "util/mem_env.h"

#include <algorithm>
#include <cstring>

namespace vmstore {

namespace {
constexpr uint64_t kPage = 4096;

// A file image: bytes plus the set of allocated 4 KiB pages.
struct Image {
  std::string data;
  std::vector<bool> alloc;

  void EnsurePages(uint64_t end) {
    uint64_t pages = (end + kPage - 1) / kPage;
    if (alloc.size() < pages) alloc.resize(pages, false);
  }
  void Write(uint64_t off, const char* p, size_t n) {
    if (data.size() < off + n) data.resize(off + n, '\0');
    std::memcpy(&data[off], p, n);
    EnsurePages(off + n);
    for (uint64_t pg = off / kPage; pg * kPage < off + n; ++pg) alloc[pg] = true;
  }
  void Truncate(uint64_t size) {
    data.resize(size, '\0');
    alloc.resize((size + kPage - 1) / kPage, false);
  }
  void Punch(uint64_t off, uint64_t len) {
    uint64_t end = std::min<uint64_t>(off + len, data.size());
    if (off >= end) return;
    std::memset(&data[off], 0, end - off);
    // Only whole pages inside the range are deallocated, as on a real file system.
    uint64_t first = (off + kPage - 1) / kPage, last = end / kPage;
    for (uint64_t pg = first; pg < last && pg < alloc.size(); ++pg) alloc[pg] = false;
  }
  uint64_t AllocatedBytes() const {
    return static_cast<uint64_t>(std::count(alloc.begin(), alloc.end(), true)) * kPage;
  }
};

struct PendingOp {
  enum Kind { kWrite, kTruncate, kPunch } kind;
  uint64_t offset;
  uint64_t length;
  std::string bytes;
};

void ApplyOp(Image* img, const PendingOp& op, size_t write_bytes) {
  switch (op.kind) {
    case PendingOp::kWrite:
      if (write_bytes) img->Write(op.offset, op.bytes.data(), write_bytes);
      break;
    case PendingOp::kTruncate:
      img->Truncate(op.offset);
      break;
    case PendingOp::kPunch:
      img->Punch(op.offset, op.length);
      break;
  }
}
}  // namespace

struct MemEnv::Node {
  Image current, durable;
  std::vector<PendingOp> pending;
};

class MemFile final : public File {
 public:
  MemFile(MemEnv* env, std::shared_ptr<MemEnv::Node> node) : env_(env), node_(std::move(node)) {}

  Status ReadAt(uint64_t offset, size_t n, char* dst) override {
    std::lock_guard<std::mutex> l(env_->mu_);
    RETURN_IF_ERROR(env_->CheckRead());
    const std::string& d = node_->current.data;
    size_t avail = offset < d.size() ? std::min<size_t>(n, d.size() - offset) : 0;
    if (avail) std::memcpy(dst, d.data() + offset, avail);
    std::memset(dst + avail, 0, n - avail);
    return Status::OK();
  }
  Status WriteAt(uint64_t offset, const char* src, size_t n) override {
    std::lock_guard<std::mutex> l(env_->mu_);
    uint64_t grow = 0;
    for (uint64_t pg = offset / kPage; pg * kPage < offset + n; ++pg) {
      if (pg >= node_->current.alloc.size() || !node_->current.alloc[pg]) grow += kPage;
    }
    RETURN_IF_ERROR(env_->CheckWrite(grow));
    node_->current.Write(offset, src, n);
    node_->pending.push_back({PendingOp::kWrite, offset, n, std::string(src, n)});
    return Status::OK();
  }
  Status Sync() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    RETURN_IF_ERROR(env_->CheckWrite(0));
    for (const PendingOp& op : node_->pending) ApplyOp(&node_->durable, op, op.bytes.size());
    node_->pending.clear();
    return Status::OK();
  }
  Status Truncate(uint64_t size) override {
    std::lock_guard<std::mutex> l(env_->mu_);
    RETURN_IF_ERROR(env_->CheckWrite(0));
    node_->current.Truncate(size);
    node_->pending.push_back({PendingOp::kTruncate, size, 0, {}});
    return Status::OK();
  }
  Status PunchHole(uint64_t offset, uint64_t length) override {
    std::lock_guard<std::mutex> l(env_->mu_);
    RETURN_IF_ERROR(env_->CheckWrite(0));
    node_->current.Punch(offset, length);
    node_->pending.push_back({PendingOp::kPunch, offset, length, {}});
    return Status::OK();
  }
  StatusOr<uint64_t> Size() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    if (env_->dead_) return IOError("env is dead");
    return static_cast<uint64_t>(node_->current.data.size());
  }
  StatusOr<uint64_t> AllocatedBytes() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    if (env_->dead_) return IOError("env is dead");
    return node_->current.AllocatedBytes();
  }
  StatusOr<std::vector<ByteRange>> DataRanges() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    if (env_->dead_) return IOError("env is dead");
    std::vector<ByteRange> out;
    const auto& a = node_->current.alloc;
    uint64_t size = node_->current.data.size();
    for (uint64_t pg = 0; pg < a.size(); ++pg) {
      if (!a[pg]) continue;
      uint64_t off = pg * kPage, len = std::min(kPage, size - off);
      if (!out.empty() && out.back().offset + out.back().length == off) {
        out.back().length += len;
      } else {
        out.push_back({off, len});
      }
    }
    return out;
  }

 private:
  MemEnv* env_;
  std::shared_ptr<MemEnv::Node> node_;
};

class MemLock final : public Env::Lock {
 public:
  MemLock(MemEnv* env, std::string path, std::mutex* mu, std::set<std::string>* locks)
      : path_(std::move(path)), mu_(mu), locks_(locks) {
    (void)env;
  }
  ~MemLock() override {
    std::lock_guard<std::mutex> l(*mu_);
    locks_->erase(path_);
  }

 private:
  std::string path_;
  std::mutex* mu_;
  std::set<std::string>* locks_;
};

MemEnv::MemEnv() : rng_(1) {
  dirs_.insert("");
  dirs_.insert("/");
}
MemEnv::~MemEnv() = default;

Status MemEnv::InjectRead() {
  std::lock_guard<std::mutex> l(mu_);
  return CheckRead();
}

Status MemEnv::InjectWrite() {
  std::lock_guard<std::mutex> l(mu_);
  return CheckWrite(0);
}

Status MemEnv::CheckRead() {
  if (dead_) return IOError("env is dead");
  if (read_err_ > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < read_err_) {
    ++injected_;
    return ErrnoStatus(EIO, "injected read error");
  }
  return Status::OK();
}

Status MemEnv::CheckWrite(uint64_t grow_bytes) {
  if (dead_) return IOError("env is dead");
  if (kill_countdown_ && --kill_countdown_ == 0) {
    dead_ = true;
    return IOError("process killed (simulated)");
  }
  if (write_err_ > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < write_err_) {
    ++injected_;
    return ErrnoStatus(EIO, "injected write error");
  }
  if (capacity_ && grow_bytes) {
    if (AllocatedLocked() + grow_bytes > capacity_) {
      ++injected_;
      return ErrnoStatus(ENOSPC, "injected full disk");
    }
  }
  return Status::OK();
}

StatusOr<std::unique_ptr<File>> MemEnv::OpenFile(const std::string& path, bool create) {
  std::lock_guard<std::mutex> l(mu_);
  if (dead_) return IOError("env is dead");
  auto it = files_.find(path);
  if (it == files_.end()) {
    if (!create) return NotFound("no such file: " + path);
    it = files_.emplace(path, std::make_shared<Node>()).first;
  }
  return std::unique_ptr<File>(new MemFile(this, it->second));
}

bool MemEnv::FileExists(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  return files_.count(path) || dirs_.count(path);
}

Status MemEnv::DeleteFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(CheckWrite(0));
  if (!files_.erase(path)) return NotFound("no such file: " + path);
  return Status::OK();
}

Status MemEnv::CreateDir(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  if (dead_) return IOError("env is dead");
  dirs_.insert(path);
  return Status::OK();
}

StatusOr<std::vector<std::string>> MemEnv::ListDir(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  if (dead_) return IOError("env is dead");
  if (!dirs_.count(path)) return NotFound("no such directory: " + path);
  std::vector<std::string> out;
  std::string prefix = path + "/";
  for (auto& [p, n] : files_) {
    if (p.rfind(prefix, 0) == 0 && p.find('/', prefix.size()) == std::string::npos) {
      out.push_back(p.substr(prefix.size()));
    }
  }
  for (auto& d : dirs_) {
    if (d.rfind(prefix, 0) == 0 && d.size() > prefix.size() && d.find('/', prefix.size()) == std::string::npos) {
      out.push_back(d.substr(prefix.size()));
    }
  }
  return out;
}

Status MemEnv::SyncDir(const std::string&) {
  std::lock_guard<std::mutex> l(mu_);
  return dead_ ? IOError("env is dead") : Status::OK();
}

StatusOr<std::unique_ptr<Env::Lock>> MemEnv::LockFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  if (dead_) return IOError("env is dead");
  if (!locks_.insert(path).second) {
    return FailedPrecondition("pool is in use by another process (lock held on " + path + ")");
  }
  return std::unique_ptr<Lock>(new MemLock(this, path, &mu_, &locks_));
}

StatusOr<FsSpace> MemEnv::FileSystemSpace(const std::string&) {
  std::lock_guard<std::mutex> l(mu_);
  if (dead_) return IOError("env is dead");
  const uint64_t total = capacity_ ? capacity_ : uint64_t{1} << 50;
  const uint64_t used = AllocatedLocked();
  return FsSpace{total, used < total ? total - used : 0};
}

int64_t MemEnv::NowNanos() {
  std::lock_guard<std::mutex> l(mu_);
  return clock_ += 1000;
}

void MemEnv::SimulateCrash(uint64_t seed) {
  std::lock_guard<std::mutex> l(mu_);
  std::mt19937_64 r(seed);
  for (auto& [path, node] : files_) {
    Image img = node->durable;
    for (const PendingOp& op : node->pending) {
      int fate = static_cast<int>(r() % 4);  // 0,1: kept; 2: dropped; 3: torn (writes)
      if (fate == 2) continue;
      size_t n = op.bytes.size();
      if (fate == 3 && n > 512) n = 512 * (r() % (n / 512));
      ApplyOp(&img, op, n);
    }
    node->current = img;
    node->durable = img;
    node->pending.clear();
  }
  locks_.clear();
  dead_ = true;  // the machine stopped: no thread of the crashed process writes again
}

void MemEnv::SetDead(bool dead) {
  std::lock_guard<std::mutex> l(mu_);
  dead_ = dead;
}

void MemEnv::KillAfter(uint64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  kill_countdown_ = n;
}

void MemEnv::SetReadErrorRate(double p, uint64_t seed) {
  std::lock_guard<std::mutex> l(mu_);
  read_err_ = p;
  rng_.seed(seed);
}

void MemEnv::SetWriteErrorRate(double p, uint64_t seed) {
  std::lock_guard<std::mutex> l(mu_);
  write_err_ = p;
  rng_.seed(seed);
}

void MemEnv::SetCapacity(uint64_t bytes) {
  std::lock_guard<std::mutex> l(mu_);
  capacity_ = bytes;
}

Status MemEnv::FlipBit(const std::string& path, uint64_t offset, int bit) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return NotFound(path);
  for (Image* img : {&it->second->current, &it->second->durable}) {
    if (offset >= img->data.size()) return OutOfRange("flip past end of " + path);
    img->data[offset] = static_cast<char>(img->data[offset] ^ (1 << bit));
  }
  return Status::OK();
}

StatusOr<uint64_t> MemEnv::FileSize(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return NotFound(path);
  return static_cast<uint64_t>(it->second->current.data.size());
}

uint64_t MemEnv::TotalAllocatedBytes() {
  std::lock_guard<std::mutex> l(mu_);
  return AllocatedLocked();
}

uint64_t MemEnv::AllocatedLocked() const {
  uint64_t t = 0;
  for (auto& [p, n] : files_) t += n->current.AllocatedBytes();
  return t;
}

}  // namespace vmstore
