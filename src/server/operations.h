// Operations: the changes a user asks of the pool, with what a running server
// adds to the Manager's call - a VM's writes held for the moment of a snapshot
// or rollback, and the NBD clients of what a change removes refused (or, with
// `force`, disconnected). The CLI, the HTTP API and the policy thread all go
// through here, so they check the same things and fail the same way.
//
// Example:
//   server::Operations ops(&manager, hooks);          // hooks: nullptr without a server
//   ASSIGN_OR_RETURN(SnapshotInfo s, ops.CreateSnapshot("web", "nightly", ""));
//
// Errors: the Manager's; FailedPrecondition naming the open exports when a
// change would pull a disk from under an NBD client and `force` is false.
// Thread-safety: as the Manager's and the hooks'. Ownership: borrows both.
#pragma once

#include <functional>
#include <string>

#include "policy/policy.h"
#include "server/hooks.h"
#include "vmstore/manager.h"

namespace vmstore::server {

// Refuses (FailedPrecondition naming them) when NBD clients have exports open
// that `affected` selects, unless `force`, which disconnects them. Without a
// server (`hooks` null) there is nothing to check.
Status CheckNotOpen(const Hooks* hooks, const std::function<bool(const std::string& export_name)>& affected, bool force,
                    const std::string& what);
// Runs `fn` with the VM's writes held when a server runs it.
Status Quiesced(const Hooks* hooks, const std::string& vm, const std::function<Status()>& fn);

class Operations {
 public:
  Operations(Manager* m, const Hooks* hooks) : m_(m), hooks_(hooks) {}

  StatusOr<SnapshotInfo> CreateSnapshot(const std::string& vm, const std::string& name, const std::string& disk);
  // `vm_at_full` is VM@FULLNAME. Refuses while the VM's disks are open.
  Status Rollback(const std::string& vm_at_full, bool force);
  StatusOr<DeleteReport> DeleteSnapshot(const std::string& vm_at_full, bool recursive, bool dry_run, bool force);
  StatusOr<DeleteReport> DeleteVm(const std::string& vm, bool recursive, bool dry_run, bool force);
  Status DeleteDisk(const std::string& vm_slash_disk, bool force);

  // How a policy run snapshots (writes held) and prunes (never a snapshot an
  // NBD client has open: it is left for a later run).
  policy::PolicyRunner::Actions PolicyActions();

 private:
  Manager* m_;
  const Hooks* hooks_;
};

}  // namespace vmstore::server
