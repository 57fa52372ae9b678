#include "backend/file_device.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace vmstore::backend {
namespace {

class FileDevice final : public Device {
 public:
  FileDevice(int fd, uint64_t size, bool read_only, bool can_trim, std::string path)
      : fd_(fd), size_(size), read_only_(read_only), can_trim_(can_trim), path_(std::move(path)) {}
  ~FileDevice() override { ::close(fd_); }

  uint64_t size() const override { return size_; }
  bool read_only() const override { return read_only_; }
  bool can_trim() const override { return can_trim_; }

  Status Read(uint64_t offset, std::span<char> buf) override {
    RETURN_IF_ERROR(Range(offset, buf.size()));
    size_t done = 0;
    while (done < buf.size()) {
      ssize_t r = ::pread(fd_, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoStatus(errno, "read " + path_);
      if (r == 0) {  // the file was truncated under us: zeroes, as a hole
        std::fill(buf.begin() + done, buf.end(), '\0');
        break;
      }
      done += static_cast<size_t>(r);
    }
    return Status::OK();
  }

  Status Write(uint64_t offset, std::span<const char> data, bool fua) override {
    RETURN_IF_ERROR(Writable());
    RETURN_IF_ERROR(Range(offset, data.size()));
    size_t done = 0;
    while (done < data.size()) {
      ssize_t r = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoStatus(errno, "write " + path_);
      done += static_cast<size_t>(r);
    }
    return fua ? Flush() : Status::OK();
  }

  Status Trim(uint64_t offset, uint64_t length, bool fua) override {
    if (!can_trim_) return NotSupported(path_ + " is on a file system that cannot punch holes; trim is not offered");
    return Fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length, fua);
  }

  Status WriteZeroes(uint64_t offset, uint64_t length, bool may_punch, bool fua) override {
    if (can_trim_) {
      int mode = (may_punch ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE;
      Status s = Fallocate(mode, offset, length, fua);
      if (s.code() != Code::kNotSupported) return s;
    }
    RETURN_IF_ERROR(Writable());
    RETURN_IF_ERROR(Range(offset, length));
    // No fallocate mode for it here: write zeroes.
    std::vector<char> zero(std::min<uint64_t>(length, 1 << 20), '\0');
    for (uint64_t done = 0; done < length;) {
      uint64_t n = std::min<uint64_t>(zero.size(), length - done);
      RETURN_IF_ERROR(Write(offset + done, std::span<const char>(zero.data(), n), false));
      done += n;
    }
    return fua ? Flush() : Status::OK();
  }

  Status Flush() override {
    if (::fdatasync(fd_) != 0) return ErrnoStatus(errno, "fdatasync " + path_);
    return Status::OK();
  }

  StatusOr<std::vector<Extent>> Map(uint64_t offset, uint64_t length) override {
    RETURN_IF_ERROR(Range(offset, length));
    return FileMap(fd_, offset, length);
  }

 private:
  Status Range(uint64_t offset, uint64_t length) const {
    if (offset > size_ || length > size_ - offset) {
      return OutOfRange("range " + std::to_string(offset) + "+" + std::to_string(length) + " is past the end (" +
                        std::to_string(size_) + " bytes)");
    }
    return Status::OK();
  }
  Status Writable() const {
    if (read_only_) return FailedPrecondition(path_ + " is a snapshot (read-only)");
    return Status::OK();
  }
  Status Fallocate(int mode, uint64_t offset, uint64_t length, bool fua) {
    RETURN_IF_ERROR(Writable());
    RETURN_IF_ERROR(Range(offset, length));
    if (length == 0) return Status::OK();
    if (::fallocate(fd_, mode, static_cast<off_t>(offset), static_cast<off_t>(length)) != 0) {
      if (errno == EOPNOTSUPP) return NotSupported("fallocate mode " + std::to_string(mode) + " on " + path_);
      return ErrnoStatus(errno, "fallocate " + path_);
    }
    return fua ? Flush() : Status::OK();
  }

  int fd_;
  uint64_t size_;
  bool read_only_;
  bool can_trim_;
  std::string path_;
};

}  // namespace

StatusOr<std::vector<Extent>> FileMap(int fd, uint64_t offset, uint64_t length) {
  std::vector<Extent> out;
  const uint64_t end = offset + length;
  uint64_t pos = offset;
  while (pos < end) {
    off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno != ENXIO) return ErrnoStatus(errno, "SEEK_DATA");
    uint64_t d = data < 0 ? end : std::min<uint64_t>(static_cast<uint64_t>(data), end);
    if (d > pos) out.push_back({pos, d - pos, ExtentType::kHole});
    if (d >= end) break;
    off_t hole = ::lseek(fd, static_cast<off_t>(d), SEEK_HOLE);
    if (hole < 0) return ErrnoStatus(errno, "SEEK_HOLE");
    uint64_t h = std::min<uint64_t>(static_cast<uint64_t>(hole), end);
    out.push_back({d, h - d, ExtentType::kData});
    pos = h;
  }
  return out;
}

StatusOr<std::unique_ptr<Device>> OpenFileDevice(const std::string& path, bool read_only, bool can_trim) {
  int fd = ::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("no image file " + path);
    return ErrnoStatus(errno, "open " + path);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return ErrnoStatus(e, "stat " + path);
  }
  return std::unique_ptr<Device>(new FileDevice(fd, static_cast<uint64_t>(st.st_size), read_only, can_trim, path));
}

}  // namespace vmstore::backend
