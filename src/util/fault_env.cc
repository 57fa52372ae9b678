// FaultEnv: random EIO on reads and writes of another Env's files.
#include "util/fault_env.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace vmstore {

namespace {

class FaultFile final : public File {
 public:
  FaultFile(FaultEnv* env, std::unique_ptr<File> base, std::string path)
      : env_(env), base_(std::move(base)), path_(std::move(path)) {}

  Status ReadAt(uint64_t offset, size_t n, char* dst) override {
    if (env_->FailRead()) return ErrnoStatus(EIO, "read " + path_ + " (injected)");
    return base_->ReadAt(offset, n, dst);
  }
  Status WriteAt(uint64_t offset, const char* src, size_t n) override {
    if (env_->FailWrite()) return ErrnoStatus(EIO, "write " + path_ + " (injected)");
    return base_->WriteAt(offset, src, n);
  }
  Status Sync() override { return base_->Sync(); }
  Status Truncate(uint64_t size) override { return base_->Truncate(size); }
  Status PunchHole(uint64_t offset, uint64_t length) override { return base_->PunchHole(offset, length); }
  StatusOr<uint64_t> Size() override { return base_->Size(); }
  StatusOr<uint64_t> AllocatedBytes() override { return base_->AllocatedBytes(); }
  StatusOr<std::vector<ByteRange>> DataRanges() override { return base_->DataRanges(); }

 private:
  FaultEnv* env_;
  std::unique_ptr<File> base_;
  std::string path_;
};

}  // namespace

FaultEnv::FaultEnv(Env* base, double read_p, double write_p, uint64_t seed)
    : base_(base), read_p_(read_p), write_p_(write_p), rng_(seed) {}

StatusOr<std::unique_ptr<FaultEnv>> FaultEnv::FromSpec(Env* base, const std::string& spec) {
  double read_p = 0, write_p = 0;
  uint64_t seed = 1;
  std::istringstream in(spec);
  for (std::string item; std::getline(in, item, ',');) {
    size_t eq = item.find('=');
    std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    char* end = nullptr;
    if (key == "read" || key == "write") {
      double p = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(p >= 0 && p <= 1)) {
        return InvalidArgument("fault injection: '" + item + "' needs a probability from 0 to 1");
      }
      (key == "read" ? read_p : write_p) = p;
    } else if (key == "seed") {
      seed = std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0') return InvalidArgument("fault injection: '" + item + "' needs a number");
    } else {
      return InvalidArgument("fault injection: unknown item '" + item + "' (read=P,write=P,seed=N)");
    }
  }
  return std::make_unique<FaultEnv>(base, read_p, write_p, seed);
}

Env* FaultEnv::FromEnvironment() {
  static Env* env = []() -> Env* {
    const char* spec = std::getenv("VMSTORE_FAULT_INJECTION");
    if (spec == nullptr || *spec == '\0') return nullptr;
    auto f = FromSpec(Env::Default(), spec);
    if (!f.ok()) {
      std::fprintf(stderr, "vmstore: VMSTORE_FAULT_INJECTION ignored: %s\n", f.status().ToString().c_str());
      return nullptr;
    }
    std::fprintf(stderr, "vmstore: FAULT INJECTION ON (%s): reads and writes of native pools fail at random\n", spec);
    return f->release();
  }();
  return env;
}

StatusOr<std::unique_ptr<File>> FaultEnv::OpenFile(const std::string& path, bool create) {
  ASSIGN_OR_RETURN(auto f, base_->OpenFile(path, create));
  return std::unique_ptr<File>(new FaultFile(this, std::move(f), path));
}

bool FaultEnv::Draw(double p) {
  if (p <= 0) return false;
  std::lock_guard<std::mutex> l(mu_);
  if (std::uniform_real_distribution<double>(0, 1)(rng_) >= p) return false;
  ++injected_;
  return true;
}

}  // namespace vmstore
