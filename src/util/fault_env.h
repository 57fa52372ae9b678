// FaultEnv: an Env over another one whose files fail reads and writes with EIO
// at random (seeded), to test a running server against a failing disk
// (tests/failing_disk_test.sh). The engine's own tests use MemEnv, which does
// the same in memory.
//
// `vmstore` turns it on for native pools when VMSTORE_FAULT_INJECTION is set
// ("read=P,write=P[,seed=N]", P a probability per call); it says so on stderr.
// Only File::ReadAt and File::WriteAt fail; syncs, truncates, directory
// operations and locks pass through.
//
// Ownership: the base Env is not owned and must outlive this one.
// Thread-safety: thread-safe (the random source has its own mutex).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "vmstore/env.h"

namespace vmstore {

class FaultEnv final : public Env {
 public:
  FaultEnv(Env* base, double read_p, double write_p, uint64_t seed);

  // Parses "read=P,write=P[,seed=N]"; InvalidArgument naming what is wrong.
  static StatusOr<std::unique_ptr<FaultEnv>> FromSpec(Env* base, const std::string& spec);
  // The process-wide FaultEnv over Env::Default() described by
  // VMSTORE_FAULT_INJECTION, or nullptr when it is unset (or malformed: the
  // error is printed once and nothing is injected).
  static Env* FromEnvironment();

  StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) override;
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  Status DeleteFile(const std::string& path) override { return base_->DeleteFile(path); }
  Status CreateDir(const std::string& path) override { return base_->CreateDir(path); }
  StatusOr<std::vector<std::string>> ListDir(const std::string& path) override { return base_->ListDir(path); }
  Status SyncDir(const std::string& path) override { return base_->SyncDir(path); }
  StatusOr<std::unique_ptr<Lock>> LockFile(const std::string& path) override { return base_->LockFile(path); }
  StatusOr<FsSpace> FileSystemSpace(const std::string& path) override { return base_->FileSystemSpace(path); }
  int64_t NowNanos() override { return base_->NowNanos(); }

  // True (and counted) when the next read / write is to fail.
  bool FailRead() { return Draw(read_p_); }
  bool FailWrite() { return Draw(write_p_); }
  uint64_t injected() const { return injected_.load(); }

 private:
  bool Draw(double p);

  Env* base_;
  double read_p_, write_p_;
  std::mutex mu_;
  std::mt19937_64 rng_;
  std::atomic<uint64_t> injected_{0};
};

}  // namespace vmstore
