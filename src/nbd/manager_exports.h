// Exports of a pool for the NBD server: "VM/DISK" (read-write) for every disk
// of every live VM and "VM/DISK@FULLNAME" (read-only) for every disk of every
// live snapshot, resolved through the Manager.
// Thread-safety: as the Manager (thread-safe). Ownership: borrows the Manager.
#pragma once

#include "nbd/server.h"
#include "vmstore/manager.h"

namespace vmstore::nbd {

class ManagerExports : public ExportSource {
 public:
  explicit ManagerExports(Manager* m) : m_(m) {}
  StatusOr<std::vector<Entry>> List() override;
  StatusOr<std::unique_ptr<backend::Device>> Open(const std::string& name) override;

 private:
  Manager* m_;
};

}  // namespace vmstore::nbd
