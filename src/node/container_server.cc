#include "node/container_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

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

void AppendU64List(std::string* out, const std::vector<uint64_t>& v) {
  for (uint64_t x : v) internal::AppendU64(out, x);
}

}  // namespace

ContainerServer::ContainerServer(BlockStore* store, ContainerServerOptions options)
    : store_(store), opts_(std::move(options)) {
  if (!opts_.files_dir.empty()) files_ = std::make_unique<FileService>(opts_.env, opts_.files_dir);
}

ContainerServer::~ContainerServer() { Stop(); }

ContainerServerStats ContainerServer::stats() const {
  return {n_conns_.load(),   n_requests_.load(), n_errors_.load(), n_refused_.load(),
          n_corrupt_.load(), n_writes_.load(),   max_write_.load()};
}

Status ContainerServer::Start() {
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
  const auto idle = opts_.idle_timeout.count();
  timeval tv{static_cast<time_t>(idle / 1000), static_cast<suseconds_t>(idle % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  bool hello = false;
  while (!stopping_ && Handle(fd, &hello)) {
  }
  ::shutdown(fd, SHUT_RDWR);
  MutexLock l(&mu_);
  done_.push_back(fd);  // closed by whoever joins this thread (never reused before)
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
  bool keep = true;
  const uint64_t addr = BlockAddress(r.container, r.first);
  const uint32_t max_units = cluster::kMaxPayloadBytes / (kUnit + 8);
  if (!*hello_done && r.op != ContainerOp::kHello) {
    st = FailedPrecondition("say hello first");
    keep = false;
  } else {
    switch (r.op) {
      case ContainerOp::kHello: {
        ContainerGeometry g;
        if (payload.size() != 20) {
          st = InvalidArgument("hello carries the cluster uuid and units per container");
        } else {
          std::copy(payload.begin(), payload.begin() + 16, g.pool_uuid.begin());
          g.container_units = internal::GetBe32(payload.data() + 16);
          if (g.pool_uuid != opts_.geometry.pool_uuid) {
            st = FailedPrecondition("node " + opts_.name + " belongs to cluster " +
                                    internal::HexBytes(opts_.geometry.pool_uuid.data(), 16) + ", not " +
                                    internal::HexBytes(g.pool_uuid.data(), 16));
          } else if (g.container_units != opts_.geometry.container_units) {
            st = FailedPrecondition("node " + opts_.name + " keeps containers of " +
                                    std::to_string(opts_.geometry.container_units) + " units, not " +
                                    std::to_string(g.container_units));
          }
        }
        *hello_done = st.ok();
        keep = st.ok();
        out = opts_.name;
        break;
      }
      case ContainerOp::kReadUnits: {
        if (r.count == 0 || r.count > max_units) {
          st = InvalidArgument("read of " + std::to_string(r.count) + " units");
          break;
        }
        out.assign(size_t{r.count} * kUnit, '\0');
        std::vector<uint64_t> sums(r.count);
        st = store_->ReadUnits(addr, r.count, out.data());
        if (st.ok()) st = store_->ReadSums(addr, r.count, sums.data());
        for (uint32_t i = 0; st.ok() && i < r.count; ++i) {
          if (internal::Hash64(out.data() + size_t{i} * kUnit, kUnit) != sums[i]) {
            ++n_corrupt_;
            st = Corruption("node " + opts_.name + ": container " + std::to_string(r.container) + " unit " +
                            std::to_string(r.first + i) + " does not match its checksum");
            logging::Error("node", "damaged unit", {{"container", r.container}, {"unit", r.first + i}});
          }
        }
        if (!st.ok()) out.clear();
        break;
      }
      case ContainerOp::kReadSums: {
        if (r.count == 0 || r.count > cluster::kMaxPayloadBytes / 8) {
          st = InvalidArgument("read of " + std::to_string(r.count) + " sums");
          break;
        }
        std::vector<uint64_t> sums(r.count);
        st = store_->ReadSums(addr, r.count, sums.data());
        if (st.ok()) AppendU64List(&out, sums);
        break;
      }
      case ContainerOp::kWrite: {
        if (r.count == 0 || r.count > max_units || payload.size() != size_t{r.count} * (kUnit + 8)) {
          st = InvalidArgument("write payload does not hold " + std::to_string(r.count) + " units and their sums");
          break;
        }
        std::vector<uint64_t> sums(r.count);
        for (uint32_t i = 0; i < r.count; ++i)
          sums[i] = internal::GetU64(payload.data() + size_t{r.count} * kUnit + i * 8);
        ++n_writes_;
        uint64_t seen = max_write_.load();
        while (size_t{r.count} * kUnit > seen && !max_write_.compare_exchange_weak(seen, size_t{r.count} * kUnit)) {
        }
        MutexLock l(&store_mu_);
        st = store_->WriteBlocks({UnitWrite{addr, payload.data(), r.count, sums.data()}});
        break;
      }
      case ContainerOp::kSync: {
        MutexLock l(&store_mu_);
        st = store_->SyncTouched();
        break;
      }
      case ContainerOp::kPunch: {
        MutexLock l(&store_mu_);
        st = store_->Punch(addr, r.count);
        break;
      }
      case ContainerOp::kPunchSums: {
        MutexLock l(&store_mu_);
        st = store_->PunchSums(r.container, r.first);
        break;
      }
      case ContainerOp::kDelete: {
        MutexLock l(&store_mu_);
        st = store_->DeleteContainer(r.container);
        break;
      }
      case ContainerOp::kTruncate: {
        MutexLock l(&store_mu_);
        st = store_->TruncateAt(r.container, r.first);
        break;
      }
      case ContainerOp::kList: {
        auto list = store_->List();
        st = list.status();
        if (st.ok()) AppendU64List(&out, *list);
        break;
      }
      case ContainerOp::kAllocatedUnits: {
        auto ranges = store_->AllocatedUnits(r.container);
        st = ranges.status();
        if (st.ok()) {
          for (auto& [a, b] : *ranges) AppendU64List(&out, {a, b});
        }
        break;
      }
      case ContainerOp::kCheckHeader:
        st = store_->CheckHeader(r.container);
        break;
      case ContainerOp::kFileRead:
      case ContainerOp::kFileWrite:
      case ContainerOp::kFileSync:
      case ContainerOp::kFileTruncate:
      case ContainerOp::kFilePunch:
      case ContainerOp::kFileSize:
      case ContainerOp::kFileAllocated:
      case ContainerOp::kFileRanges:
      case ContainerOp::kFileDelete:
      case ContainerOp::kFileExists:
      case ContainerOp::kFileList:
        st = files_ ? files_->Handle(r, payload, &out) : NotSupported("node " + opts_.name + " keeps no files");
        break;
      case ContainerOp::kStat: {
        auto bytes = store_->AllocatedBytes();
        st = bytes.status();
        if (st.ok()) AppendU64List(&out, {*bytes});
        break;
      }
    }
  }
  if (!st.ok()) {
    ++n_errors_;
    out.clear();
  }
  const std::string msg = st.ok() ? "" : st.message().substr(0, cluster::kMaxMessageBytes);
  ContainerResponse resp{st.code(), r.id, static_cast<uint32_t>(out.size()), static_cast<uint32_t>(msg.size())};
  std::string wire = cluster::EncodeResponse(resp) + out + msg;
  if (!internal::WriteFull(fd, wire.data(), wire.size())) return false;
  return keep;
}

}  // namespace vmstore::node
