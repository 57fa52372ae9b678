// Exports of a pool for the NBD server: "VM/DISK" (read-write) for every disk
// of every live VM and "VM/DISK@FULLNAME" (read-only) for every disk of every
// live snapshot, resolved through the Manager.
// Thread-safety: as the Manager (thread-safe). Ownership: borrows the Manager.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>

#include "nbd/server.h"
#include "util/mutex.h"
#include "util/shared_mutex.h"
#include "vmstore/manager.h"

namespace vmstore::nbd {

// Writes to the disks of one VM pass a per-VM gate (a shared lock per
// write); Quiesce takes it exclusively, so a snapshot taken inside holds
// exactly the writes that completed before it.
class ManagerExports : public ExportSource {
 public:
  explicit ManagerExports(Manager* m) : m_(m) {}
  StatusOr<std::vector<Entry>> List() override;
  StatusOr<std::unique_ptr<backend::Device>> Open(const std::string& name) override;
  // The VM's gate for its disks (VM/DISK); none for snapshots (read-only).
  std::shared_ptr<SharedMutex> WriteGate(const std::string& name) override;
  // Runs `fn` with every write to the VM's disks held.
  Status Quiesce(const std::string& vm, const std::function<Status()>& fn);

 private:
  std::shared_ptr<SharedMutex> Gate(const std::string& vm);

  Manager* m_;
  Mutex mu_;
  std::map<std::string, std::shared_ptr<SharedMutex>> gates_ GUARDED_BY(mu_);  // by VM name
};

}  // namespace vmstore::nbd
