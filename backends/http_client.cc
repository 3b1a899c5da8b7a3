// The only file in jobsync that uses cpprestsdk. Every cpprestsdk and Boost exception stops here
// and becomes a Status; every task chain ends in a get() inside a try block.
#include "backends/http_client.h"

#include <cctype>
#include <exception>
#include <mutex>
#include <system_error>

#include <boost/asio/ssl.hpp>
#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <cpprest/uri_builder.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace jobsync {

struct HttpCancellation::State {
  pplx::cancellation_token_source source;
};

HttpCancellation::HttpCancellation() : state_(std::make_shared<State>()) {}

void HttpCancellation::Cancel() { state_->source.cancel(); }

bool HttpCancellation::cancelled() const { return state_->source.get_token().is_canceled(); }

namespace {

namespace http = web::http;
namespace ssl = boost::asio::ssl;

// Loads the configured trust anchors and client identity into `context`. Returns the first
// problem, naming the item and never its content.
Status ConfigureTls(const HttpClientConfig& config, ssl::context& context) {
  boost::system::error_code error;
  if (!config.ca_pem.empty()) {
    context.add_certificate_authority(boost::asio::buffer(config.ca_pem), error);
    if (error) return InvalidArgumentError("certificate authority data is not a PEM certificate");
  }
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return InvalidArgumentError("a client certificate needs its key and a key its certificate");
  }
  if (!config.client_cert_pem.empty()) {
    context.use_certificate_chain(boost::asio::buffer(config.client_cert_pem), error);
    if (error) return InvalidArgumentError("client certificate data is not a PEM certificate");
    context.use_private_key(boost::asio::buffer(config.client_key_pem), ssl::context::pem, error);
    if (error) {
      return InvalidArgumentError(
          "client key data is not a PEM private key matching the "
          "client certificate");
    }
  }
  return OkStatus();
}

bool IsTimeout(const std::error_code& code, std::string_view what) {
  return code == std::errc::timed_out || what.find("timed out") != std::string_view::npos;
}

// True when cpprestsdk reports a failed TLS handshake for OpenSSL's `reason`: it throws
// "Error in SSL handshake" with OpenSSL's packed error code as the value.
bool IsHandshakeFailure(const std::error_code& code, std::string_view what, int reason) {
  const auto packed = static_cast<unsigned long>(static_cast<unsigned int>(code.value()));
  return what.find("SSL handshake") != std::string_view::npos &&
         ERR_GET_LIB(packed) == ERR_LIB_SSL && ERR_GET_REASON(packed) == reason;
}

// "16 MiB" for whole mebibytes, else "N bytes".
std::string Bytes(size_t n) {
  return n % (size_t{1} << 20) == 0 ? std::to_string(n >> 20) + " MiB"
                                    : std::to_string(n) + " bytes";
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

class CppRestHttpClient : public HttpClient {
 public:
  explicit CppRestHttpClient(HttpClientConfig config) : config_(std::move(config)) {}

  // HttpClient:
  StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    const std::string where = Where(request);
    try {
      std::shared_ptr<http::client::http_client> client = ClientFor(request.timeout);
      http::http_response response = client->request(Build(request)).get();
      HttpResponse out = Head(response);
      StatusOr<std::string> body = ReadBody(response, where);
      if (!body.ok()) return body.status();
      out.body = std::move(*body);
      return out;
    } catch (const http::http_exception& e) {
      return Failure(where, e.error_code(), e.what());
    } catch (const std::exception& e) {
      return Failure(where, std::error_code(), e.what());
    }
  }

  StatusOr<HttpResponse> Stream(const HttpRequest& request,
                                const std::function<bool(std::string_view)>& on_line,
                                const HttpCancellation& cancel) override {
    const std::string where = Where(request);
    // Linked so that an early stop by `on_line` also ends the connection.
    pplx::cancellation_token outer = cancel.state().source.get_token();
    pplx::cancellation_token_source own =
        pplx::cancellation_token_source::create_linked_source(outer);
    try {
      std::shared_ptr<http::client::http_client> client = ClientFor(request.timeout);
      http::http_response response = client->request(Build(request), own.get_token()).get();
      HttpResponse out = Head(response);
      if (out.status < 200 || out.status > 299) {
        StatusOr<std::string> body = ReadBody(response, where);
        if (!body.ok()) return body.status();
        out.body = std::move(*body);
        return out;
      }
      // Line by line: istream::read would wait for a whole chunk, holding back watch events.
      concurrency::streams::istream body = response.body();
      while (true) {
        concurrency::streams::container_buffer<std::string> line;
        const size_t read = body.read_line(line).get();
        if (read == 0 && body.is_eof()) break;
        std::string_view text(line.collection());
        if (text.size() > config_.max_line_bytes) return LineTooLong(where, own);
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        if (text.empty()) continue;
        if (!on_line(text)) {
          own.cancel();
          break;
        }
      }
      return out;
    } catch (const http::http_exception& e) {
      if (cancel.cancelled()) return UnavailableError(where + ": cancelled");
      return Failure(where, e.error_code(), e.what());
    } catch (const pplx::task_canceled&) {
      return UnavailableError(where + ": cancelled");
    } catch (const std::exception& e) {
      if (cancel.cancelled()) return UnavailableError(where + ": cancelled");
      return Failure(where, std::error_code(), e.what());
    }
  }

 private:
  static constexpr size_t kChunkBytes = size_t{64} << 10;

  // Ends a stream whose line is beyond config_.max_line_bytes.
  Status LineTooLong(const std::string& where, pplx::cancellation_token_source& stream) const {
    stream.cancel();
    return ResourceExhaustedError(where + ": a line of the stream is longer than " +
                                  Bytes(config_.max_line_bytes) + "; refusing it");
  }

  // The whole body of `response`, refused beyond config_.max_body_bytes.
  StatusOr<std::string> ReadBody(const http::http_response& response, const std::string& where) {
    concurrency::streams::istream body = response.body();
    std::string out;
    while (true) {
      concurrency::streams::container_buffer<std::string> chunk;
      const size_t read = body.read(chunk, kChunkBytes).get();
      if (read == 0) break;
      out.append(chunk.collection().data(), read);  // the buffer is sized to the request
      if (out.size() > config_.max_body_bytes) {
        return ResourceExhaustedError(where + ": the response is larger than " +
                                      Bytes(config_.max_body_bytes) + "; refusing it");
      }
    }
    return out;
  }

  // A cpprestsdk client per timeout, because cpprestsdk sets the timeout per client; each client
  // keeps its own pool of connections.
  std::shared_ptr<http::client::http_client> ClientFor(std::chrono::milliseconds timeout) {
    if (timeout.count() <= 0) timeout = config_.default_timeout;
    std::lock_guard<std::mutex> lock(mutex_);
    std::shared_ptr<http::client::http_client>& client = clients_[timeout.count()];
    if (client == nullptr) {
      http::client::http_client_config settings;
      settings.set_timeout(timeout);
      settings.set_validate_certificates(!config_.insecure_skip_tls_verify);
      settings.set_ssl_context_callback([config = config_](ssl::context& context) {
        // Checked by NewHttpClient, so a failure here cannot happen; the handshake would fail.
        (void)ConfigureTls(config, context);
      });
      client = std::make_shared<http::client::http_client>(web::uri(config_.base_url), settings);
    }
    return client;
  }

  http::http_request Build(const HttpRequest& request) const {
    http::http_request out{http::method(request.method)};
    web::uri_builder uri(request.path);
    for (const auto& [name, value] : request.query) uri.append_query(name, value, true);
    out.set_request_uri(uri.to_uri());
    for (const auto& [name, value] : request.headers) out.headers().add(name, value);
    if (!config_.bearer_token.empty()) {
      out.headers().add("Authorization", "Bearer " + config_.bearer_token);
    }
    if (!request.body.empty()) {
      out.set_body(request.body, request.content_type.empty() ? std::string("application/json")
                                                              : request.content_type);
    }
    return out;
  }

  static HttpResponse Head(const http::http_response& response) {
    HttpResponse out;
    out.status = response.status_code();
    for (const auto& [name, value] : response.headers()) out.headers[Lower(name)] = value;
    return out;
  }

  std::string Where(const HttpRequest& request) const {
    return request.method + " " + config_.base_url + request.path;
  }

  Status Failure(const std::string& where, const std::error_code& code,
                 const std::string& what) const {
    if (IsTimeout(code, what)) {
      return DeadlineExceededError(where + ": no response within the timeout (" + what + ")");
    }
    // OpenSSL's verification covers both the chain and (cpprestsdk's callback) the host name.
    if (IsHandshakeFailure(code, what, SSL_R_CERTIFICATE_VERIFY_FAILED)) {
      const std::string trusted = config_.ca_pem.empty()
                                      ? "a certificate authority of the system's trust store"
                                      : "the configured certificate authority";
      const std::string hint = config_.ca_hint.empty()
                                   ? "trust the certificate authority that signed it"
                                   : config_.ca_hint;
      return PermissionDeniedError(where +
                                   ": TLS certificate verification failed: the server's "
                                   "certificate is not signed by " +
                                   trusted + ", or not issued for host " + Host() + "; " + hint);
    }
    if (IsHandshakeFailure(code, what, SSL_R_WRONG_VERSION_NUMBER)) {
      return UnavailableError(where +
                              ": TLS handshake failed: the server does not speak TLS (is its "
                              "address http:// rather than https://?)");
    }
    return UnavailableError(where + ": " + what);
  }

  std::string Host() const {
    try {
      return web::uri(config_.base_url).host();
    } catch (const std::exception&) {
      return config_.base_url;
    }
  }

  const HttpClientConfig config_;
  std::mutex mutex_;
  std::map<int64_t, std::shared_ptr<http::client::http_client>> clients_;
};

}  // namespace

StatusOr<std::unique_ptr<HttpClient>> NewHttpClient(const HttpClientConfig& config) {
  if (config.base_url.rfind("https://", 0) != 0 && config.base_url.rfind("http://", 0) != 0) {
    return InvalidArgumentError("server URL \"" + config.base_url +
                                "\" must start with https:// or http://");
  }
  try {
    web::uri parsed(config.base_url);
    ssl::context probe(ssl::context::sslv23_client);
    JOBSYNC_RETURN_IF_ERROR(ConfigureTls(config, probe));
  } catch (const std::exception& e) {
    return InvalidArgumentError("server URL \"" + config.base_url +
                                "\" cannot be used: " + e.what());
  }
  return std::unique_ptr<HttpClient>(std::make_unique<CppRestHttpClient>(config));
}

}  // namespace jobsync
