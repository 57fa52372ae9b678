#include "node/container_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "cluster/container_wire.h"
#include "util/coding.h"
#include "util/log.h"
#include "util/socket_io.h"
#include "util/tcp_socket.h"

namespace vmstore::node {

namespace {

using cluster::ContainerOp;
using cluster::ContainerRequest;
using cluster::ContainerResponse;
constexpr size_t kUnit = 4096;
constexpr uint32_t kMaxUnits = cluster::kMaxPayloadBytes / (kUnit + 8);  // per read or write

}  // namespace

ContainerServer::ContainerServer(BlockStore* store, ContainerServerOptions options)
    : store_(store), opts_(std::move(options)) {
  if (!opts_.files_dir.empty()) files_ = std::make_unique<FileService>(opts_.env, opts_.files_dir);
}

ContainerServer::~ContainerServer() { Stop(); }

ContainerServerStats ContainerServer::stats() const {
  ContainerServerStats s;
  s.connections = n_conns_.load();
  s.requests = n_requests_.load();
  s.errors = n_errors_.load();
  s.refused = n_refused_.load();
  s.corrupt_units = n_corrupt_.load();
  s.writes = n_writes_.load();
  s.max_write_bytes = max_write_.load();
  s.recovery_bytes = n_recovery_bytes_.load();
  s.recovery_wait_ms = n_recovery_wait_ms_.load();
  s.write_bytes = n_write_bytes_.load();
  const MoveLimit::Stats m = moves_.stats();
  s.moves_in_peak = m.peak[MoveLimit::kIn];
  s.moves_out_peak = m.peak[MoveLimit::kOut];
  s.moves_refused = m.refused;
  MutexLock l(&rate_mu_);
  s.recovery_spell_bytes = spell_bytes_;
  s.recovery_span_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(last_recovery_ - first_recovery_).count());
  return s;
}

void ContainerServer::SetRecoveryRate(uint64_t bytes_per_second) {
  MutexLock l(&rate_mu_);
  rate_ = bytes_per_second;
}

Status ContainerServer::RoomForRecovery(size_t bytes) {
  if (opts_.space_path.empty()) return Status::OK();
  ASSIGN_OR_RETURN(FsSpace fs, opts_.env->FileSystemSpace(opts_.space_path));
  const uint64_t reserve = opts_.reserve_bytes ? opts_.reserve_bytes : std::min<uint64_t>(fs.total / 20, 1ull << 30);
  if (fs.available >= bytes + reserve) return Status::OK();
  return NoSpace("node " + opts_.name + ": " + std::to_string(fs.available) + " bytes free and " +
                 std::to_string(reserve) + " kept for clients; the copy waits");
}

void ContainerServer::ThrottleRecovery(size_t bytes) {
  n_recovery_bytes_ += bytes;
  std::chrono::steady_clock::time_point slot;
  {
    MutexLock l(&rate_mu_);
    const auto now = std::chrono::steady_clock::now();
    // A copy after a pause of more than kRecoveryPause starts a new spell:
    // its rate is measured on its own.
    if (spell_bytes_ == 0 || now - last_recovery_ > kRecoveryPause) {
      first_recovery_ = now;
      spell_bytes_ = 0;
    }
    spell_bytes_ += bytes;
    last_recovery_ = now;
    if (rate_ == 0) return;
    slot = std::max(now, next_slot_);
    last_recovery_ = slot;  // when it is written
    next_slot_ = slot + std::chrono::microseconds(bytes * 1000000 / rate_);
  }
  const auto start = std::chrono::steady_clock::now();
  // In short sleeps, so that a stopping node does not hold its threads.
  while (!stopping_.load() && std::chrono::steady_clock::now() < slot) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(slot - std::chrono::steady_clock::now(),
                                                                              std::chrono::milliseconds(50)));
  }
  n_recovery_wait_ms_ +=
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

namespace {
// A pool's fence record: u64 fence, u64 XXH3 of it xor the pool (little-endian).
std::string FenceRecord(uint64_t pool, uint64_t fence) {
  std::string rec;
  internal::AppendU64(&rec, fence);
  internal::AppendU64(&rec, internal::Hash64(rec.data(), 8) ^ pool);
  return rec;
}
}  // namespace

Status ContainerServer::LoadFences() {
  if (opts_.fences_dir.empty()) return Status::OK();
  RETURN_IF_ERROR(opts_.env->CreateDir(opts_.fences_dir));
  ASSIGN_OR_RETURN(auto names, opts_.env->ListDir(opts_.fences_dir));
  MutexLock l(&fence_mu_);
  for (const std::string& name : names) {
    const std::string path = opts_.fences_dir + "/" + name;
    uint64_t pool = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pool);
    std::string rec(16, '\0');
    Status read =
        ec == std::errc() && end == name.data() + name.size() ? Status::OK() : Corruption("not a pool number");
    if (read.ok()) {
      auto f = opts_.env->OpenFile(path, false);
      read = f.ok() ? (*f)->ReadAt(0, rec.size(), rec.data()) : f.status();
    }
    const uint64_t fence = internal::GetU64(rec.data());
    if (read.ok() && rec != FenceRecord(pool, fence)) read = Corruption("its checksum does not match");
    if (!read.ok()) {
      return Corruption("node " + opts_.name + ": the fence record " + path + " is damaged (" + read.ToString() +
                        "); it keeps an old gateway of that pool from writing: restore it, or remove it once no "
                        "gateway but the pool's current one can reach this node");
    }
    fences_[pool] = fence;
  }
  return Status::OK();
}

Status ContainerServer::SaveFence(uint64_t pool, uint64_t fence) {
  const std::string path = opts_.fences_dir + "/" + std::to_string(pool);
  const bool fresh = !opts_.env->FileExists(path);
  const std::string rec = FenceRecord(pool, fence);
  ASSIGN_OR_RETURN(auto f, opts_.env->OpenFile(path, true));
  RETURN_IF_ERROR(f->WriteAt(0, rec.data(), rec.size()));  // 16 bytes: one sector, and checked on load
  RETURN_IF_ERROR(f->Sync());
  if (fresh) RETURN_IF_ERROR(opts_.env->SyncDir(opts_.fences_dir));
  return Status::OK();
}

Status ContainerServer::Start() {
  RETURN_IF_ERROR(LoadFences());
  ASSIGN_OR_RETURN(listen_fd_, internal::ListenTcp(opts_.listen, "node listen address", 64, &port_));
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return Status::OK();
}

void ContainerServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  std::vector<std::pair<int, std::thread>> conns;
  {
    MutexLock l(&mu_);
    for (auto& [fd, t] : conns_) ::shutdown(fd, SHUT_RDWR);
    conns.swap(conns_);
  }
  for (auto& [fd, t] : conns) {
    t.join();
    ::close(fd);
  }
}

void ContainerServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    MutexLock l(&mu_);
    // Join the threads of connections that ended.
    for (int d : done_) {
      auto it = std::find_if(conns_.begin(), conns_.end(), [d](const auto& c) { return c.first == d; });
      if (it != conns_.end()) {
        it->second.join();
        ::close(d);
        conns_.erase(it);
      }
    }
    done_.clear();
    if (conns_.size() >= static_cast<size_t>(std::max(1, opts_.max_connections))) {
      ++n_refused_;
      ::close(fd);
      continue;
    }
    ++n_conns_;
    conns_.emplace_back(fd, std::thread([this, fd] { Serve(fd); }));
  }
}

void ContainerServer::Serve(int fd) {
  internal::SetSocketTimeouts(fd, opts_.idle_timeout, opts_.idle_timeout);
  bool hello = false;
  while (!stopping_ && Handle(fd, &hello)) {
  }
  ::shutdown(fd, SHUT_RDWR);
  MutexLock l(&mu_);
  done_.push_back(fd);  // closed by whoever joins this thread (never reused before)
}

Status ContainerServer::Hello(std::string_view payload, std::string* out) {
  if (payload.size() != 20) return InvalidArgument("hello carries the cluster uuid and units per container");
  ContainerGeometry g;
  std::copy(payload.begin(), payload.begin() + 16, g.pool_uuid.begin());
  g.container_units = internal::GetBe32(payload.data() + 16);
  if (g.pool_uuid != opts_.geometry.pool_uuid) {
    return FailedPrecondition("node " + opts_.name + " belongs to cluster " +
                              internal::HexBytes(opts_.geometry.pool_uuid.data(), 16) + ", not " +
                              internal::HexBytes(g.pool_uuid.data(), 16));
  }
  if (g.container_units != opts_.geometry.container_units) {
    return FailedPrecondition("node " + opts_.name + " keeps containers of " +
                              std::to_string(opts_.geometry.container_units) + " units, not " +
                              std::to_string(g.container_units));
  }
  *out = opts_.name;
  return Status::OK();
}

Status ContainerServer::CheckUnits(uint64_t container, uint64_t first, uint32_t count, const char* data,
                                   const uint64_t* sums) {
  for (uint32_t i = 0; i < count; ++i) {
    if (internal::Hash64(data + size_t{i} * kUnit, kUnit) == sums[i]) continue;
    ++n_corrupt_;
    logging::Error("node", "damaged unit", {{"container", container}, {"unit", first + i}});
    return Corruption("node " + opts_.name + ": container " + std::to_string(container) + " unit " +
                      std::to_string(first + i) + " does not match its checksum");
  }
  return Status::OK();
}

bool ContainerServer::UnitsMatch(uint32_t count, const char* data, const uint64_t* sums) {
  for (uint32_t i = 0; i < count; ++i) {
    if (internal::Hash64(data + size_t{i} * kUnit, kUnit) != sums[i]) return false;
  }
  return true;
}

Status ContainerServer::ReadChecked(uint64_t container, uint64_t first, uint32_t count, char* data, uint32_t sum_count,
                                    uint32_t sum_skip, uint64_t* sums) {
  const uint64_t addr = BlockAddress(container, first);
  auto read = [&] {
    RETURN_IF_ERROR(store_->ReadSums(addr, sum_count, sums));
    return store_->ReadUnits(addr + sum_skip, count, data);
  };
  RETURN_IF_ERROR(read());
  if (UnitsMatch(count, data, sums + sum_skip)) return Status::OK();
  // Reads take no lock: a write landing between the data and the sums read
  // looks like damage. Read again with writes held off before saying so.
  MutexLock l(&store_mu_);
  RETURN_IF_ERROR(read());
  return CheckUnits(container, first + sum_skip, count, data, sums + sum_skip);
}

Status ContainerServer::ReadVerified(const ContainerRequest& r, std::string* out) {
  if (r.count == 0 || r.count > kMaxUnits) return InvalidArgument("read of " + std::to_string(r.count) + " units");
  out->assign(size_t{r.count} * kUnit, '\0');
  std::vector<uint64_t> sums(r.count);
  return ReadChecked(r.container, r.first, r.count, out->data(), r.count, 0, sums.data());
}

Status ContainerServer::ReadBlockPart(const ContainerRequest& r, std::string_view payload, std::string* out) {
  if (payload.size() != 16) return InvalidArgument("read_block_part without its unit range");
  const uint64_t u0 = internal::GetU64(payload.data()), u1 = internal::GetU64(payload.data() + 8);
  if (r.count == 0 || r.count > kMaxUnits || u0 >= u1 || u1 > r.count) {
    return InvalidArgument("read of units [" + std::to_string(u0) + ", " + std::to_string(u1) + ") of a block of " +
                           std::to_string(r.count));
  }
  // The block's sums once: they check the units read and go back whole.
  const uint32_t n = static_cast<uint32_t>(u1 - u0);
  std::vector<uint64_t> sums(r.count);
  out->assign(size_t{n} * kUnit, '\0');
  RETURN_IF_ERROR(ReadChecked(r.container, r.first, n, out->data(), r.count, static_cast<uint32_t>(u0), sums.data()));
  cluster::AppendU64List(out, sums);
  return Status::OK();
}

Status ContainerServer::Write(const ContainerRequest& r, std::string_view payload) {
  if (r.count == 0 || r.count > kMaxUnits || payload.size() != size_t{r.count} * (kUnit + 8)) {
    return InvalidArgument("write payload does not hold " + std::to_string(r.count) + " units and their sums");
  }
  std::vector<uint64_t> sums(r.count);
  for (uint32_t i = 0; i < r.count; ++i) sums[i] = internal::GetU64(payload.data() + size_t{r.count} * kUnit + i * 8);
  ++n_writes_;
  n_write_bytes_ += size_t{r.count} * kUnit;
  uint64_t seen = max_write_.load();
  while (size_t{r.count} * kUnit > seen && !max_write_.compare_exchange_weak(seen, size_t{r.count} * kUnit)) {
  }
  MutexLock l(&store_mu_);
  return store_->WriteBlocks({UnitWrite{BlockAddress(r.container, r.first), payload.data(), r.count, sums.data()}});
}

Status ContainerServer::Mutate(const ContainerRequest& r) {
  MutexLock l(&store_mu_);
  switch (r.op) {
    case ContainerOp::kSync:
      return store_->SyncTouched();
    case ContainerOp::kPunch:
      return store_->Punch(BlockAddress(r.container, r.first), r.count);
    case ContainerOp::kPunchSums:
      return store_->PunchSums(r.container, r.first);
    case ContainerOp::kDelete:
      return store_->DeleteContainer(r.container);
    case ContainerOp::kTruncate:
      return store_->TruncateAt(r.container, r.first);
    default:
      return Internal("not a container mutation");
  }
}

Status ContainerServer::Query(const ContainerRequest& r, std::string* out) {
  switch (r.op) {
    case ContainerOp::kReadSums: {
      if (r.count == 0 || r.count > cluster::kMaxPayloadBytes / ((r.flags & cluster::kFlagVerify) ? 16 : 8)) {
        return InvalidArgument("read of " + std::to_string(r.count) + " sums");
      }
      std::vector<uint64_t> sums(r.count);
      RETURN_IF_ERROR(store_->ReadSums(BlockAddress(r.container, r.first), r.count, sums.data()));
      cluster::AppendU64List(out, sums);
      if (r.flags & cluster::kFlagVerify) {
        // Checked here, a read's worth at a time: repairs copy what fails.
        constexpr uint32_t kChunk = 256;
        std::string data(size_t{kChunk} * kUnit, '\0');
        std::vector<uint64_t> ok(r.count, 0);
        for (uint32_t i = 0; i < r.count; i += kChunk) {
          const uint32_t n = std::min(kChunk, r.count - i);
          if (!store_->ReadUnits(BlockAddress(r.container, r.first + i), n, data.data()).ok()) continue;
          for (uint32_t u = 0; u < n; ++u)
            ok[i + u] = internal::Hash64(data.data() + size_t{u} * kUnit, kUnit) == sums[i + u];
        }
        cluster::AppendU64List(out, ok);
      }
      return Status::OK();
    }
    case ContainerOp::kList: {
      ASSIGN_OR_RETURN(auto list, store_->List());
      if (r.count != 1) {
        cluster::AppendU64List(out, list);
        return Status::OK();
      }
      for (uint64_t c : list) {  // with each one's allocated bytes
        uint64_t bytes = 0;
        if (auto ranges = store_->AllocatedUnits(c); ranges.ok()) {
          for (auto& [first, end] : *ranges) bytes += (end - first) * kUnit;
        }
        cluster::AppendU64List(out, {c, bytes});
      }
      return Status::OK();
    }
    case ContainerOp::kAllocatedUnits: {
      ASSIGN_OR_RETURN(auto ranges, store_->AllocatedUnits(r.container));
      for (auto& [first, last] : ranges) cluster::AppendU64List(out, {first, last});
      return Status::OK();
    }
    case ContainerOp::kCheckHeader:
      return store_->CheckHeader(r.container);
    case ContainerOp::kStat: {
      if (r.count == 0) {  // the whole node
        ASSIGN_OR_RETURN(uint64_t bytes, store_->AllocatedBytes());
        cluster::AppendU64List(out, {bytes});
        return Status::OK();
      }
      // Containers [container, container + first): one pool's share.
      uint64_t bytes = 0;
      ASSIGN_OR_RETURN(auto all, store_->List());
      for (uint64_t c : all) {
        if (c < r.container || c - r.container >= r.first) continue;
        ASSIGN_OR_RETURN(auto ranges, store_->AllocatedUnits(c));
        for (auto& [first, end] : ranges) bytes += (end - first) * kUnit;
      }
      cluster::AppendU64List(out, {bytes});
      return Status::OK();
    }
    default:
      return Internal("not a container query");
  }
}

namespace {
// The changes of a pool's objects (not syncs: they make what was written
// durable): what fences and ring epochs hold off.
bool ChangesAPool(ContainerOp op) {
  return cluster::IsChange(op) && op != ContainerOp::kSync && op != ContainerOp::kFileSync;
}
}  // namespace

Status ContainerServer::CheckFence(const ContainerRequest& r, std::string_view payload) {
  if (r.fence == 0 || !ChangesAPool(r.op)) return Status::OK();  // reads, syncs and node-wide calls pass
  uint64_t pool = r.container >> cluster::kPoolSpanBits;
  if (r.op >= ContainerOp::kFileRead) {
    // The file's name leads the payload: "pool-N/...".
    auto split = cluster::SplitFilePayload(payload);
    if (!split.ok() || split->first.rfind("pool-", 0) != 0) return Status::OK();
    pool = std::strtoull(split->first.c_str() + 5, nullptr, 10);
  }
  MutexLock l(&fence_mu_);
  uint64_t& newest = fences_[pool];
  if (r.fence < newest) {
    return FailedPrecondition("fenced: pool " + std::to_string(pool) + "'s writer lock has a newer holder (fence " +
                              std::to_string(r.fence) + " < " + std::to_string(newest) + ")");
  }
  if (r.fence > newest && !opts_.fences_dir.empty()) {
    // Durable before the first change of the new holder lands here.
    Status s = SaveFence(pool, r.fence);
    if (!s.ok()) return s.WithContext("node " + opts_.name + ": keeping pool " + std::to_string(pool) + "'s fence");
  }
  newest = r.fence;
  return Status::OK();
}

void ContainerServer::SetRingEpoch(uint64_t epoch) {
  uint64_t seen = ring_epoch_.load();
  while (epoch > seen && !ring_epoch_.compare_exchange_weak(seen, epoch)) {
  }
}

Status ContainerServer::CheckRingEpoch(const ContainerRequest& r) {
  if (r.ring_epoch == 0) return Status::OK();
  SetRingEpoch(r.ring_epoch);
  if (!ChangesAPool(r.op)) return Status::OK();  // reads, and syncs of what was written
  const uint64_t known = ring_epoch_.load();
  if (r.ring_epoch >= known) return Status::OK();
  return FailedPrecondition("stale ring: the change was placed by ring epoch " + std::to_string(r.ring_epoch) +
                            ", node " + opts_.name + " knows epoch " + std::to_string(known));
}

Status ContainerServer::Answer(const ContainerRequest& r, std::string_view payload, std::string* out) {
  RETURN_IF_ERROR(CheckFence(r, payload));
  RETURN_IF_ERROR(CheckRingEpoch(r));
  if (r.flags & (cluster::kFlagRecovery | cluster::kFlagCopyEnd)) {
    // A copier's request: reads of a good copy are copies out, changes of a
    // stale one copies in.
    std::string object = "container:" + std::to_string(r.container);
    if (r.op >= ContainerOp::kFileRead && r.op != ContainerOp::kReadBlockPart) {
      ASSIGN_OR_RETURN(auto split, cluster::SplitFilePayload(payload));
      object = "file:" + split.first;
    }
    if (r.flags & cluster::kFlagCopyEnd) {
      moves_.End(object);
      return Status::OK();
    }
    Status s = moves_.Admit(cluster::IsChange(r.op) ? MoveLimit::kIn : MoveLimit::kOut, object);
    if (!s.ok()) return s.WithContext("node " + opts_.name);
  }
  if ((r.flags & cluster::kFlagRecovery) && (r.op == ContainerOp::kWrite || r.op == ContainerOp::kFileWrite)) {
    RETURN_IF_ERROR(RoomForRecovery(payload.size()));
    ThrottleRecovery(payload.size());
  }
  switch (r.op) {
    case ContainerOp::kReadUnits:
    case ContainerOp::kReadBlockPart:
    case ContainerOp::kReadSums:
    case ContainerOp::kAllocatedUnits:
    case ContainerOp::kCheckHeader: {
      Status s = r.op == ContainerOp::kReadUnits       ? ReadVerified(r, out)
                 : r.op == ContainerOp::kReadBlockPart ? ReadBlockPart(r, payload, out)
                                                       : Query(r, out);
      // A container this node does not hold (deleted; or a move's new owner
      // that has no copy yet) is "not found" here, not damage: the caller
      // reads another replica and records nothing against this one.
      if (s.code() == Code::kCorruption) {
        if (auto held = store_->List(); held.ok() && !std::count(held->begin(), held->end(), r.container)) {
          return NotFound("node " + opts_.name + " holds no container " + std::to_string(r.container));
        }
      }
      return s;
    }
    default:
      break;
  }
  switch (r.op) {
    case ContainerOp::kHello:
      return Hello(payload, out);
    case ContainerOp::kWrite:
      return Write(r, payload);
    case ContainerOp::kSync:
    case ContainerOp::kPunch:
    case ContainerOp::kPunchSums:
    case ContainerOp::kDelete:
    case ContainerOp::kTruncate:
      return Mutate(r);
    case ContainerOp::kList:
    case ContainerOp::kStat:
      return Query(r, out);
    default:  // the file ops
      return files_ ? files_->Handle(r, payload, out) : NotSupported("node " + opts_.name + " keeps no files");
  }
}

bool ContainerServer::Handle(int fd, bool* hello_done) {
  char h[cluster::kRequestHeaderBytes];
  if (!internal::ReadFull(fd, h, sizeof h)) return false;
  auto req_or = cluster::DecodeRequest(std::string_view(h, sizeof h));
  if (!req_or.ok()) return false;  // garbage: the stream cannot be trusted
  const ContainerRequest r = *req_or;
  std::string payload(r.payload_bytes, '\0');
  if (r.payload_bytes && !internal::ReadFull(fd, payload.data(), payload.size())) return false;
  ++n_requests_;
  std::string out;
  Status st;
  if (!*hello_done && r.op != ContainerOp::kHello) {
    st = FailedPrecondition("say hello first");
  } else {
    st = Answer(r, payload, &out);
    if (r.op == ContainerOp::kHello) *hello_done = st.ok();
  }
  if (!st.ok()) {
    ++n_errors_;
    out.clear();
  }
  const std::string msg = st.ok() ? "" : st.message().substr(0, cluster::kMaxMessageBytes);
  ContainerResponse resp{st.code(), r.id, static_cast<uint32_t>(out.size()), static_cast<uint32_t>(msg.size())};
  std::string wire = cluster::EncodeResponse(resp) + out + msg;
  if (!internal::WriteFull(fd, wire.data(), wire.size())) return false;
  return *hello_done;  // a refused hello (or none) ends the connection
}

}  // namespace vmstore::node
