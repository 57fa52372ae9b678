// The NBD server against a raw protocol client: the handshake's options and
// errors, every command, malformed and abrupt clients (the server answers with
// the protocol's errors or disconnects them and keeps serving the others), and
// pipelining (many requests in flight on one connection).
#include "nbd/server.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "catalog/catalog_test_util.h"
#include "nbd/manager_exports.h"
#include "nbd/protocol.h"
#include "nbd/tls.h"

namespace vmstore::nbd {
namespace {

using vmstore::testing::TempDir;
using vmstore::testing::Unwrap;

// A minimal NBD client speaking the wire protocol directly.
class RawClient {
 public:
  // Connects to 127.0.0.1:port, from the address `from` (another loopback
  // address is another client to the server's limits).
  explicit RawClient(int port, const char* from = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (from) {
      sockaddr_in me{};
      me.sin_family = AF_INET;
      ::inet_pton(AF_INET, from, &me.sin_addr);
      ::bind(fd_, reinterpret_cast<sockaddr*>(&me), sizeof me);
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  ~RawClient() { ::close(fd_); }

  bool Send(const std::string& s) { return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == (ssize_t)s.size(); }
  // Reads exactly n bytes; "" at EOF or error.
  std::string Recv(size_t n) {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::recv(fd_, out.data() + got, n - got, 0);
      if (r <= 0) return "";
      got += static_cast<size_t>(r);
    }
    return out;
  }
  bool Closed(int ms = 2000) {  // the server hung up (within ms)
    char c;
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return ::recv(fd_, &c, 1, 0) == 0;
  }

  // Greeting + client flags. Returns the handshake flags.
  uint16_t Hello(uint32_t client_flags = kClientFixedNewstyle | kClientNoZeroes) {
    std::string g = Recv(18);
    EXPECT_EQ(GetBe64(g.data()), kNbdMagic);
    EXPECT_EQ(GetBe64(g.data() + 8), kOptMagic);
    std::string f;
    PutBe32(&f, client_flags);
    Send(f);
    return GetBe16(g.data() + 16);
  }
  void Option(uint32_t opt, const std::string& data, uint64_t magic = kOptMagic) {
    std::string o;
    PutBe64(&o, magic);
    PutBe32(&o, opt);
    PutBe32(&o, static_cast<uint32_t>(data.size()));
    Send(o + data);
  }
  struct OptReply {
    uint32_t opt = 0, type = 0;
    std::string data;
  };
  OptReply ReadOptReply() {
    std::string h = Recv(20);
    if (h.empty()) return {0, 0, "EOF"};
    EXPECT_EQ(GetBe64(h.data()), kRepMagic);
    OptReply r{GetBe32(h.data() + 8), GetBe32(h.data() + 12), ""};
    r.data = Recv(GetBe32(h.data() + 16));
    return r;
  }
  static std::string GoData(const std::string& name) {
    std::string d;
    PutBe32(&d, static_cast<uint32_t>(name.size()));
    d += name;
    PutBe16(&d, 0);
    return d;
  }
  static std::string MetaData(const std::string& name, const std::string& query) {
    std::string d;
    PutBe32(&d, static_cast<uint32_t>(name.size()));
    d += name;
    PutBe32(&d, 1);
    PutBe32(&d, static_cast<uint32_t>(query.size()));
    return d + query;
  }
  // Negotiates structured replies + base:allocation and goes into transmission.
  // Returns the export size.
  uint64_t Go(const std::string& name, bool structured = true) {
    Hello();
    if (structured) {
      Option(kOptStructuredReply, "");
      EXPECT_EQ(ReadOptReply().type, kRepAck);
      Option(kOptSetMetaContext, MetaData(name, "base:allocation"));
      EXPECT_EQ(ReadOptReply().type, kRepMetaContext);
      EXPECT_EQ(ReadOptReply().type, kRepAck);
    }
    Option(kOptGo, GoData(name));
    uint64_t size = 0;
    for (;;) {
      OptReply r = ReadOptReply();
      if (r.type == kRepInfo && GetBe16(r.data.data()) == kInfoExport) size = GetBe64(r.data.data() + 2);
      if (r.type != kRepInfo) {
        EXPECT_EQ(r.type, kRepAck) << r.data;
        break;
      }
    }
    structured_ = structured;
    return size;
  }
  void Request(uint16_t type, uint64_t cookie, uint64_t offset, uint32_t length, const std::string& data = "",
               uint16_t flags = 0, uint32_t magic = kRequestMagic) {
    std::string r;
    PutBe32(&r, magic);
    PutBe16(&r, flags);
    PutBe16(&r, type);
    PutBe64(&r, cookie);
    PutBe64(&r, offset);
    PutBe32(&r, length);
    Send(r + data);
  }
  struct Reply {
    uint64_t cookie = 0;
    uint32_t error = 0;
    uint16_t type = 0;
    std::string data;  // READ data, or the block status payload
    bool eof = false;
  };
  // Reads one reply (structured: one chunk, which this server always marks done).
  Reply ReadReply(uint32_t read_length = 0) {
    Reply out;
    if (!structured_) {
      std::string h = Recv(16);
      if (h.empty()) return {0, 0, 0, "", true};
      out.cookie = GetBe64(h.data() + 8);
      out.error = GetBe32(h.data() + 4);
      if (!out.error && read_length) out.data = Recv(read_length);
      return out;
    }
    std::string h = Recv(20);
    if (h.empty()) return {0, 0, 0, "", true};
    EXPECT_EQ(GetBe32(h.data()), kStructuredReplyMagic);
    EXPECT_EQ(GetBe16(h.data() + 4) & kReplyFlagDone, kReplyFlagDone);
    out.type = GetBe16(h.data() + 6);
    out.cookie = GetBe64(h.data() + 8);
    std::string p = Recv(GetBe32(h.data() + 16));
    if (out.type == kReplyError) {
      out.error = GetBe32(p.data());
      out.data = p.substr(6);
    } else if (out.type == kReplyOffsetData) {
      out.data = p.substr(8);
    } else {
      out.data = p;
    }
    return out;
  }
  bool connected() const { return connected_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool structured_ = false;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ManagerOptions o;
    m_ = Unwrap(Manager::Create(dir_.path(), o));
    ASSERT_TRUE(m_);
    ASSERT_TRUE(m_->CreateVm("vm").ok());
    ASSERT_TRUE(m_->CreateDisk("vm", "d", 1 << 20, "").ok());
    ASSERT_TRUE(vmstore::testing::WriteDisk(*m_, "vm/d", 0, std::string(4096, 'o')).ok());
    snap_ = "vm/d@" + Unwrap(m_->CreateSnapshot("vm", "s", "")).full_name;
    exports_ = std::make_unique<ManagerExports>(m_.get());
    ServerOptions so;
    so.listen = "127.0.0.1:0";
    server_ = std::make_unique<Server>(exports_.get(), so);
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    server_->Stop();
    server_.reset();
    ASSERT_TRUE(m_->Close().ok());
  }
  int port() const { return server_->tcp_port(); }

  TempDir dir_;
  std::unique_ptr<Manager> m_;
  std::string snap_;
  std::unique_ptr<ManagerExports> exports_;
  std::unique_ptr<Server> server_;
};

// Regression (issue 24, item 1): 32 TCP connections that sent nothing held
// every slot of their client for ever (no handshake deadline), and TCP
// clients filling the global limit locked the Unix and admin sockets out.
TEST_F(ServerTest, ConnectionsThatSendNothingAreClosedAtTheHandshakeDeadline) {
  server_->Stop();
  ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.unix_socket = dir_.path() + "/nbd.sock";
  so.max_client_connections = 16;
  so.max_connections = 16;
  so.reserved_local_connections = 2;  // TCP clients may hold 14
  so.handshake_timeout = std::chrono::milliseconds(500);
  server_ = std::make_unique<Server>(exports_.get(), so);
  ASSERT_TRUE(server_->Start().ok());
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 14; ++i) {
    idle.push_back(std::make_unique<RawClient>(port()));
    ASSERT_TRUE(idle.back()->connected());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  {  // what TCP may hold is full: one more is closed at once, unanswered
    RawClient over(port());
    EXPECT_TRUE(over.Closed());
  }
  // A local tool still gets in: the reserve is the Unix socket's.
  const int local = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", so.unix_socket.c_str());
  ASSERT_EQ(::connect(local, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  char greeting[18];
  EXPECT_EQ(::recv(local, greeting, sizeof greeting, MSG_WAITALL), 18);
  ::close(local);
  // Past the deadline the silent connections are gone, and their slots free.
  for (auto& c : idle) {
    EXPECT_EQ(c->Recv(18).size(), 18u);  // the greeting, unanswered
    EXPECT_TRUE(c->Closed()) << "a connection that sent nothing was kept";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  RawClient fresh(port());
  ASSERT_TRUE(fresh.connected());
  EXPECT_EQ(fresh.Go("vm/d"), uint64_t{1} << 20);
  // In transmission no deadline holds: an idle VM keeps its connection.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(server_->OpenExports().size(), 1u);
  // A client sending its handshake a byte at a time is cut at the deadline too.
  RawClient drip(port());
  ASSERT_EQ(drip.Recv(18).size(), 18u);
  bool cut = false;
  for (int i = 0; i < 20 && !cut; ++i) {
    cut = !drip.Send(std::string(1, '\0'));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(cut || drip.Closed()) << "a dripping handshake outlived the deadline";
}

// Regression (issue 24, item 1): connections in transmission that never send
// anything held their slots for ever: a client that filled the server with
// them locked every other client out.
TEST_F(ServerTest, IdleConnectionsOfTheHeaviestClientMakeRoomForOthers) {
  server_->Stop();
  ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.max_connections = 8;
  so.reserved_local_connections = 1;  // TCP clients may hold 7
  so.max_client_connections = 8;
  server_ = std::make_unique<Server>(exports_.get(), so);
  ASSERT_TRUE(server_->Start().ok());
  std::vector<std::unique_ptr<RawClient>> hog;
  for (int i = 0; i < 7; ++i) {
    hog.push_back(std::make_unique<RawClient>(port(), "127.0.0.2"));
    ASSERT_TRUE(hog.back()->connected());
    ASSERT_EQ(hog.back()->Go("vm/d"), uint64_t{1} << 20);
  }
  // A busy connection of the hog is not the one closed: only idle ones are.
  hog[0]->Request(kCmdRead, 1, 0, 4096);
  ASSERT_EQ(hog[0]->ReadReply().error, 0u);
  RawClient other(port(), "127.0.0.1");
  ASSERT_TRUE(other.connected());
  EXPECT_EQ(other.Go("vm/d"), uint64_t{1} << 20) << "the newcomer was refused";
  other.Request(kCmdRead, 2, 0, 4096);
  RawClient::Reply r = other.ReadReply();
  EXPECT_EQ(r.error, 0u);
  EXPECT_EQ(r.data, std::string(4096, 'o'));
  EXPECT_EQ(server_->stats().evicted, 1u);
  int closed = 0;
  for (auto& c : hog) closed += c->Closed(300);
  EXPECT_EQ(closed, 1) << "one idle connection of the heaviest client makes the room";
  EXPECT_FALSE(hog[0]->Closed(300)) << "the most recently active connection was closed";
  // Between equals nothing is taken: the newcomer of a client holding as
  // much as the others (here: one more of the hog's own) is refused.
  RawClient more(port(), "127.0.0.2");
  EXPECT_TRUE(more.Closed());
  EXPECT_EQ(server_->stats().refused, 1u);
}

// Regression (issue 24, item 1): no idle timeout existed; with one, a
// connection with nothing in flight is closed and a busy one stays.
TEST_F(ServerTest, TheIdleTimeoutClosesQuietConnectionsOnly) {
  server_->Stop();
  ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.idle_timeout = std::chrono::milliseconds(400);
  server_ = std::make_unique<Server>(exports_.get(), so);
  ASSERT_TRUE(server_->Start().ok());
  RawClient quiet(port()), busy(port());
  ASSERT_EQ(quiet.Go("vm/d"), uint64_t{1} << 20);
  ASSERT_EQ(busy.Go("vm/d"), uint64_t{1} << 20);
  for (int i = 0; i < 15; ++i) {  // 1.5 s of a request every 100 ms
    busy.Request(kCmdRead, static_cast<uint64_t>(i), 0, 512);
    ASSERT_EQ(busy.ReadReply().error, 0u) << "a busy connection was closed at request " << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(quiet.Closed()) << "a connection quiet for 1.5 s outlived a 0.4 s idle timeout";
  EXPECT_EQ(server_->stats().idle_closed, 1u);
}

// ThreadSanitizer keeps shadow memory for every page the program touches,
// and AddressSanitizer keeps freed memory in quarantine (RSS 123 -> 161 MiB
// after everything was given back, in one CI run): there the RSS says more
// about the tool than about the server.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kRssMeaningful = false;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr bool kRssMeaningful = false;
#else
constexpr bool kRssMeaningful = true;
#endif
#else
constexpr bool kRssMeaningful = true;
#endif

// The process's resident memory (bytes).
uint64_t Rss() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

// Regression (issue 24, item 2): each connection kept its 32 MiB buffers, so
// 32 connections pipelining 32 MiB reads of a hole and never reading the
// replies took the server from 23 MiB to 4.1 GiB, held until they closed.
TEST_F(ServerTest, ClientsThatNeverReadTheirRepliesCannotPinMemory) {
  server_->Stop();
  ASSERT_TRUE(m_->CreateDisk("vm", "big", uint64_t{256} << 20, "").ok());
  constexpr uint64_t kBudget = uint64_t{64} << 20;
  ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.request_memory = kBudget;
  so.send_timeout = std::chrono::milliseconds(500);
  server_ = std::make_unique<Server>(exports_.get(), so);
  ASSERT_TRUE(server_->Start().ok());
  const uint64_t before = Rss();
  constexpr uint32_t kRead = 32 << 20;
  std::vector<std::unique_ptr<RawClient>> greedy;
  const char* from[] = {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"};
  for (int i = 0; i < 16; ++i) {
    greedy.push_back(std::make_unique<RawClient>(port(), from[i % 4]));
    ASSERT_EQ(greedy.back()->Go("vm/big"), uint64_t{256} << 20);
    for (uint64_t k = 0; k < 4; ++k) greedy.back()->Request(kCmdRead, k, k * kRead, kRead);
  }
  // 2 GiB asked for; the server holds at most the budget (plus what it keeps
  // per worker) while the replies wait.
  uint64_t peak = 0;
  for (int i = 0; i < 30; ++i) {
    peak = std::max(peak, Rss());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const ServerStats st = server_->stats();
  EXPECT_LE(st.request_memory.peak, kBudget);
  EXPECT_GT(st.request_memory.waits, 0u) << "nothing waited: the test asked for too little";
  if (kRssMeaningful) {
    EXPECT_LT(peak, before + kBudget + (uint64_t{48} << 20)) << "RSS " << before << " -> peak " << peak;
  }
  // A reply not taken within the send timeout ends its connection (the
  // clients are still there, reading nothing); then nothing is held.
  for (int i = 0; i < 600 && !server_->OpenExports().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(server_->OpenExports().empty()) << "connections whose replies were never read stayed open";
  greedy.clear();
  uint64_t in_use = 1;
  for (int i = 0; i < 200 && in_use != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    in_use = server_->stats().request_memory.in_use;
  }
  EXPECT_EQ(in_use, 0u);
  std::printf(
      "RSS %.1f MiB, peak %.1f MiB with 2 GiB of reads asked for, budget %.0f MiB (peak held %.1f MiB), "
      "after %.1f MiB\n",
      static_cast<double>(before) / (1 << 20), static_cast<double>(peak) / (1 << 20),
      static_cast<double>(kBudget) / (1 << 20), static_cast<double>(st.request_memory.peak) / (1 << 20),
      static_cast<double>(Rss()) / (1 << 20));
  if (kRssMeaningful) {
    EXPECT_LT(Rss(), before + (uint64_t{24} << 20))
        << "the buffers were not given back: RSS " << before << " -> " << Rss();
  }
  // The server still serves.
  RawClient ok(port());
  ASSERT_EQ(ok.Go("vm/d"), uint64_t{1} << 20);
  ok.Request(kCmdRead, 9, 0, 4096);
  EXPECT_EQ(ok.ReadReply().data, std::string(4096, 'o'));
}

TEST_F(ServerTest, HandshakeAdvertisesFixedNewstyleAndListsExports) {
  RawClient c(port());
  ASSERT_TRUE(c.connected());
  EXPECT_EQ(c.Hello(), kFlagFixedNewstyle | kFlagNoZeroes);
  c.Option(kOptList, "");
  std::set<std::string> names;
  for (;;) {
    auto r = c.ReadOptReply();
    if (r.type != kRepServer) {
      EXPECT_EQ(r.type, kRepAck);
      break;
    }
    names.insert(r.data.substr(4, GetBe32(r.data.data())));
  }
  EXPECT_EQ(names, (std::set<std::string>{"vm/d", snap_}));
}

TEST_F(ServerTest, UnknownExportAndOptionsGetErrorRepliesAndTheSessionGoesOn) {
  RawClient c(port());
  c.Hello();
  c.Option(kOptGo, RawClient::GoData("vm/nope"));
  auto r = c.ReadOptReply();
  EXPECT_EQ(r.type, kRepErrUnknown);
  EXPECT_NE(r.data.find("unknown export 'vm/nope'"), std::string::npos) << r.data;
  c.Option(99, "xyz");
  EXPECT_EQ(c.ReadOptReply().type, kRepErrUnsup);
  c.Option(kOptList, std::string(kMaxOptionLength + 1, 'x'));
  EXPECT_EQ(c.ReadOptReply().type, kRepErrTooBig);
  c.Option(kOptGo, "\x00\x00\x00\x09vm");  // name length past the end
  EXPECT_EQ(c.ReadOptReply().type, kRepErrInvalid);
  c.Option(kOptSetMetaContext, RawClient::MetaData("vm/d", "base:allocation"));  // before structured replies
  EXPECT_EQ(c.ReadOptReply().type, kRepErrInvalid);
  c.Option(kOptStartTls, "");
  EXPECT_EQ(c.ReadOptReply().type, kRepErrPolicy);
  c.Option(kOptGo, RawClient::GoData("vm/d"));  // still usable
  EXPECT_EQ(c.ReadOptReply().type, kRepInfo);
}

TEST_F(ServerTest, ClientsThatBreakTheProtocolAreDisconnectedAndOthersServed) {
  {
    RawClient old_style(port());
    old_style.Hello(0);  // not fixed newstyle
    EXPECT_TRUE(old_style.Closed());
  }
  {
    RawClient bad_magic(port());
    bad_magic.Hello();
    bad_magic.Option(kOptList, "", 0x1234);
    EXPECT_TRUE(bad_magic.Closed());
  }
  {
    RawClient bad_request(port());
    bad_request.Go("vm/d");
    bad_request.Request(kCmdRead, 1, 0, 512, "", 0, 0xdeadbeef);
    EXPECT_TRUE(bad_request.Closed());
  }
  {
    RawClient huge_write(port());
    huge_write.Go("vm/d");
    huge_write.Request(kCmdWrite, 1, 0, kMaxPayload + 1);
    EXPECT_TRUE(huge_write.Closed());
  }
  {
    RawClient abrupt(port());
    abrupt.Go("vm/d");
    abrupt.Request(kCmdWrite, 1, 0, 65536, std::string(1000, 'x'));  // hangs up mid-payload
  }
  RawClient ok(port());
  ASSERT_EQ(ok.Go("vm/d"), 1u << 20);
  ok.Request(kCmdRead, 7, 0, 4096);
  auto r = ok.ReadReply();
  EXPECT_EQ(r.cookie, 7u);
  EXPECT_EQ(r.error, 0u);
  EXPECT_EQ(r.data, std::string(4096, 'o'));  // the abandoned write changed nothing
}

TEST_F(ServerTest, EveryCommandAndItsErrors) {
  RawClient c(port());
  ASSERT_EQ(c.Go("vm/d"), 1u << 20);
  c.Request(kCmdWrite, 1, 8192, 4096, std::string(4096, 'w'), kCmdFlagFua);
  EXPECT_EQ(c.ReadReply().error, 0u);
  c.Request(kCmdRead, 2, 8192, 4096);
  EXPECT_EQ(c.ReadReply().data, std::string(4096, 'w'));
  c.Request(kCmdFlush, 3, 0, 0);
  EXPECT_EQ(c.ReadReply().error, 0u);
  c.Request(kCmdTrim, 4, 0, 65536);
  EXPECT_EQ(c.ReadReply().error, 0u);
  c.Request(kCmdWriteZeroes, 5, 65536, 65536, "", kCmdFlagNoHole | kCmdFlagFastZero);
  EXPECT_EQ(c.ReadReply().error, 0u);
  c.Request(kCmdCache, 6, 0, 4096);
  EXPECT_EQ(c.ReadReply().error, 0u);
  c.Request(kCmdBlockStatus, 7, 0, 1 << 20);
  auto bs = c.ReadReply();
  ASSERT_EQ(bs.type, kReplyBlockStatus);
  ASSERT_GE(bs.data.size(), 12u);
  EXPECT_EQ(GetBe32(bs.data.data()), 1u);                           // context id
  EXPECT_EQ(GetBe32(bs.data.data() + 4), 65536u);                   // the trimmed cluster ...
  EXPECT_EQ(GetBe32(bs.data.data() + 8), kStateHole | kStateZero);  // ... is a hole
  EXPECT_EQ(GetBe32(bs.data.data() + 16), kStateZero);              // then allocated zeroes
  c.Request(kCmdBlockStatus, 8, 0, 1 << 20, "", kCmdFlagReqOne);
  EXPECT_EQ(c.ReadReply().data.size(), 12u);
  // Errors.
  c.Request(kCmdRead, 10, (1 << 20) - 512, 1024);
  auto past = c.ReadReply();
  EXPECT_EQ(past.error, kEINVAL);
  EXPECT_NE(past.data.find("past the end"), std::string::npos);
  c.Request(kCmdWrite, 11, 1 << 20, 512, std::string(512, 'x'));
  EXPECT_EQ(c.ReadReply().error, kENOSPC);
  c.Request(kCmdRead, 12, 0, kMaxPayload + 1);
  EXPECT_EQ(c.ReadReply().error, kEINVAL);
  c.Request(42, 13, 0, 0);
  EXPECT_EQ(c.ReadReply().error, kEINVAL);
  c.Request(kCmdBlockStatus, 14, 0, 0);
  EXPECT_EQ(c.ReadReply().error, kEINVAL);
  c.Request(kCmdDisc, 15, 0, 0);
  EXPECT_TRUE(c.Closed());
  // The export's counters saw each command once it was answered (the
  // connection's end is counted last).
  ExportStats st;
  for (int i = 0; i < 500; ++i) {
    st = server_->metrics().Snapshot()["vm/d"];
    if (st.open_connections == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(st.connections, 1u);
  EXPECT_EQ(st.open_connections, 0u);
  auto op = [&](Op o) { return st.ops[static_cast<int>(o)]; };
  EXPECT_EQ(op(Op::kRead).requests, 3u);
  EXPECT_EQ(op(Op::kRead).errors, 2u);
  EXPECT_EQ(op(Op::kRead).bytes, 4096u + 1024u + kMaxPayload + 1);
  EXPECT_EQ(op(Op::kWrite).requests, 2u);
  EXPECT_EQ(op(Op::kWrite).errors, 1u);
  EXPECT_EQ(op(Op::kWrite).bytes, 4096u + 512u);
  EXPECT_EQ(op(Op::kFlush).requests, 1u);
  EXPECT_EQ(op(Op::kTrim).bytes, 65536u);
  EXPECT_EQ(op(Op::kWriteZeroes).bytes, 65536u);
  EXPECT_EQ(op(Op::kCache).bytes, 4096u);
  EXPECT_EQ(op(Op::kBlockStatus).requests, 3u);
  EXPECT_EQ(op(Op::kBlockStatus).errors, 1u);
  EXPECT_EQ(op(Op::kBlockStatus).bytes, 0u);
  EXPECT_EQ(op(Op::kOther).requests, 1u);
  EXPECT_EQ(op(Op::kOther).errors, 1u);
  for (int i = 0; i < kOpCount; ++i) {
    uint64_t in_buckets = 0;
    for (uint64_t b : st.ops[i].buckets) in_buckets += b;
    EXPECT_EQ(in_buckets, st.ops[i].requests) << OpName(static_cast<Op>(i));
  }
}

// Regressions (issue 24, item 10): a zero-length read got an OFFSET_DATA chunk
// of length 8 (no data), which libnbd rejects; DF on a write and unknown
// flag bits were accepted; 4,096-byte names were refused as too long.
TEST_F(ServerTest, AZeroLengthReadGetsANoneChunk) {
  RawClient c(port());
  ASSERT_EQ(c.Go("vm/d"), 1u << 20);
  for (uint64_t off : {uint64_t{0}, uint64_t{1} << 20}) {  // also at the very end
    c.Request(kCmdRead, 1, off, 0);
    auto r = c.ReadReply();
    EXPECT_EQ(r.error, 0u) << off;
    EXPECT_EQ(r.type, kReplyNone) << off;
    EXPECT_TRUE(r.data.empty());
  }
  c.Request(kCmdRead, 2, 0, 4096);  // the session goes on
  EXPECT_EQ(c.ReadReply().data, std::string(4096, 'o'));
}

TEST_F(ServerTest, DfOnAWriteAndUnknownFlagBitsAreEinval) {
  RawClient c(port());
  ASSERT_EQ(c.Go("vm/d"), 1u << 20);
  c.Request(kCmdWrite, 1, 0, 512, std::string(512, 'x'), kCmdFlagDf);
  auto df = c.ReadReply();
  EXPECT_EQ(df.error, kEINVAL);
  EXPECT_NE(df.data.find("DF"), std::string::npos) << df.data;
  c.Request(kCmdRead, 2, 0, 512, "", 1 << 7);
  EXPECT_EQ(c.ReadReply().error, kEINVAL);
  c.Request(kCmdRead, 3, 0, 512, "", kCmdFlagDf);  // DF on a read: fine
  auto ok = c.ReadReply();
  EXPECT_EQ(ok.error, 0u);
  EXPECT_EQ(ok.data, std::string(512, 'o'));  // the refused write changed nothing
}

TEST_F(ServerTest, ExportNamesOf4096BytesAreNamesNotTooLong) {
  RawClient c(port());
  c.Hello();
  for (size_t n : {size_t{4095}, size_t{4096}}) {
    c.Option(kOptGo, RawClient::GoData(std::string(n, 'v')));
    auto r = c.ReadOptReply();
    EXPECT_EQ(r.type, kRepErrUnknown) << n << " bytes: " << r.data;  // looked up, not refused
  }
  c.Option(kOptGo, RawClient::GoData("vm/d"));
  EXPECT_EQ(c.ReadOptReply().type, kRepInfo);
}

TEST_F(ServerTest, SnapshotExportsAreReadOnlyAndKeepTheirData) {
  RawClient c(port());
  c.Go(snap_, /*structured=*/false);
  c.Request(kCmdWrite, 1, 0, 512, std::string(512, 'x'));
  EXPECT_EQ(c.ReadReply().error, kEPERM);
  c.Request(kCmdTrim, 2, 0, 512);
  EXPECT_EQ(c.ReadReply().error, kEPERM);
  c.Request(kCmdRead, 3, 0, 4096);
  auto r = c.ReadReply(4096);
  EXPECT_EQ(r.error, 0u);
  EXPECT_EQ(r.data, std::string(4096, 'o'));
}

TEST_F(ServerTest, ManyRequestsInFlightOnOneConnectionAllComeBack) {
  RawClient c(port());
  c.Go("vm/d");
  const int n = 64;
  for (int i = 0; i < n; ++i) {
    std::string data(4096, static_cast<char>('a' + i % 26));
    c.Request(kCmdWrite, 1000 + i, uint64_t(i) * 4096, 4096, data);
  }
  std::set<uint64_t> cookies;
  for (int i = 0; i < n; ++i) {
    auto r = c.ReadReply();
    EXPECT_EQ(r.error, 0u);
    cookies.insert(r.cookie);
  }
  EXPECT_EQ(cookies.size(), size_t{n});
  for (int i = 0; i < n; ++i) c.Request(kCmdRead, 2000 + i, uint64_t(i) * 4096, 4096);
  for (int i = 0; i < n; ++i) {
    auto r = c.ReadReply();
    ASSERT_EQ(r.error, 0u);
    int k = static_cast<int>(r.cookie - 2000);
    EXPECT_EQ(r.data, std::string(4096, static_cast<char>('a' + k % 26)));
  }
}

TEST_F(ServerTest, AnAllowListLimitsWhatAClientSeesAndOpens) {
  ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.allow = {{"127.0.0.1", "vm/d"}, {"10.0.0.9", "*"}};
  Server limited(exports_.get(), so);
  ASSERT_TRUE(limited.Start().ok());
  RawClient c(limited.tcp_port());
  c.Hello();
  c.Option(kOptList, "");
  std::vector<std::string> names;
  for (auto r = c.ReadOptReply(); r.type == kRepServer; r = c.ReadOptReply()) {
    names.push_back(r.data.substr(4, GetBe32(r.data.data())));
  }
  EXPECT_EQ(names, std::vector<std::string>{"vm/d"});  // the snapshot is not listed
  c.Option(kOptGo, RawClient::GoData(snap_));
  auto denied = c.ReadOptReply();
  EXPECT_EQ(denied.type, kRepErrPolicy);
  EXPECT_EQ(denied.data, "export '" + snap_ + "' is not allowed for client 127.0.0.1");
  c.Option(kOptGo, RawClient::GoData("vm/d"));
  EXPECT_EQ(c.ReadOptReply().type, kRepInfo);
  limited.Stop();
  EXPECT_FALSE(Allowed({{"*", "web/*"}}, "1.2.3.4", "db/root"));
  EXPECT_TRUE(Allowed({{"*", "web/*"}}, "1.2.3.4", "web/root@s_20140219T02:52:44"));
  EXPECT_TRUE(Allowed({}, "unix", "anything"));
}

TEST_F(ServerTest, SnapshotDuringWritesHoldsExactlyTheAcknowledgedOnes) {
  RawClient c(port());
  c.Go("vm/d");
  std::atomic<int> acked{0};
  std::thread writer([&] {
    for (int i = 1; i < 256; ++i) {  // block i of the 1 MiB disk, one write in flight
      c.Request(kCmdWrite, i, uint64_t(i) * 4096, 4096, std::string(4096, 'n'));
      if (c.ReadReply().error != 0) return;
      acked = i;
    }
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (acked < 40 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  const int before = acked.load();
  std::string full;
  Status s = exports_->Quiesce("vm", [&]() -> Status {
    ASSIGN_OR_RETURN(SnapshotInfo info, m_->CreateSnapshot("vm", "mid", ""));
    full = info.full_name;
    return Status::OK();
  });
  const int after = acked.load();
  writer.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(acked.load(), 255);
  // The snapshot holds a prefix of the writes: every one acknowledged before
  // it, none sent after it, and no block half written.
  std::string data = Unwrap(vmstore::testing::ReadDisk(*m_, "vm/d@" + full, 0, 1 << 20));
  int k = 1;
  while (k < 256 && data.substr(size_t(k) * 4096, 4096) == std::string(4096, 'n')) ++k;
  for (int i = k; i < 256; ++i) ASSERT_EQ(data.substr(size_t(i) * 4096, 4096), std::string(4096, '\0')) << i;
  EXPECT_GE(k - 1, before);
  EXPECT_LE(k - 1, after + 1);
  std::printf("snapshot after %d acknowledged writes holds the first %d (acknowledged when it returned: %d)\n", before,
              k - 1, after);
}

}  // namespace
}  // namespace vmstore::nbd

namespace vmstore::nbd {
namespace {

// The client side of a PSK handshake on `fd`; session is nullptr on failure.
struct PskClient {
  gnutls_psk_client_credentials_t cred = nullptr;
  gnutls_session_t session = nullptr;
  PskClient(int fd, const std::string& user, const std::string& hexkey) {
    gnutls_psk_allocate_client_credentials(&cred);
    gnutls_datum_t key{reinterpret_cast<unsigned char*>(const_cast<char*>(hexkey.data())),
                       static_cast<unsigned>(hexkey.size())};
    gnutls_psk_set_client_credentials(cred, user.c_str(), &key, GNUTLS_PSK_KEY_HEX);
    gnutls_init(&session, GNUTLS_CLIENT);
    gnutls_priority_set_direct(session, "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK", nullptr);
    gnutls_credentials_set(session, GNUTLS_CRD_PSK, cred);
    gnutls_transport_set_int(session, fd);
    int rc;
    do {
      rc = gnutls_handshake(session);
    } while (rc < 0 && !gnutls_error_is_fatal(rc));
    if (rc < 0) {
      gnutls_deinit(session);
      session = nullptr;
    }
  }
  ~PskClient() {
    if (session) gnutls_deinit(session);
    gnutls_psk_free_client_credentials(cred);
  }
};

TEST_F(ServerTest, TlsRequiredRefusesPlaintextAndServesOverPsk) {
  const std::string key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  const std::string psk_file = dir_.path() + "/keys.psk";
  std::ofstream(psk_file) << "alice:" << key << "\n";
  TlsOptions bad;
  bad.cert_file = "/nonexistent.pem";
  EXPECT_EQ(TlsServer::Create(bad).status().code(), Code::kInvalidArgument);  // a cert without a key
  bad.key_file = "/nonexistent-key.pem";
  EXPECT_NE(TlsServer::Create(bad).status().message().find("cannot be read"), std::string::npos);
  std::ofstream(dir_.path() + "/bad.psk") << "alice:xyz\n";
  TlsOptions badpsk;
  badpsk.psk_file = dir_.path() + "/bad.psk";
  EXPECT_NE(TlsServer::Create(badpsk).status().message().find("line 1 is not USERNAME:HEXKEY"), std::string::npos);

  TlsOptions to;
  to.psk_file = psk_file;
  auto tls = Unwrap(TlsServer::Create(to));
  ASSERT_TRUE(tls);
  ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.tls = tls.get();
  so.tls_required = true;
  Server secure(exports_.get(), so);
  ASSERT_TRUE(secure.Start().ok());

  {  // plaintext: every option but STARTTLS and ABORT is refused; EXPORT_NAME hangs up
    RawClient c(secure.tcp_port());
    c.Hello();
    c.Option(kOptList, "");
    EXPECT_EQ(c.ReadOptReply().type, kRepErrTlsReqd);
    c.Option(kOptGo, RawClient::GoData("vm/d"));
    EXPECT_EQ(c.ReadOptReply().type, kRepErrTlsReqd);
    c.Option(kOptStartTls, "x");
    EXPECT_EQ(c.ReadOptReply().type, kRepErrInvalid);
    c.Option(kOptExportName, "vm/d");
    EXPECT_TRUE(c.Closed());
  }
  {  // a wrong key: the handshake fails and the connection ends
    RawClient c(secure.tcp_port());
    c.Hello();
    c.Option(kOptStartTls, "");
    EXPECT_EQ(c.ReadOptReply().type, kRepAck);
    EXPECT_EQ(PskClient(c.fd(), "alice", std::string(64, 'f')).session, nullptr);
  }
  {  // the right key: options and a read go over TLS
    RawClient c(secure.tcp_port());
    c.Hello();
    c.Option(kOptStartTls, "");
    EXPECT_EQ(c.ReadOptReply().type, kRepAck);
    PskClient client(c.fd(), "alice", key);
    gnutls_session_t s = client.session;
    ASSERT_NE(s, nullptr);
    auto send = [&](const std::string& d) { return gnutls_record_send(s, d.data(), d.size()) == (ssize_t)d.size(); };
    auto recv = [&](size_t n) {
      std::string out(n, '\0');
      for (size_t got = 0; got < n;) {
        ssize_t r = gnutls_record_recv(s, out.data() + got, n - got);
        if (r <= 0) return std::string();
        got += static_cast<size_t>(r);
      }
      return out;
    };
    std::string o;
    PutBe64(&o, kOptMagic);
    PutBe32(&o, kOptGo);
    std::string go = RawClient::GoData("vm/d");
    PutBe32(&o, static_cast<uint32_t>(go.size()));
    ASSERT_TRUE(send(o + go));
    uint32_t type = 0;
    do {  // INFO replies, then ACK
      std::string h = recv(20);
      ASSERT_EQ(h.size(), 20u);
      type = GetBe32(h.data() + 12);
      recv(GetBe32(h.data() + 16));
    } while (type == kRepInfo);
    ASSERT_EQ(type, kRepAck);
    std::string req;
    PutBe32(&req, kRequestMagic);
    PutBe16(&req, 0);
    PutBe16(&req, kCmdRead);
    PutBe64(&req, 7);
    PutBe64(&req, 0);
    PutBe32(&req, 4096);
    ASSERT_TRUE(send(req));
    std::string rep = recv(16 + 4096);
    ASSERT_EQ(rep.size(), 16u + 4096);
    EXPECT_EQ(GetBe32(rep.data()), kSimpleReplyMagic);
    EXPECT_EQ(GetBe32(rep.data() + 4), 0u);
    EXPECT_EQ(rep.substr(16), std::string(4096, 'o'));
    gnutls_bye(s, GNUTLS_SHUT_RDWR);
  }
  secure.Stop();
}

}  // namespace
}  // namespace vmstore::nbd
