#include "cluster/node_client.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "util/coding.h"
#include "util/socket_io.h"
#include "util/tcp_socket.h"

namespace vmstore::cluster {

namespace {
// Connections to any node the current thread has taken and not given back.
thread_local int t_held = 0;
}  // namespace

NodeClient::NodeClient(std::string address, ContainerGeometry geometry, std::chrono::milliseconds timeout,
                       int connections, std::string name, int max_in_flight)
    : address_(std::move(address)),
      name_(std::move(name)),
      geometry_(geometry),
      timeout_(timeout),
      max_idle_(connections),
      max_in_flight_(std::max(1, max_in_flight)) {}

NodeClient::~NodeClient() {
  MutexLock l(&mu_);
  for (int fd : idle_) ::close(fd);
}

StatusOr<int> NodeClient::Take(bool fresh, bool* pooled) {
  *pooled = false;
  {
    MutexLock l(&mu_);
    if (t_held == 0) {
      const auto deadline = std::chrono::steady_clock::now() + timeout_;
      while (in_use_ >= max_in_flight_) {
        const auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero() ||
            (!freed_.WaitFor(&mu_, left) && in_use_ >= max_in_flight_)) {
          return IOError("node " + address_ + ": all " + std::to_string(max_in_flight_) +
                         " connections stayed busy for " + std::to_string(timeout_.count()) + " ms");
        }
      }
    }
    ++in_use_;
    ++t_held;
    if (!fresh && !idle_.empty()) {
      int fd = idle_.back();
      idle_.pop_back();
      *pooled = true;
      return fd;
    }
  }
  auto fd = internal::ConnectTcp(address_, timeout_, timeout_);
  if (!fd.ok()) {
    MutexLock l(&mu_);
    Release();
    return fd.status();
  }
  std::string hello(geometry_.pool_uuid.begin(), geometry_.pool_uuid.end());
  internal::PutBe32(&hello, geometry_.container_units);
  ContainerRequest r;
  r.op = ContainerOp::kHello;
  bool broken = false;
  auto name = CallOn(*fd, r, hello, &broken);
  if (!name.ok()) {
    Drop(*fd);
    return name.status();
  }
  return *fd;
}

void NodeClient::Release() {
  --in_use_;
  --t_held;
  freed_.NotifyOne();
}

void NodeClient::Give(int fd) {
  MutexLock l(&mu_);
  Release();
  if (static_cast<int>(idle_.size()) < max_idle_) {
    idle_.push_back(fd);
  } else {
    ::close(fd);
  }
}

void NodeClient::Drop(int fd) {
  ::close(fd);
  MutexLock l(&mu_);
  Release();
}

StatusOr<uint64_t> NodeClient::SendOn(int fd, const ContainerRequest& req, std::string_view payload) {
  ContainerRequest r = req;
  {
    MutexLock l(&mu_);
    r.id = next_id_++;
  }
  r.payload_bytes = static_cast<uint32_t>(payload.size());
  std::string wire = EncodeRequest(r);
  wire.append(payload);
  if (!internal::WriteFull(fd, wire.data(), wire.size())) {
    return IOError("node " + address_ + ": cannot send " + ContainerOpName(r.op));
  }
  return r.id;
}

StatusOr<std::string> NodeClient::ReceiveOn(int fd, uint64_t id, ContainerOp op, bool* broken) {
  *broken = true;
  char h[kResponseHeaderBytes];
  if (!internal::ReadFull(fd, h, sizeof h)) {
    return IOError("node " + address_ + ": no answer to " + ContainerOpName(op) + " (gone or timed out)");
  }
  ASSIGN_OR_RETURN(ContainerResponse resp, DecodeResponse(std::string_view(h, sizeof h)));
  if (resp.id != id) return Corruption("node " + address_ + ": answer to another request");
  std::string body(size_t{resp.payload_bytes} + resp.message_bytes, '\0');
  if (!body.empty() && !internal::ReadFull(fd, body.data(), body.size())) {
    return IOError("node " + address_ + ": answer to " + std::string(ContainerOpName(op)) + " cut short");
  }
  *broken = false;
  if (resp.code != Code::kOk) return Status(resp.code, body.substr(resp.payload_bytes));
  body.resize(resp.payload_bytes);
  return body;
}

StatusOr<std::string> NodeClient::CallOn(int fd, const ContainerRequest& r, std::string_view payload, bool* broken) {
  *broken = true;
  ASSIGN_OR_RETURN(uint64_t id, SendOn(fd, r, payload));
  return ReceiveOn(fd, id, r.op, broken);
}

NodeClient::Sent NodeClient::Start(ContainerRequest r, std::string_view payload) {
  Sent s;
  s.request = r;
  s.payload = payload;
  auto fd = Take(/*fresh=*/false, &s.pooled);
  if (!fd.ok()) {
    s.error = fd.status();
    return s;
  }
  auto id = SendOn(*fd, r, payload);
  if (!id.ok()) {
    // Most likely a pooled connection the node closed meanwhile; Finish
    // tries once more on a new one.
    Drop(*fd);
    s.error = id.status();
    return s;
  }
  s.fd = *fd;
  s.id = *id;
  return s;
}

StatusOr<std::string> NodeClient::Finish(Sent* s) {
  bool broken = true;
  StatusOr<std::string> out = s->error;
  if (s->fd >= 0) {
    out = ReceiveOn(s->fd, s->id, s->request.op, &broken);
    const int fd = std::exchange(s->fd, -1);
    if (!broken) {
      Give(fd);
      return out;
    }
    Drop(fd);
  }
  // Once more on a new connection when the first had sat in the pool (the
  // node may have closed it meanwhile); a new connection's failure stands.
  if (!s->pooled) return out;
  bool pooled = false;
  auto fd = Take(/*fresh=*/true, &pooled);
  if (!fd.ok()) return fd.status();
  out = CallOn(*fd, s->request, s->payload, &broken);
  if (broken) {
    Drop(*fd);
  } else {
    Give(*fd);
  }
  return out;
}

StatusOr<std::string> NodeClient::Call(ContainerRequest r, std::string_view payload) {
  Sent s = Start(r, payload);
  return Finish(&s);
}

}  // namespace vmstore::cluster
