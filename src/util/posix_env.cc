// The production Env: POSIX files with pread/pwrite, fdatasync, flock and
// fallocate(PUNCH_HOLE).
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "vmstore/env.h"

namespace vmstore {
namespace {

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }

  Status ReadAt(uint64_t offset, size_t n, char* dst) override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "read " + path_);
      }
      if (r == 0) {  // past EOF: zeros
        std::fill(dst + done, dst + n, 0);
        break;
      }
      done += static_cast<size_t>(r);
    }
    return Status::OK();
  }

  Status WriteAt(uint64_t offset, const char* src, size_t n) override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pwrite(fd_, src + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "write " + path_);
      }
      done += static_cast<size_t>(r);
    }
    return Status::OK();
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return ErrnoStatus(errno, "fdatasync " + path_);
    return Status::OK();
  }

  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return ErrnoStatus(errno, "truncate " + path_);
    return Status::OK();
  }

  Status PunchHole(uint64_t offset, uint64_t length) override {
    if (length == 0) return Status::OK();
    if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(length)) != 0) {
      return ErrnoStatus(errno, "punch hole in " + path_);
    }
    return Status::OK();
  }

  StatusOr<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoStatus(errno, "stat " + path_);
    return static_cast<uint64_t>(st.st_size);
  }

  StatusOr<uint64_t> AllocatedBytes() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoStatus(errno, "stat " + path_);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }

  StatusOr<std::vector<ByteRange>> DataRanges() override {
    std::vector<ByteRange> out;
    ASSIGN_OR_RETURN(uint64_t size, Size());
    off_t pos = 0;
    while (static_cast<uint64_t>(pos) < size) {
      off_t d = ::lseek(fd_, pos, SEEK_DATA);
      if (d < 0) {
        if (errno == ENXIO) break;
        return ErrnoStatus(errno, "seek data " + path_);
      }
      off_t h = ::lseek(fd_, d, SEEK_HOLE);
      if (h < 0) return ErrnoStatus(errno, "seek hole " + path_);
      out.push_back({static_cast<uint64_t>(d), static_cast<uint64_t>(h - d)});
      pos = h;
    }
    return out;
  }

 private:
  int fd_;
  std::string path_;
};

class PosixLock final : public Env::Lock {
 public:
  explicit PosixLock(int fd) : fd_(fd) {}
  ~PosixLock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_;
};

class PosixEnv final : public Env {
 public:
  StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);  // VM data: its owner's alone
    if (fd < 0) {
      if (errno == ENOENT) return NotFound("no such file: " + path);
      return ErrnoStatus(errno, "open " + path);
    }
    return std::unique_ptr<File>(new PosixFile(fd, path));
  }

  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Status DeleteFile(const std::string& path) override {
    if (::unlink(path.c_str()) == 0) return Status::OK();
    if (errno == ENOENT) return NotFound("no such file: " + path);  // as MemEnv
    return ErrnoStatus(errno, "unlink " + path);
  }

  Status CreateDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus(errno, "mkdir " + path);
    return Status::OK();
  }

  StatusOr<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (!d) {
      if (errno == ENOENT) return NotFound("no such directory: " + path);
      return ErrnoStatus(errno, "opendir " + path);
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    return names;
  }

  Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open dir " + path);
    int r = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (r != 0) return ErrnoStatus(err, "fsync dir " + path);
    return Status::OK();
  }

  StatusOr<std::unique_ptr<Lock>> LockFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoStatus(errno, "open lock " + path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return FailedPrecondition("pool is in use by another process (lock held on " + path + ")");
      }
      return ErrnoStatus(err, "flock " + path);
    }
    return std::unique_ptr<Lock>(new PosixLock(fd));
  }

  StatusOr<FsSpace> FileSystemSpace(const std::string& path) override {
    struct statvfs v;
    if (::statvfs(path.c_str(), &v) != 0) return ErrnoStatus(errno, "statvfs " + path);
    return FsSpace{uint64_t{v.f_blocks} * v.f_frsize, uint64_t{v.f_bavail} * v.f_frsize};
  }

  int64_t NowNanos() override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

}  // namespace vmstore
