// Test fixture: a real etcd (Debian's etcd-server) on loopback ports of its
// own, with a fresh data directory, killed and removed at the end. Under
// CI=true a missing etcd fails the test; elsewhere the test is skipped, loudly.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "cluster/etcd.h"

namespace vmstore::testing {

// A port nothing listens on now (the kernel's choice for port 0).
inline int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class EtcdProcess {
 public:
  // Starts etcd and waits (up to 20 s) until it answers; skips or fails the
  // test (see above) when it cannot.
  void Start() {
    const char* bin = "/usr/bin/etcd";
    if (::access(bin, X_OK) != 0) {
      const char* ci = std::getenv("CI");
      if (ci && std::string(ci) == "true") FAIL() << "etcd is not installed (apt-get install etcd-server)";
      GTEST_SKIP() << "SKIPPED LOUDLY: etcd is not installed (apt-get install etcd-server); CI=true fails here";
    }
    dir_ = std::filesystem::temp_directory_path() /
           ("vmstore-etcd-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    client_port_ = FreeLoopbackPort();
    const int peer = FreeLoopbackPort();
    endpoint_ = "http://127.0.0.1:" + std::to_string(client_port_);
    const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer);
    pid_ = ::fork();
    if (pid_ == 0) {
      const std::string log = (dir_ / "etcd.log").string();
      FILE* f = std::freopen(log.c_str(), "w", stderr);
      (void)f;
      ::execl(bin, bin, "--data-dir", (dir_ / "data").c_str(), "--listen-client-urls", endpoint_.c_str(),
              "--advertise-client-urls", endpoint_.c_str(), "--listen-peer-urls", peer_url.c_str(),
              "--initial-advertise-peer-urls", peer_url.c_str(), "--initial-cluster", ("default=" + peer_url).c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (cluster::ConnectEtcd(endpoint_, std::chrono::milliseconds(500)).ok()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "etcd did not answer on " << endpoint_ << " within 20 s (log: " << (dir_ / "etcd.log") << ")";
  }
  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  // Pauses / resumes the process (an etcd outage without losing its data).
  void Pause() { ::kill(pid_, SIGSTOP); }
  void Resume() { ::kill(pid_, SIGCONT); }
  ~EtcdProcess() {
    Stop();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  const std::string& endpoint() const { return endpoint_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  std::string endpoint_;
  int client_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace vmstore::testing
