#include "nbd/layers.h"

#include <chrono>

namespace vmstore::nbd {

namespace {

using backend::Device;

class Metrics final : public Layer {
 public:
  Metrics(std::unique_ptr<Device> next, ExportMetrics* m) : Layer("metrics", std::move(next)), m_(m) {}
  Status Read(uint64_t offset, std::span<char> buf) override {
    return Timed(Op::kRead, buf.size(), [&] { return next().Read(offset, buf); });
  }
  Status Write(uint64_t offset, std::span<const char> data, bool fua) override {
    return Timed(Op::kWrite, data.size(), [&] { return next().Write(offset, data, fua); });
  }
  Status Trim(uint64_t offset, uint64_t length, bool fua) override {
    return Timed(Op::kTrim, length, [&] { return next().Trim(offset, length, fua); });
  }
  Status WriteZeroes(uint64_t offset, uint64_t length, bool may_punch, bool fua) override {
    return Timed(Op::kWriteZeroes, length, [&] { return next().WriteZeroes(offset, length, may_punch, fua); });
  }
  Status Flush() override {
    return Timed(Op::kFlush, 0, [&] { return next().Flush(); });
  }
  StatusOr<std::vector<Extent>> Map(uint64_t offset, uint64_t length) override {
    StatusOr<std::vector<Extent>> out = Internal("not run");
    (void)Timed(Op::kBlockStatus, 0, [&] {
      out = next().Map(offset, length);
      return out.status();
    });
    return out;
  }
  Status Cache(uint64_t offset, uint64_t length) override {
    return Timed(Op::kCache, length, [&] { return next().Cache(offset, length); });
  }

 private:
  template <typename Fn>
  Status Timed(Op op, uint64_t bytes, Fn fn) {
    const auto start = std::chrono::steady_clock::now();
    Status s = fn();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start);
    m_->Record(op, bytes, static_cast<uint64_t>(ns.count()), !s.ok());
    return s;
  }
  ExportMetrics* m_;
};

class Access final : public Layer {
 public:
  explicit Access(std::unique_ptr<Device> next) : Layer("access", std::move(next)) {}
  Status Write(uint64_t offset, std::span<const char> data, bool fua) override {
    RETURN_IF_ERROR(Writable());
    return next().Write(offset, data, fua);
  }
  Status Trim(uint64_t offset, uint64_t length, bool fua) override {
    if (!can_trim()) return InvalidArgument("trim is not offered on this export");
    RETURN_IF_ERROR(Writable());
    return next().Trim(offset, length, fua);
  }
  Status WriteZeroes(uint64_t offset, uint64_t length, bool may_punch, bool fua) override {
    RETURN_IF_ERROR(Writable());
    return next().WriteZeroes(offset, length, may_punch, fua);
  }

 private:
  Status Writable() const {
    return read_only() ? FailedPrecondition("export is read-only (a snapshot)") : Status::OK();
  }
};

class Bounds final : public Layer {
 public:
  explicit Bounds(std::unique_ptr<Device> next) : Layer("bounds", std::move(next)) {}
  Status Read(uint64_t offset, std::span<char> buf) override {
    RETURN_IF_ERROR(Inside(offset, buf.size(), Code::kOutOfRange));
    return next().Read(offset, buf);
  }
  Status Write(uint64_t offset, std::span<const char> data, bool fua) override {
    RETURN_IF_ERROR(Inside(offset, data.size(), Code::kNoSpace));
    return next().Write(offset, data, fua);
  }
  Status Trim(uint64_t offset, uint64_t length, bool fua) override {
    RETURN_IF_ERROR(Inside(offset, length, Code::kOutOfRange));
    return next().Trim(offset, length, fua);
  }
  Status WriteZeroes(uint64_t offset, uint64_t length, bool may_punch, bool fua) override {
    RETURN_IF_ERROR(Inside(offset, length, Code::kNoSpace));
    return next().WriteZeroes(offset, length, may_punch, fua);
  }
  StatusOr<std::vector<Extent>> Map(uint64_t offset, uint64_t length) override {
    RETURN_IF_ERROR(Inside(offset, length, Code::kOutOfRange));
    return next().Map(offset, length);
  }
  Status Cache(uint64_t offset, uint64_t length) override {
    RETURN_IF_ERROR(Inside(offset, length, Code::kOutOfRange));
    return next().Cache(offset, length);
  }

 private:
  Status Inside(uint64_t offset, uint64_t length, Code code) const {
    const uint64_t size = this->size();
    if (offset > size || length > size - offset) {
      return Status(code, "request " + std::to_string(offset) + "+" + std::to_string(length) +
                              " is past the end of the export (" + std::to_string(size) + " bytes)");
    }
    return Status::OK();
  }
};

class Gate final : public Layer {
 public:
  Gate(std::unique_ptr<Device> next, std::shared_ptr<SharedMutex> gate)
      : Layer("gate", std::move(next)), gate_(std::move(gate)) {}
  Status Write(uint64_t offset, std::span<const char> data, bool fua) override {
    ReaderLock l(gate_.get());
    return next().Write(offset, data, fua);
  }
  Status Trim(uint64_t offset, uint64_t length, bool fua) override {
    ReaderLock l(gate_.get());
    return next().Trim(offset, length, fua);
  }
  Status WriteZeroes(uint64_t offset, uint64_t length, bool may_punch, bool fua) override {
    ReaderLock l(gate_.get());
    return next().WriteZeroes(offset, length, may_punch, fua);
  }

 private:
  std::shared_ptr<SharedMutex> gate_;
};

}  // namespace

std::unique_ptr<Device> MetricsLayer(std::unique_ptr<Device> next, ExportMetrics* metrics) {
  return std::make_unique<Metrics>(std::move(next), metrics);
}
std::unique_ptr<Device> AccessLayer(std::unique_ptr<Device> next) { return std::make_unique<Access>(std::move(next)); }
std::unique_ptr<Device> BoundsLayer(std::unique_ptr<Device> next) { return std::make_unique<Bounds>(std::move(next)); }
std::unique_ptr<Device> GateLayer(std::unique_ptr<Device> next, std::shared_ptr<SharedMutex> gate) {
  return std::make_unique<Gate>(std::move(next), std::move(gate));
}

std::unique_ptr<Device> StackLayers(std::unique_ptr<Device> device, ExportMetrics* metrics,
                                    std::shared_ptr<SharedMutex> write_gate) {
  if (write_gate) device = GateLayer(std::move(device), std::move(write_gate));
  return MetricsLayer(AccessLayer(BoundsLayer(std::move(device))), metrics);
}

std::vector<std::string> LayerNames(const Device& top) {
  std::vector<std::string> names;
  for (const Device* d = &top; const auto* layer = dynamic_cast<const Layer*>(d); d = &layer->next()) {
    names.push_back(layer->name());
  }
  return names;
}

Device& Innermost(Device& top) {
  Device* d = &top;
  while (auto* layer = dynamic_cast<Layer*>(d)) d = &layer->next();
  return *d;
}

}  // namespace vmstore::nbd
