#include "agent/sync/state_store.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace jobsync {
namespace {

using nlohmann::json;

Status ErrnoError(const std::string& what, const std::string& path, int error) {
  std::string message = what + " " + path + ": " + std::generic_category().message(error);
  if (error == EACCES || error == EPERM || error == EROFS) {
    return PermissionDeniedError(std::move(message));
  }
  return UnavailableError(std::move(message));
}

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot write", path, errno);
    written += static_cast<size_t>(n);
  }
  return OkStatus();
}

Status FsyncAndClose(int fd, const std::string& path) {
  Status status;
  if (::fsync(fd) != 0) status = ErrnoError("cannot fsync", path, errno);
  if (::close(fd) != 0 && status.ok()) status = ErrnoError("cannot close", path, errno);
  return status;
}

// StateStore over one JSON file. Thread-safe: Save calls are serialized, since they share the
// temporary file.
class FileStateStore : public StateStore {
 public:
  explicit FileStateStore(std::string path) : path_(std::move(path)) {}

  // StateStore
  StatusOr<AgentState> Load() override {
    StatusOr<std::optional<std::string>> text = ReadFile();
    if (!text.ok()) return text.status();
    if (!text->has_value()) return AgentState{};
    const json document = json::parse(**text, nullptr, false);
    if (document.is_discarded()) return Corrupt("it is not valid JSON");
    StatusOr<AgentState> state = AgentStateFromJson(document);
    if (!state.ok()) return Corrupt(state.status().message());
    return state;
  }

  Status Save(const AgentState& state) override {
    const std::string text = AgentStateDocument(state);
    const std::filesystem::path path(path_);
    const std::filesystem::path parent =
        path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
    std::lock_guard<std::mutex> lock(mutex_);
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) {
      return ErrnoError("cannot create the state directory", parent.string(), error.value());
    }
    // A fixed name: a temporary file left by a crash is simply overwritten by the next Save.
    const std::string temporary = path_ + ".tmp";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError("cannot create", temporary, errno);
    Status written = WriteAll(fd, text, temporary);
    if (!written.ok()) {
      ::close(fd);
      ::unlink(temporary.c_str());
      return written;
    }
    Status synced = FsyncAndClose(fd, temporary);
    if (!synced.ok()) {
      ::unlink(temporary.c_str());
      return synced;
    }
    if (::rename(temporary.c_str(), path_.c_str()) != 0) {
      const int rename_error = errno;
      ::unlink(temporary.c_str());
      return ErrnoError("cannot rename " + temporary + " to", path_, rename_error);
    }
    // The rename is durable only once the directory entry is on disk.
    const int dir = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return ErrnoError("cannot open", parent.string(), errno);
    return FsyncAndClose(dir, parent.string());
  }

  std::string Describe() const override { return "file " + path_; }

 private:
  // The file's contents; nullopt when it does not exist.
  StatusOr<std::optional<std::string>> ReadFile() const {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return std::optional<std::string>();
    if (fd < 0) return ErrnoError("cannot open the state file", path_, errno);
    std::string text;
    char buffer[65536];
    while (true) {
      const ssize_t n = ::read(fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int read_error = errno;
        ::close(fd);
        return ErrnoError("cannot read the state file", path_, read_error);
      }
      if (n == 0) break;
      text.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
    return std::optional<std::string>(std::move(text));
  }

  Status Corrupt(const std::string& problem) const {
    return FailedPreconditionError("state file " + path_ + " is not a jobsync agent state (" +
                                   problem + "); delete it" + kStateStartOverHint);
  }

  const std::string path_;
  std::mutex mutex_;  // serializes Save
};

}  // namespace

std::unique_ptr<StateStore> NewFileStateStore(std::string path) {
  return std::make_unique<FileStateStore>(std::move(path));
}

std::string DefaultStateFile(const std::string& instance) {
  const char* state_home = std::getenv("XDG_STATE_HOME");
  std::string base;
  if (state_home != nullptr && *state_home != '\0') {
    base = state_home;
  } else {
    const char* home = std::getenv("HOME");
    base = std::string(home != nullptr ? home : "") + "/.local/state";
  }
  return base + "/jobsync/" + instance + ".state.json";
}

}  // namespace jobsync
