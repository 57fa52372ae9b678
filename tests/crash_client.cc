// crash_client: the oracle of tests/crash_loop_test.sh, one round per run.
//
// A round first verifies what the previous round left (its state file): every
// block of the disk must hold one of the values the oracle allows, and every
// snapshot recorded as created must read exactly as the disk was when it was
// taken. Then it writes: two threads, each on its own NBD connection (libnbd),
// write 4 KiB blocks stamped with a unique sequence number and flush every few
// writes, while the main thread takes snapshots through the `vmstore` CLI (the
// writers are held for that moment, so each snapshot's content is known
// exactly) and deletes the oldest beyond a rolling window. The round ends when
// the server goes away (the test kills it with SIGKILL) or after --seconds;
// the state file then says, for every block, which values may survive:
//   - the last value acknowledged before the start of the last flush that
//     completed (NBD_FLAG_CAN_MULTI_CONN: a flush covers writes completed on
//     any connection before it), or what the block held at the round's start;
//   - or any value written after that one (acknowledged or not: a write the
//     server never answered may or may not have reached the log).
// Nothing else: an older value means a lost flushed write, anything that is
// not a whole stamp means torn or corrupt data.
//
// Usage: crash_client --base nbd://127.0.0.1:PORT --vm VM --disk DISK
//          --vmstore BIN (--pool DIR | --etcd URL --gateway-dir DIR)
//          --state FILE [--seconds S] [--seed N] [--keep K] [--verify-only]
// (--etcd: a cluster's gateway; the snapshots go through its control socket.)
// Exit: 0 verified (and the round ran), 1 bad usage or setup, 3 verification
// failed (the first mismatches are printed with the seed).
#include <libnbd.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <shared_mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "util/subprocess.h"

namespace {

constexpr uint32_t kBlock = 4096;
constexpr uint32_t kWords = kBlock / 8;
constexpr uint64_t kMagic = 0x5653435241534821ull;  // "VSCRASH!"
constexpr uint64_t kUnacked = UINT64_MAX;
constexpr int kWriters = 2;
constexpr int kFlushEvery = 16;

struct Options {
  std::string base, vm, disk, vmstore, pool, state, etcd, gateway_dir;
  // The vmstore command's first arguments: where the disk lives.
  std::vector<std::string> Where() const {
    if (!etcd.empty()) return {vmstore, "--etcd", etcd, "--gateway-dir", gateway_dir};
    return {vmstore, "--pool", pool};
  }
  double seconds = 10;
  uint64_t seed = 1;
  size_t keep = 6;
  bool verify_only = false;
};

// ---- block stamps: word 0 magic, 1 block, 2 sequence, the rest derived

uint64_t Mix(uint64_t block, uint64_t seq, uint64_t i) {
  uint64_t x = (seq * 0x9E3779B97F4A7C15ull) ^ (block << 24) ^ i;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  return x ^ (x >> 29);
}

void Fill(char* dst, uint64_t block, uint64_t seq) {
  uint64_t w[kWords];
  w[0] = kMagic;
  w[1] = block;
  w[2] = seq;
  for (uint32_t i = 3; i < kWords; ++i) w[i] = Mix(block, seq, i);
  std::memcpy(dst, w, kBlock);
}

// The stamp a block holds: 0 for zeroes (never written), nullopt for anything
// that is not a whole stamp of this block.
std::optional<uint64_t> Decode(const char* src, uint64_t block) {
  uint64_t w[kWords];
  std::memcpy(w, src, kBlock);
  if (std::all_of(w, w + kWords, [](uint64_t x) { return x == 0; })) return 0;
  if (w[0] != kMagic || w[1] != block || w[2] == 0) return std::nullopt;
  for (uint32_t i = 3; i < kWords; ++i) {
    if (w[i] != Mix(block, w[2], i)) return std::nullopt;
  }
  return w[2];
}

// ---- NBD connection

class Conn {
 public:
  static std::unique_ptr<Conn> Open(const std::string& uri) {
    nbd_handle* h = nbd_create();
    if (h == nullptr || nbd_connect_uri(h, uri.c_str()) == -1) {
      std::fprintf(stderr, "crash_client: cannot connect to %s: %s\n", uri.c_str(), nbd_get_error());
      if (h != nullptr) nbd_close(h);
      return nullptr;
    }
    return std::unique_ptr<Conn>(new Conn(h));
  }
  ~Conn() { nbd_close(h_); }
  int64_t size() { return nbd_get_size(h_); }
  bool multi_conn() { return nbd_can_multi_conn(h_) == 1; }
  bool Read(char* buf, size_t n, uint64_t off) { return nbd_pread(h_, buf, n, off, 0) == 0; }
  bool Write(const char* buf, size_t n, uint64_t off) { return Said("write", nbd_pwrite(h_, buf, n, off, 0)); }
  bool Flush() { return Said("flush", nbd_flush(h_, 0)); }

 private:
  explicit Conn(nbd_handle* h) : h_(h) {}
  // True for success; a failure is printed (normally: the server was killed).
  static bool Said(const char* what, int rc) {
    if (rc == 0) return true;
    std::fprintf(stderr, "crash_client: %s failed: %s\n", what, nbd_get_error());
    return false;
  }
  nbd_handle* h_;
};

// ---- state between rounds

struct Snap {
  std::string name;              // full name
  std::vector<uint64_t> stamps;  // per block
};

struct State {
  uint64_t next_seq = 1;
  std::vector<std::vector<uint64_t>> valid;  // per block; empty = only 0
  std::vector<Snap> snaps;
};

std::vector<uint64_t> ParseNumbers(std::istringstream& in) {
  std::vector<uint64_t> v;
  for (uint64_t x; in >> x;) v.push_back(x);
  return v;
}

bool Load(const std::string& path, uint64_t blocks, State* s) {
  s->valid.assign(blocks, {});
  std::ifstream f(path);
  if (!f) return true;  // first round
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    if (kind == "seq") {
      in >> s->next_seq;
    } else if (kind == "valid") {
      uint64_t b;
      in >> b;
      if (b >= blocks) return false;
      s->valid[b] = ParseNumbers(in);
    } else if (kind == "snap") {
      Snap sn;
      in >> sn.name;
      sn.stamps = ParseNumbers(in);
      if (sn.stamps.size() != blocks) return false;
      s->snaps.push_back(std::move(sn));
    } else if (!kind.empty()) {
      return false;
    }
  }
  return true;
}

bool Save(const std::string& path, const State& s) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << "seq " << s.next_seq << "\n";
    for (size_t b = 0; b < s.valid.size(); ++b) {
      if (s.valid[b].empty() || (s.valid[b].size() == 1 && s.valid[b][0] == 0)) continue;
      f << "valid " << b;
      for (uint64_t v : s.valid[b]) f << ' ' << v;
      f << "\n";
    }
    for (const Snap& sn : s.snaps) {
      f << "snap " << sn.name;
      for (uint64_t v : sn.stamps) f << ' ' << v;
      f << "\n";
    }
    if (!f.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// ---- verification

// Reads every block of `uri`; nullopt (printed) if it cannot.
std::optional<std::vector<std::optional<uint64_t>>> ReadStamps(const std::string& uri, uint64_t blocks) {
  auto c = Conn::Open(uri);
  if (!c) return std::nullopt;
  std::vector<std::optional<uint64_t>> out(blocks);
  constexpr uint64_t kChunk = 256;  // blocks per request (1 MiB)
  std::vector<char> buf(kChunk * kBlock);
  for (uint64_t b = 0; b < blocks; b += kChunk) {
    uint64_t n = std::min(kChunk, blocks - b);
    if (!c->Read(buf.data(), n * kBlock, b * kBlock)) {
      std::fprintf(stderr, "crash_client: reading %s at block %" PRIu64 ": %s\n", uri.c_str(), b, nbd_get_error());
      return std::nullopt;
    }
    for (uint64_t i = 0; i < n; ++i) out[b + i] = Decode(buf.data() + i * kBlock, b + i);
  }
  return out;
}

std::string Show(const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : std::string("garbage"); }

// Checks the disk against the allowed values and every snapshot against its
// stamps; fills *now with what the disk holds. Returns the number of problems.
int Verify(const Options& o, uint64_t blocks, const State& s, std::vector<uint64_t>* now) {
  int bad = 0;
  auto report = [&](const std::string& what) {
    if (++bad <= 10) std::fprintf(stderr, "crash_client: MISMATCH (seed %" PRIu64 "): %s\n", o.seed, what.c_str());
  };
  auto disk = ReadStamps(o.base + "/" + o.vm + "/" + o.disk, blocks);
  if (!disk) return 1;
  now->assign(blocks, 0);
  for (uint64_t b = 0; b < blocks; ++b) {
    const auto& got = (*disk)[b];
    std::vector<uint64_t> ok = s.valid[b].empty() ? std::vector<uint64_t>{0} : s.valid[b];
    if (!got || std::find(ok.begin(), ok.end(), *got) == ok.end()) {
      std::string allowed;
      for (uint64_t v : ok) allowed += (allowed.empty() ? "" : ",") + std::to_string(v);
      report("block " + std::to_string(b) + " holds " + Show(got) + ", allowed {" + allowed + "}");
      continue;
    }
    (*now)[b] = *got;
  }
  for (const Snap& sn : s.snaps) {
    auto snap = ReadStamps(o.base + "/" + o.vm + "/" + o.disk + "@" + sn.name, blocks);
    if (!snap) {
      report("snapshot " + sn.name + " cannot be read");
      continue;
    }
    for (uint64_t b = 0; b < blocks; ++b) {
      if ((*snap)[b] != std::optional<uint64_t>(sn.stamps[b])) {
        report("snapshot " + sn.name + " block " + std::to_string(b) + " holds " + Show((*snap)[b]) + ", want " +
               std::to_string(sn.stamps[b]));
      }
    }
  }
  return bad;
}

// ---- the round's writes

struct WriteRec {
  uint64_t seq, ack_ev;
};

class Round {
 public:
  Round(const Options& o, uint64_t blocks, State* s, std::vector<uint64_t> start)
      : o_(o), blocks_(blocks), s_(s), start_(start), cur_(std::move(start)), hist_(blocks), next_seq_(s->next_seq) {}

  void Run() {
    deadline_ = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                       std::chrono::duration<double>(o_.seconds));
    std::vector<std::thread> writers;
    for (int t = 0; t < kWriters; ++t) writers.emplace_back([this, t] { Writer(t); });
    Snapshotter();
    for (auto& w : writers) w.join();
    if (!dead_) FinalFlush();
    Finish();
  }
  uint64_t writes() const { return writes_; }
  uint64_t flushes() const { return flushes_; }
  int snapshots() const { return snapshots_; }
  bool server_gone() const { return dead_; }

 private:
  bool Over() { return dead_ || std::chrono::steady_clock::now() >= deadline_; }

  void Writer(int t) {
    auto c = Conn::Open(o_.base + "/" + o_.vm + "/" + o_.disk);
    if (!c) {
      dead_ = true;
      return;
    }
    std::mt19937_64 rng(o_.seed * 1000003 + t);
    char buf[kBlock];
    for (int n = 1; !Over(); ++n) {
      {
        std::shared_lock<std::shared_mutex> q(quiesce_);
        uint64_t b = (rng() % (blocks_ / kWriters)) * kWriters + t;  // blocks of this thread only
        uint64_t seq = next_seq_++;
        Fill(buf, b, seq);
        hist_[b].push_back({seq, kUnacked});
        ev_++;  // submitted
        if (!c->Write(buf, kBlock, b * kBlock)) {
          dead_ = true;
          return;
        }
        hist_[b].back().ack_ev = ev_++;
        cur_[b] = seq;
        ++writes_;
      }
      if (n % kFlushEvery == 0 && !Flush(c.get())) return;
    }
  }

  bool Flush(Conn* c) {
    uint64_t start = ev_++;
    if (!c->Flush()) {
      dead_ = true;
      return false;
    }
    uint64_t prev = flushed_before_.load();
    while (prev < start + 1 && !flushed_before_.compare_exchange_weak(prev, start + 1)) {
    }
    ++flushes_;
    return true;
  }

  void FinalFlush() {
    auto c = Conn::Open(o_.base + "/" + o_.vm + "/" + o_.disk);
    if (!c || !Flush(c.get())) dead_ = true;
  }

  void Snapshotter() {
    std::mt19937_64 rng(o_.seed * 7919 + 99);
    const std::regex created("created snapshot [^@]+@(\\S+) ");
    // A connection of its own, to tell whether the server was still up after
    // a snapshot: when it is not, the CLI may have found no server and run the
    // command itself, on the pool as recovered (acknowledged but unflushed
    // writes lost, writes the server applied without answering kept).
    auto live = Conn::Open(o_.base + "/" + o_.vm + "/" + o_.disk);
    if (!live) return;
    while (!Over()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 150));
      if (Over()) break;
      Snap sn;
      {
        std::unique_lock<std::shared_mutex> q(quiesce_);  // no write in flight: the content is exact
        sn.stamps = cur_;
        std::vector<std::string> args = o_.Where();
        args.insert(args.end(), {"snapshot", "create", o_.vm, "s" + std::to_string(next_seq_.load())});
        auto r = vmstore::RunCommand(args);
        std::smatch m;
        if (!r.ok() || r->exit_code != 0 || !std::regex_search(r->out, m, created)) {
          // Expected when the server was killed meanwhile; the snapshot is then unknown.
          std::fprintf(stderr, "crash_client: snapshot create: %s\n",
                       r.ok() ? r->err.c_str() : r.status().ToString().c_str());
          return;
        }
        sn.name = m[1];
        if (!live->Flush()) {
          std::fprintf(stderr, "crash_client: the server went away around snapshot %s: not checked\n", sn.name.c_str());
          return;
        }
      }
      s_->snaps.push_back(std::move(sn));
      ++snapshots_;
      if (s_->snaps.size() > o_.keep) {
        std::string old = s_->snaps.front().name;
        s_->snaps.erase(s_->snaps.begin());  // forgotten first: a crash may leave it either way
        std::vector<std::string> args = o_.Where();
        args.insert(args.end(), {"snapshot", "delete", o_.vm + "@" + old});
        auto r = vmstore::RunCommand(args);
        if (!r.ok() || r->exit_code != 0) return;
      }
    }
  }

  void Finish() {
    const uint64_t f = flushed_before_.load();  // writes acknowledged at an event below f-1 are durable
    for (uint64_t b = 0; b < blocks_; ++b) {
      const auto& h = hist_[b];
      int k = -1;
      for (int i = 0; i < static_cast<int>(h.size()); ++i) {
        if (h[i].ack_ev != kUnacked && f > 0 && h[i].ack_ev < f - 1) k = i;
      }
      std::vector<uint64_t> ok{k >= 0 ? h[k].seq : start_[b]};
      for (int i = k + 1; i < static_cast<int>(h.size()); ++i) ok.push_back(h[i].seq);
      s_->valid[b] = ok;
    }
    s_->next_seq = next_seq_;
  }

  const Options& o_;
  const uint64_t blocks_;
  State* s_;
  const std::vector<uint64_t> start_;
  std::vector<uint64_t> cur_;                // last acknowledged value per block
  std::vector<std::vector<WriteRec>> hist_;  // a block is written by one thread only
  std::shared_mutex quiesce_;
  std::atomic<uint64_t> next_seq_, ev_{0}, flushed_before_{0}, writes_{0}, flushes_{0};
  std::atomic<bool> dead_{false};
  int snapshots_ = 0;
  std::chrono::steady_clock::time_point deadline_;
};

int Usage(const char* msg) {
  std::fprintf(stderr,
               "crash_client: %s\nusage: crash_client --base nbd://HOST:PORT --vm VM --disk DISK --vmstore BIN "
               "(--pool DIR | --etcd URL --gateway-dir DIR) --state FILE [--seconds S] [--seed N] [--keep K] "
               "[--verify-only]\n",
               msg);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--base")
      o.base = val();
    else if (a == "--vm")
      o.vm = val();
    else if (a == "--disk")
      o.disk = val();
    else if (a == "--vmstore")
      o.vmstore = val();
    else if (a == "--pool")
      o.pool = val();
    else if (a == "--etcd")
      o.etcd = val();
    else if (a == "--gateway-dir")
      o.gateway_dir = val();
    else if (a == "--state")
      o.state = val();
    else if (a == "--seconds")
      o.seconds = std::stod(val());
    else if (a == "--seed")
      o.seed = std::stoull(val());
    else if (a == "--keep")
      o.keep = std::stoul(val());
    else if (a == "--verify-only")
      o.verify_only = true;
    else
      return Usage(("unknown argument " + a).c_str());
  }
  if (o.base.empty() || o.vm.empty() || o.disk.empty() || o.vmstore.empty() || o.state.empty() ||
      (o.pool.empty() && (o.etcd.empty() || o.gateway_dir.empty()))) {
    return Usage("missing argument");
  }
  uint64_t blocks;
  {
    auto c = Conn::Open(o.base + "/" + o.vm + "/" + o.disk);
    if (!c) return 1;
    if (!c->multi_conn()) return Usage("the server does not offer multi-conn; the oracle relies on it");
    blocks = static_cast<uint64_t>(c->size()) / kBlock;
    if (blocks < kWriters) return Usage("disk too small");
  }
  State s;
  if (!Load(o.state, blocks, &s)) return Usage(("bad state file " + o.state).c_str());
  std::vector<uint64_t> now;
  int bad = Verify(o, blocks, s, &now);
  if (bad > 0) {
    std::fprintf(stderr, "crash_client: %d problem(s) after the crash (seed %" PRIu64 ")\n", bad, o.seed);
    return 3;
  }
  std::printf("verified %" PRIu64 " blocks and %zu snapshot(s)\n", blocks, s.snaps.size());
  std::fflush(stdout);  // the test starts its kill timer on this line
  if (o.verify_only) return 0;
  Round r(o, blocks, &s, now);
  r.Run();
  if (!Save(o.state, s)) return Usage(("cannot write " + o.state).c_str());
  std::printf("round: %" PRIu64 " writes, %" PRIu64 " flushes, %d snapshot(s), %s\n", r.writes(), r.flushes(),
              r.snapshots(), r.server_gone() ? "server gone" : "time up");
  return 0;
}
