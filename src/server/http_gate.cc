#include "server/http_gate.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "util/log.h"
#include "util/socket_io.h"
#include "util/tcp_socket.h"

namespace vmstore::server {

namespace {

using Clock = std::chrono::steady_clock;

// An error answer that closes the connection, in the API's JSON form.
std::string Answer(int status, const char* reason, const std::string& code, const std::string& message) {
  std::string body = "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + message + "\"}}";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// Best effort, never blocking: the connection is being closed anyway.
void SendNow(int fd, const std::string& s) { (void)::send(fd, s.data(), s.size(), MSG_NOSIGNAL | MSG_DONTWAIT); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

struct HttpGate::Pending {
  std::string client;
  std::string buf;
  Clock::time_point deadline;
  bool wants_continue = false;  // the head asked for "100 Continue" and the body is to come
  bool continued = false;       // "100 Continue" sent
  bool closing = false;         // answered with an error: read and dropped until EOF or the deadline
};

HttpGate::HttpGate(HttpGateOptions options) : opts_(std::move(options)) {}

HttpGate::~HttpGate() { Stop(); }

HttpGateStats HttpGate::stats() const {
  MutexLock l(&mu_);
  return stats_;
}

Status HttpGate::Start(const std::string& listen) {
  ASSIGN_OR_RETURN(listen_fd_, internal::ListenTcp(listen, "--http address", 128, &port_));
  ::fcntl(listen_fd_, F_SETFL, ::fcntl(listen_fd_, F_GETFL) | O_NONBLOCK);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd_ < 0 || wake_fd_ < 0) return ErrnoStatus(errno, "epoll for the HTTP API");
  for (int fd : {listen_fd_, wake_fd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  loop_ = std::thread([this] { Loop(); });
  for (int i = 0; i < std::max(1, opts_.forwarders); ++i) forwarders_.emplace_back([this] { Forward(); });
  return Status::OK();
}

void HttpGate::Stop() {
  {
    MutexLock l(&mu_);
    if (stopping_ || !loop_.joinable()) return;
    stopping_ = true;
    cv_.NotifyAll();
  }
  uint64_t one = 1;
  (void)::write(wake_fd_, &one, sizeof one);
  loop_.join();
  for (auto& t : forwarders_) t.join();
  forwarders_.clear();
  std::deque<Job> left;
  {
    MutexLock l(&mu_);
    left.swap(jobs_);
  }
  for (const Job& j : left) Close(j.fd, j.client);
  for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) {
    if (fd >= 0) ::close(fd);
  }
  listen_fd_ = epoll_fd_ = wake_fd_ = -1;
}

void HttpGate::Close(int fd, const std::string& client) {
  {
    MutexLock l(&mu_);
    --open_;
    auto it = per_client_.find(client);
    if (it != per_client_.end() && --it->second <= 0) per_client_.erase(it);
  }
  ::close(fd);
}

bool HttpGate::Parse(Pending* p, Job* job, std::string* refusal) {
  const size_t head_end = p->buf.find("\r\n\r\n");
  if (head_end == std::string::npos || head_end + 4 > opts_.max_head) {
    if (p->buf.size() > opts_.max_head) {
      *refusal = Answer(431, "Request Header Fields Too Large", "InvalidArgument",
                        "the request head is over " + std::to_string(opts_.max_head) + " bytes");
    }
    return false;
  }
  std::string_view head(p->buf.data(), head_end + 2);  // each line with its CRLF
  std::string out;
  size_t length = 0;
  bool expect_continue = false;
  bool first = true;
  while (!head.empty()) {
    const size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    if (first) {
      out.append(line).append("\r\n");
      first = false;
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      *refusal = Answer(400, "Bad Request", "InvalidArgument", "a header line without a colon");
      return false;
    }
    const std::string name = Lower(Trim(line.substr(0, colon)));
    const std::string_view value = Trim(line.substr(colon + 1));
    if (name == "content-length") {
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (ec != std::errc() || ptr != value.data() + value.size()) {
        *refusal = Answer(400, "Bad Request", "InvalidArgument", "Content-Length is not a number");
        return false;
      }
    } else if (name == "transfer-encoding" && Lower(value) != "identity") {
      *refusal = Answer(411, "Length Required", "InvalidArgument", "send the body with a Content-Length");
      return false;
    } else if (name == "expect") {
      expect_continue = Lower(value) == "100-continue";
      continue;
    }
    // The gate decides these: one request per connection, the client's address as the gate saw it.
    if (name == "connection" || name == "keep-alive" || name == "proxy-connection" || name == "x-forwarded-for") {
      continue;
    }
    out.append(line).append("\r\n");
  }
  if (length > opts_.max_body) {
    *refusal = Answer(413, "Payload Too Large", "InvalidArgument",
                      "the body is over " + std::to_string(opts_.max_body) + " bytes");
    return false;
  }
  const size_t body_at = head_end + 4;
  if (p->buf.size() < body_at + length) {
    p->wants_continue = expect_continue;
    return false;
  }
  out += "Connection: close\r\nX-Forwarded-For: " + p->client + "\r\n\r\n";
  out.append(p->buf, body_at, length);
  job->client = p->client;
  job->request = std::move(out);
  return true;
}

void HttpGate::Loop() {
  std::map<int, Pending> pending;
  epoll_event events[64];
  auto drop = [&](int fd) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    std::string client = pending[fd].client;
    pending.erase(fd);
    Close(fd, client);
  };
  // Answers and closes the way that lets the client read the answer: no more
  // writes, what the client still sends is read and dropped until it closes
  // or for 2 s (closing with unread input would reset the connection and
  // could take the answer with it).
  auto answer_and_close = [&](int fd, const std::string& answer) {
    SendNow(fd, answer);
    ::shutdown(fd, SHUT_WR);
    Pending& p = pending[fd];
    p.closing = true;
    p.buf.clear();
    p.deadline = Clock::now() + std::chrono::seconds(2);
  };
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events, 64, 100);
    {
      MutexLock l(&mu_);
      if (stopping_) break;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd_) continue;
      if (fd == listen_fd_) {
        for (;;) {
          sockaddr_storage peer{};
          socklen_t plen = sizeof peer;
          int c = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          char ip[INET6_ADDRSTRLEN] = "?";
          if (peer.ss_family == AF_INET) {
            ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, ip, sizeof ip);
          } else if (peer.ss_family == AF_INET6) {
            ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, ip, sizeof ip);
          }
          bool admitted;
          {
            MutexLock l(&mu_);
            admitted = open_ < opts_.max_connections && per_client_[ip] < opts_.max_client_connections;
            if (admitted) {
              ++open_;
              ++per_client_[ip];
              ++stats_.accepted;
            } else {
              ++stats_.refused;
              if (per_client_[ip] == 0) per_client_.erase(ip);
            }
          }
          if (!admitted) {
            logging::Warn("http", std::string("connection from ") + ip + " refused: too many open",
                          {{"client", ip}, {"limit_client", opts_.max_client_connections}});
            SendNow(c, Answer(503, "Service Unavailable", "Unavailable", "too many connections"));
            ::close(c);
            continue;
          }
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLRDHUP;
          ev.data.fd = c;
          ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c, &ev);
          pending[c] = Pending{ip, "", Clock::now() + opts_.request_timeout};
        }
        continue;
      }
      auto it = pending.find(fd);
      if (it == pending.end()) continue;
      Pending& p = it->second;
      if (p.closing) {
        char sink[4096];
        ssize_t r;
        while ((r = ::recv(fd, sink, sizeof sink, 0)) > 0) {
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) drop(fd);
        continue;
      }
      bool eof = false;
      char chunk[16384];
      for (;;) {
        ssize_t r = ::recv(fd, chunk, sizeof chunk, 0);
        if (r > 0) {
          p.buf.append(chunk, static_cast<size_t>(r));
          if (p.buf.size() > opts_.max_head + opts_.max_body) break;
          continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) eof = true;
        if (r < 0 && errno == EINTR) continue;
        break;
      }
      Job job{fd, "", ""};
      std::string refusal;
      const bool whole = Parse(&p, &job, &refusal);
      if (whole) {
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        pending.erase(it);
        bool queued;
        {
          MutexLock l(&mu_);
          queued = jobs_.size() < static_cast<size_t>(std::max(1, opts_.queue));
          if (queued) {
            jobs_.push_back(std::move(job));
            cv_.NotifyOne();
          } else {
            ++stats_.refused;
          }
        }
        if (!queued) {
          SendNow(fd, Answer(503, "Service Unavailable", "Unavailable", "the API is busy; try again"));
          Close(fd, job.client);
        }
        continue;
      }
      if (!refusal.empty()) {
        {
          MutexLock l(&mu_);
          ++stats_.too_large;
        }
        answer_and_close(fd, refusal);
        continue;
      }
      if (p.wants_continue && !p.continued) {
        p.continued = true;  // the client waits for this before it sends the body
        SendNow(fd, "HTTP/1.1 100 Continue\r\n\r\n");
      }
      if (eof) drop(fd);
    }
    // The request deadline: a client dripping its request is cut here.
    const auto now = Clock::now();
    std::vector<int> late;
    for (const auto& [fd, p] : pending) {
      if (now >= p.deadline) late.push_back(fd);
    }
    for (int fd : late) {
      if (pending[fd].closing) {
        drop(fd);
        continue;
      }
      {
        MutexLock l(&mu_);
        ++stats_.timed_out;
      }
      logging::Debug("http", "request not received in time", {{"client", pending[fd].client}});
      answer_and_close(fd, Answer(408, "Request Timeout", "Timeout", "the request did not arrive in time"));
    }
  }
  for (auto& [fd, p] : pending) Close(fd, p.client);
}

void HttpGate::Forward() {
  for (;;) {
    Job job;
    {
      MutexLock l(&mu_);
      while (!stopping_ && jobs_.empty()) cv_.Wait(&mu_);
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    ::fcntl(job.fd, F_SETFL, ::fcntl(job.fd, F_GETFL) & ~O_NONBLOCK);
    internal::SetSocketTimeouts(job.fd, opts_.io_timeout, opts_.io_timeout);
    int up = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", opts_.upstream.c_str());
    bool ok = up >= 0 && ::connect(up, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    if (ok) {
      internal::SetSocketTimeouts(up, opts_.answer_timeout, opts_.answer_timeout);
      ok = internal::WriteFull(up, job.request.data(), job.request.size());
    }
    if (!ok) {
      logging::Error("http", "the API's handler socket is not answering", {{"socket", opts_.upstream}});
      SendNow(job.fd, Answer(502, "Bad Gateway", "Internal", "the API's handler is not answering"));
    } else {
      char buf[65536];
      for (;;) {
        ssize_t r = ::recv(up, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0 || !internal::WriteFull(job.fd, buf, static_cast<size_t>(r))) break;
      }
    }
    if (up >= 0) ::close(up);
    {
      MutexLock l(&mu_);
      ++stats_.forwarded;
    }
    ::shutdown(job.fd, SHUT_WR);
    Close(job.fd, job.client);
  }
}

}  // namespace vmstore::server
