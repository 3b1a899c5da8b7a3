#include "common/logging.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/base_sink.h>

#include "common/secrets.h"

namespace jobsync {
namespace {

std::mutex secrets_mutex;
std::vector<std::string>& Secrets() {
  static std::vector<std::string> secrets;
  return secrets;
}

std::string Scrub(std::string_view text) {
  std::lock_guard<std::mutex> lock(secrets_mutex);
  return ScrubSecrets(text, Secrets());
}

LogFormat current_format = LogFormat::kText;

// Structured fields travel from LogEvent to the sink through this thread-local, since spdlog's
// message carries text only.
thread_local const LogFields* pending_fields = nullptr;

std::string Timestamp(spdlog::log_clock::time_point time) {
  auto since_epoch = time.time_since_epoch();
  std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  int millis = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", millis);
  return text;
}

// Writes each record to stderr as text or JSON, scrubbed.
class AgentSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string_view text(msg.payload.data(), msg.payload.size());
    std::string line;
    if (current_format == LogFormat::kJson) {
      nlohmann::json record = {{"time", Timestamp(msg.time)},
                               {"level", spdlog::level::to_string_view(msg.level).data()},
                               {"msg", text}};
      if (pending_fields != nullptr) {
        for (const auto& [key, value] : *pending_fields) record[key] = value;
      }
      line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = Timestamp(msg.time) + " " +
             std::string(spdlog::level::to_string_view(msg.level).data()) + " " + std::string(text);
      if (pending_fields != nullptr) {
        for (const auto& [key, value] : *pending_fields) {
          line += " " + key + "=";
          line += value.find(' ') == std::string::npos && !value.empty()
                      ? value
                      : nlohmann::json(value).dump(-1, ' ', false,
                                                   nlohmann::json::error_handler_t::replace);
        }
      }
    }
    line = Scrub(line);
    line += "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

Status SetUpLogging(std::string_view format, std::string_view level) {
  if (format == "json") {
    current_format = LogFormat::kJson;
  } else if (format == "text") {
    current_format = LogFormat::kText;
  } else {
    return InvalidArgumentError("unknown log format \"" + std::string(format) +
                                "\": use text or json");
  }
  spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return InvalidArgumentError("unknown log level \"" + std::string(level) +
                                "\": use trace, debug, info, warn or error");
  }
  auto logger = std::make_shared<spdlog::logger>("jobsync", std::make_shared<AgentSink>());
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return OkStatus();
}

void RegisterSecret(std::string value) {
  if (value.size() < 4) return;
  std::lock_guard<std::mutex> lock(secrets_mutex);
  Secrets().push_back(std::move(value));
}

void LogEvent(spdlog::level::level_enum level, std::string_view message, const LogFields& fields) {
  pending_fields = &fields;
  spdlog::default_logger_raw()->log(level, "{}", message);
  pending_fields = nullptr;
}

}  // namespace jobsync
