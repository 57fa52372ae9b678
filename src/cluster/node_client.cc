#include "cluster/node_client.h"

#include <unistd.h>

#include "util/coding.h"
#include "util/socket_io.h"
#include "util/tcp_socket.h"

namespace vmstore::cluster {

NodeClient::NodeClient(std::string address, ContainerGeometry geometry, std::chrono::milliseconds timeout,
                       int connections, std::string name)
    : address_(std::move(address)),
      name_(std::move(name)),
      geometry_(geometry),
      timeout_(timeout),
      max_idle_(connections) {}

NodeClient::~NodeClient() {
  MutexLock l(&mu_);
  for (int fd : idle_) ::close(fd);
}

StatusOr<int> NodeClient::Take() {
  {
    MutexLock l(&mu_);
    if (!idle_.empty()) {
      int fd = idle_.back();
      idle_.pop_back();
      return fd;
    }
  }
  ASSIGN_OR_RETURN(int fd, internal::ConnectTcp(address_, timeout_, timeout_));
  std::string hello(geometry_.pool_uuid.begin(), geometry_.pool_uuid.end());
  internal::PutBe32(&hello, geometry_.container_units);
  ContainerRequest r;
  r.op = ContainerOp::kHello;
  bool broken = false;
  auto name = CallOn(fd, r, hello, &broken);
  if (!name.ok()) {
    ::close(fd);
    return name.status();
  }
  return fd;
}

void NodeClient::Give(int fd) {
  MutexLock l(&mu_);
  if (static_cast<int>(idle_.size()) < max_idle_) {
    idle_.push_back(fd);
  } else {
    ::close(fd);
  }
}

StatusOr<std::string> NodeClient::CallOn(int fd, const ContainerRequest& req, std::string_view payload, bool* broken) {
  ContainerRequest r = req;
  {
    MutexLock l(&mu_);
    r.id = next_id_++;
  }
  r.payload_bytes = static_cast<uint32_t>(payload.size());
  std::string wire = EncodeRequest(r);
  wire.append(payload);
  *broken = true;
  if (!internal::WriteFull(fd, wire.data(), wire.size())) {
    return IOError("node " + address_ + ": cannot send " + ContainerOpName(r.op));
  }
  char h[kResponseHeaderBytes];
  if (!internal::ReadFull(fd, h, sizeof h)) {
    return IOError("node " + address_ + ": no answer to " + ContainerOpName(r.op) + " (gone or timed out)");
  }
  ASSIGN_OR_RETURN(ContainerResponse resp, DecodeResponse(std::string_view(h, sizeof h)));
  if (resp.id != r.id) return Corruption("node " + address_ + ": answer to another request");
  std::string body(size_t{resp.payload_bytes} + resp.message_bytes, '\0');
  if (!body.empty() && !internal::ReadFull(fd, body.data(), body.size())) {
    return IOError("node " + address_ + ": answer to " + std::string(ContainerOpName(r.op)) + " cut short");
  }
  *broken = false;
  if (resp.code != Code::kOk) return Status(resp.code, body.substr(resp.payload_bytes));
  body.resize(resp.payload_bytes);
  return body;
}

StatusOr<std::string> NodeClient::Call(ContainerRequest r, std::string_view payload) {
  Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto fd = Take();
    if (!fd.ok()) return fd.status();
    bool broken = false;
    auto out = CallOn(*fd, r, payload, &broken);
    if (broken) {
      ::close(*fd);  // a pooled connection the node closed meanwhile: once more on a new one
      last = out.status();
      continue;
    }
    Give(*fd);
    return out;
  }
  return last;
}

}  // namespace vmstore::cluster
