// The layers every NBD export's Device passes through, as nbdkit's filters:
// each is a backend::Device over the next one, doing one job, and they are
// stacked in one place (StackLayers), outermost first:
//
//   metrics  counts every call with its bytes, latency and outcome, refused
//            ones included (nbd/metrics.h)
//   access   refuses writes, trims and zeroing on a read-only export
//            (FailedPrecondition -> EPERM) and trims where none is offered
//   bounds   refuses ranges past the end: NoSpace (ENOSPC) for writes and
//            zeroing, OutOfRange (EINVAL) for the rest, as the protocol asks
//   gate     holds the VM's write gate shared for each write, trim and
//            zeroing, so a snapshot taken with the gate held (Quiesce) has
//            exactly the writes acknowledged before it (writable disks only)
//   device   the SR's Device
//
// What the protocol itself refuses (an unknown command, a read over 32 MiB,
// block status without a negotiated context) never reaches the layers; the
// transmission counts it in the same metrics.
// Thread-safety: every layer is as thread-safe as the Device below it.
// Ownership: each layer owns the one below; metrics and gates are borrowed
// from the server (they outlive its connections).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nbd/metrics.h"
#include "util/shared_mutex.h"
#include "vmstore/backend.h"

namespace vmstore::nbd {

// A Device that passes every call to the next one: the base of each layer.
class Layer : public backend::Device {
 public:
  Layer(std::string name, std::unique_ptr<backend::Device> next) : name_(std::move(name)), next_(std::move(next)) {}
  const std::string& name() const { return name_; }
  const backend::Device& next() const { return *next_; }
  backend::Device& next() { return *next_; }

  uint64_t size() const override { return next_->size(); }
  bool read_only() const override { return next_->read_only(); }
  bool can_trim() const override { return next_->can_trim(); }
  Status Read(uint64_t offset, std::span<char> buf) override { return next_->Read(offset, buf); }
  Status Write(uint64_t offset, std::span<const char> data, bool fua) override {
    return next_->Write(offset, data, fua);
  }
  Status Trim(uint64_t offset, uint64_t length, bool fua) override { return next_->Trim(offset, length, fua); }
  Status WriteZeroes(uint64_t offset, uint64_t length, bool may_punch, bool fua) override {
    return next_->WriteZeroes(offset, length, may_punch, fua);
  }
  Status Flush() override { return next_->Flush(); }
  StatusOr<std::vector<Extent>> Map(uint64_t offset, uint64_t length) override { return next_->Map(offset, length); }
  Status Cache(uint64_t offset, uint64_t length) override { return next_->Cache(offset, length); }

 private:
  const std::string name_;
  std::unique_ptr<backend::Device> next_;
};

std::unique_ptr<backend::Device> MetricsLayer(std::unique_ptr<backend::Device> next, ExportMetrics* metrics);
std::unique_ptr<backend::Device> AccessLayer(std::unique_ptr<backend::Device> next);
std::unique_ptr<backend::Device> BoundsLayer(std::unique_ptr<backend::Device> next);
std::unique_ptr<backend::Device> GateLayer(std::unique_ptr<backend::Device> next, std::shared_ptr<SharedMutex> gate);

// The export's stack over `device`: metrics, access, bounds, then the gate
// when `write_gate` is set.
std::unique_ptr<backend::Device> StackLayers(std::unique_ptr<backend::Device> device, ExportMetrics* metrics,
                                             std::shared_ptr<SharedMutex> write_gate);

// The names of the layers over the device, outermost first.
std::vector<std::string> LayerNames(const backend::Device& top);
// The device under every layer (`top` itself if it is no layer): what the
// server flushes when a connection ends, uncounted.
backend::Device& Innermost(backend::Device& top);

}  // namespace vmstore::nbd
