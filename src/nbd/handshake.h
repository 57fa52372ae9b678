// The option phase of a connection (fixed newstyle): export listing and
// selection under the allow rules, structured replies, base:allocation,
// STARTTLS (the stream is swapped for a TLS one) and the transmission flags.
//
// Thread-safety: one Handshake per connection, used by its thread only.
// Ownership: borrows the ExportSource and the options (the server's).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nbd/server.h"
#include "nbd/stream.h"

namespace vmstore::nbd {

// The one metadata context the server offers, and its id in replies.
inline constexpr uint32_t kAllocContextId = 1;
inline constexpr char kAllocContext[] = "base:allocation";

class Handshake {
 public:
  Handshake(int fd, ExportSource* exports, const ServerOptions& opts, std::string client);

  // Runs the option phase; true when transmission should start (then the
  // fields below say what was negotiated).
  bool Run();
  // The stream that carries the connection from here on (TLS if negotiated).
  std::unique_ptr<Stream> TakeStream() { return std::move(stream_); }

  bool structured = false, no_zeroes = false, meta_alloc = false;
  std::string meta_export;
  std::unique_ptr<backend::Device> dev;  // the chosen export's device (no layers yet)
  std::string export_name;

 private:
  bool Send(const std::string& s) { return stream_->WriteFull(s.data(), s.size()); }
  bool Reply(uint32_t opt, uint32_t type, const std::string& data = "");
  // A reply that ends the option: 0 to go on with the next one, -1 if the client is gone.
  int Answer(uint32_t opt, uint32_t type, const std::string& data = "") { return Reply(opt, type, data) ? 0 : -1; }
  // The allow-list's refusal of `name` to this client.
  int NotAllowed(uint32_t opt, const std::string& name);
  uint16_t TransmissionFlags() const;
  // -1: drop the connection; 0: continue; 1: start transmission.
  int Option(uint32_t opt, const std::string& d);
  int ExportName(const std::string& d);
  int List(const std::string& d);
  int StartTls(const std::string& d);
  int InfoOrGo(uint32_t opt, const std::string& d);
  int MetaContext(uint32_t opt, const std::string& d);

  int fd_;
  std::unique_ptr<Stream> stream_;
  ExportSource* exports_;
  const ServerOptions& opts_;
  std::string client_;
};

}  // namespace vmstore::nbd
