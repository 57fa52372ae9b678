#include "transfer/send_receive.h"

#include <algorithm>

#include "transfer/diff.h"
#include "transfer/refs.h"
#include "util/coding.h"

namespace vmstore::transfer {

namespace {

constexpr char kGuidKey[] = "vmstore:guid";
constexpr char kReceivedKey[] = "vmstore:received-from";

}  // namespace

StatusOr<TransferStats> Send(Manager& m, const SendOptions& o, const std::function<Status(std::string_view)>& sink) {
  const std::string kLive = " (a live disk changes while it is read: take a snapshot with 'vmstore snapshot create')";
  ASSIGN_OR_RETURN(SnapRef to, ParseSnapRef(o.to, "send", kLive));
  const std::string from = OnDisk(o.from, to.disk_ref());
  if (!from.empty()) RETURN_IF_ERROR(ParseSnapRef(from, "--from", kLive).status());
  ASSIGN_OR_RETURN(DiskRef ref, m.Resolve(to.str()));
  ASSIGN_OR_RETURN(SnapshotInfo info, m.GetSnapshot(to.vm_snapshot()));
  StreamHeader h;
  h.size = ref.size;
  h.created_ns = info.created_ns;
  h.snapshot = info.name;
  h.to_name = to.str();
  ASSIGN_OR_RETURN(h.to_guid, SnapshotGuid(m, to.str()));
  if (!from.empty()) {
    h.from_name = from;
    ASSIGN_OR_RETURN(h.from_guid, SnapshotGuid(m, from));
    if (h.from_guid == h.to_guid) return InvalidArgument("--from " + from + " is the snapshot sent");
  }
  ASSIGN_OR_RETURN(DiskDiff diff, DiffDisks(m, from, to.str()));
  ASSIGN_OR_RETURN(auto dev, ref.backend->OpenDevice(ref.handle));
  StreamWriter w(sink);
  RETURN_IF_ERROR(w.WriteHeader(h));
  TransferStats st;
  st.method = diff.method;
  const uint64_t total = diff.result.changed_bytes();
  uint64_t done = 0;
  std::string buf(kMaxRecordData, '\0');
  // A full stream goes to a new disk, which reads as zeroes: no ZERO records.
  auto zero = [&](uint64_t off, uint64_t len) -> Status {
    if (!h.incremental()) return Status::OK();
    st.zero_bytes += len;
    return w.WriteZero(off, len);
  };
  auto advance = [&](uint64_t n) {
    done += n;
    if (o.progress) o.progress(done, total);
  };
  for (const Extent& e : diff.result.changed) {
    if (e.type != ExtentType::kData) {
      RETURN_IF_ERROR(zero(e.offset, e.length));
      advance(e.length);
      continue;
    }
    for (uint64_t off = e.offset; off < e.offset + e.length;) {
      uint64_t n = std::min<uint64_t>(kMaxRecordData, e.offset + e.length - off);
      RETURN_IF_ERROR(dev->Read(off, std::span<char>(buf.data(), n)));
      if (internal::IsAllZero(buf.data(), n)) {
        RETURN_IF_ERROR(zero(off, n));
      } else {
        RETURN_IF_ERROR(w.WriteData(off, std::string_view(buf.data(), n)));
        st.data_bytes += n;
      }
      off += n;
      advance(n);
    }
  }
  RETURN_IF_ERROR(w.Finish());
  st.records = w.records();
  return st;
}

namespace {

// The snapshot of `vm_disk` whose guid is `guid`, as "VM@FULL"; "" if none.
StatusOr<std::string> FindByGuid(Manager& m, const std::string& vm, const std::string& disk, const std::string& guid) {
  ASSIGN_OR_RETURN(auto snaps, m.ListSnapshots(vm, false));
  for (auto it = snaps.rbegin(); it != snaps.rend(); ++it) {
    bool has = std::any_of(it->disks.begin(), it->disks.end(), [&](const auto& d) { return d.name == disk; });
    if (!has) continue;
    ASSIGN_OR_RETURN(std::string g, SnapshotGuid(m, vm + "/" + disk + "@" + it->full_name));
    if (g == guid) return vm + "@" + it->full_name;
  }
  return std::string();
}

// Applies the records of `in` to `dev` up to END, then flushes.
Status ApplyRecords(backend::Device& dev, StreamReader& in, const StreamHeader& h, const ProgressFn& progress,
                    TransferStats* st) {
  for (;;) {
    ASSIGN_OR_RETURN(StreamRecord r, in.Next());
    if (r.type == RecordType::kEnd) break;
    if (r.type == RecordType::kData) {
      RETURN_IF_ERROR(dev.Write(r.offset, r.data, false));
      st->data_bytes += r.length;
    } else {
      RETURN_IF_ERROR(dev.WriteZeroes(r.offset, r.length, true, false));
      st->zero_bytes += r.length;
    }
    ++st->records;
    if (progress) progress(r.offset + r.length, h.size);
  }
  return dev.Flush();
}

}  // namespace

StatusOr<TransferStats> Receive(Manager& m, const ReceiveOptions& o, StreamReader& in) {
  ASSIGN_OR_RETURN(auto target, ParseDiskRef(o.target, "receive target"));
  const std::string vm = target.first, disk = target.second;
  ASSIGN_OR_RETURN(StreamHeader h, in.ReadHeader());
  if (h.size == 0 || h.size % 512) return Corruption("send stream: disk size " + std::to_string(h.size));
  auto existing = m.GetDisk(o.target);
  if (!existing.ok() && existing.status().code() != Code::kNotFound) return existing.status();
  TransferStats st;
  st.method = h.incremental() ? "incremental" : "full";
  std::string base;  // incremental: "VM@FULL" on this side
  bool created_vm = false;
  if (!h.incremental()) {
    if (existing.ok()) {
      return AlreadyExists("disk " + o.target +
                           " exists; a full stream makes a new disk (receive it under another name, or send an "
                           "incremental stream with --from)");
    }
    auto v = m.GetVm(vm);
    if (!v.ok() && v.status().code() != Code::kNotFound) return v.status();
    if (!v.ok()) {
      RETURN_IF_ERROR(m.CreateVm(vm).status());
      created_vm = true;
    }
    auto d = m.CreateDisk(vm, disk, h.size, o.sr);
    if (!d.ok()) {
      if (created_vm) (void)m.DeleteVm(vm, true, false);
      return d.status();
    }
  } else {
    if (!existing.ok()) {
      return NotFound("disk " + o.target + " does not exist: an incremental stream (from " + h.from_name +
                      ") applies to the disk that received its base; send a full stream first");
    }
    ASSIGN_OR_RETURN(std::string dup, FindByGuid(m, vm, disk, h.to_guid));
    if (!dup.empty()) return AlreadyExists("the stream's snapshot " + h.to_name + " was received before, as " + dup);
    ASSIGN_OR_RETURN(base, FindByGuid(m, vm, disk, h.from_guid));
    if (base.empty()) {
      return FailedPrecondition("disk " + o.target + " has no snapshot received as " + h.from_name +
                                " (the stream's base); send from a snapshot it has, or a full stream to a new disk");
    }
    const std::string base_disk = vm + "/" + disk + base.substr(base.find('@'));
    ASSIGN_OR_RETURN(DiskDiff since, DiffDisks(m, base_disk, o.target));
    if (!since.result.changed.empty() || since.result.from_size != since.result.to_size) {
      if (!o.force) {
        return FailedPrecondition("disk " + o.target + " changed since its snapshot " + base + " (" +
                                  std::to_string(since.result.changed_bytes()) + " bytes in " +
                                  std::to_string(since.result.changed.size()) +
                                  " ranges); --force rolls it back to that snapshot first");
      }
      RETURN_IF_ERROR(m.Rollback(base));
    }
  }
  // From here a failure undoes what was done to the disk.
  auto undo = [&](Status s) -> Status {
    Status u = h.incremental() ? m.Rollback(base) : m.DeleteDisk(o.target);
    if (u.ok() && created_vm) u = m.DeleteVm(vm, true, false).status();
    if (!u.ok()) return Status(s.code(), s.message() + " (and undoing the receive failed: " + u.ToString() + ")");
    return s;
  };
  auto apply = [&]() -> Status {
    ASSIGN_OR_RETURN(DiskRef ref, m.Resolve(o.target));
    if (ref.size != h.size) {
      if (h.size < ref.size) {
        // What lies past the new end is the base's, gone at the sender.
        ASSIGN_OR_RETURN(auto dev, ref.backend->OpenDevice(ref.handle));
        RETURN_IF_ERROR(dev->WriteZeroes(h.size, ref.size - h.size, true, false));
      }
      RETURN_IF_ERROR(m.ResizeDisk(o.target, h.size).status());
      ASSIGN_OR_RETURN(ref, m.Resolve(o.target));
    }
    ASSIGN_OR_RETURN(auto dev, ref.backend->OpenDevice(ref.handle));
    return ApplyRecords(*dev, in, h, o.progress, &st);
  };
  if (Status s = apply(); !s.ok()) return undo(s);
  auto snap = m.CreateSnapshot(vm, h.snapshot.empty() ? "received" : h.snapshot, disk);
  if (!snap.ok()) return undo(snap.status());
  st.snapshot = vm + "@" + snap->full_name;
  const std::string snap_disk = vm + "/" + disk + "@" + snap->full_name;
  Status s = m.SetProperty(snap_disk, kGuidKey, h.to_guid);
  if (s.ok()) s = m.SetProperty(snap_disk, kReceivedKey, h.to_name);
  if (!s.ok()) {
    return Status(s.code(),
                  "snapshot " + st.snapshot + " was received, but recording its identity failed: " + s.message());
  }
  return st;
}

}  // namespace vmstore::transfer
