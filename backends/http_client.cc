// The HttpClient of cpprestsdk, the only file in jobsync that uses it, and HttpCancellation. Every
// cpprestsdk and Boost exception stops here and becomes a Status; every task chain ends in a get()
// inside a try block.
#include "backends/http_client.h"

#include <cstdlib>
#include <exception>
#include <list>
#include <mutex>
#include <string>
#include <system_error>

#include <boost/asio/ssl.hpp>
#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <cpprest/uri_builder.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "backends/http_client_parts.h"
#include "backends/proxy.h"

namespace jobsync {

struct HttpCancellation::State {
  std::mutex mutex;
  bool cancelled = false;                      // guarded by mutex
  std::list<std::function<void()>> on_cancel;  // guarded by mutex
};

HttpCancellation::HttpCancellation() : state_(std::make_shared<State>()) {}

void HttpCancellation::Cancel() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (state_->cancelled) return;
  state_->cancelled = true;
  for (const std::function<void()>& call : state_->on_cancel) call();
}

bool HttpCancellation::cancelled() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->cancelled;
}

std::shared_ptr<void> HttpCancellation::OnCancel(std::function<void()> on_cancel) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  if (state_->cancelled) {
    on_cancel();
    return nullptr;
  }
  auto entry = state_->on_cancel.insert(state_->on_cancel.end(), std::move(on_cancel));
  // The deleter takes the mutex, so a call under way in Cancel() ends before the handle does.
  return std::shared_ptr<void>(nullptr, [state = state_, entry](void*) {
    std::lock_guard<std::mutex> held(state->mutex);
    state->on_cancel.erase(entry);
  });
}

namespace {

namespace http = web::http;
namespace ssl = boost::asio::ssl;

// The version the User-Agent names; the build sets it from the project's version.
#ifndef JOBSYNC_VERSION
#error "JOBSYNC_VERSION must be defined by the build"
#endif
constexpr const char* kDefaultUserAgent = "jobsync/" JOBSYNC_VERSION;

// Loads the configured trust anchors and the client identity `identity` into `context`. Returns
// the first problem, naming the item and never its content.
Status ConfigureTls(const HttpClientConfig& config, const HttpCredential& identity,
                    ssl::context& context) {
  boost::system::error_code error;
  if (!config.ca_pem.empty()) {
    // Only the configured authorities, as kubectl trusts only a kubeconfig's CA when it names
    // one. cpprestsdk has given the context the system's store (the one shared by every
    // context: SSL_CTX_set_default_verify_paths at the end of this file); this context lets
    // go of it and gets a store of its own.
    X509_STORE* own = X509_STORE_new();
    if (own == nullptr) return ResourceExhaustedError("cannot make a certificate store");
    SSL_CTX_set_cert_store(context.native_handle(), own);  // frees the one it replaces
    context.add_certificate_authority(boost::asio::buffer(config.ca_pem), error);
    if (error) return InvalidArgumentError(http_parts::kCaNotPem);
  }
  if (identity.client_cert_pem.empty() != identity.client_key_pem.empty()) {
    return InvalidArgumentError(http_parts::kCertWithoutKey);
  }
  if (!identity.client_cert_pem.empty()) {
    context.use_certificate_chain(boost::asio::buffer(identity.client_cert_pem), error);
    if (error) return InvalidArgumentError(http_parts::kCertNotPem);
    context.use_private_key(boost::asio::buffer(identity.client_key_pem), ssl::context::pem, error);
    if (error) return InvalidArgumentError(http_parts::kKeyNotPem);
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

// `base_url` with its scheme's default port made explicit: cpprestsdk's CONNECT to a proxy
// names the server's port as the URL has it.
std::string WithPort(const std::string& base_url) {
  web::uri uri(base_url);
  if (uri.port() > 0) return base_url;
  web::uri_builder builder(uri);
  builder.set_port(uri.scheme() == "https" ? 443 : 80);
  return builder.to_string();
}

// cpprestsdk's proxy setting for `proxy_url`, user and password given as credentials.
web::web_proxy CppRestProxy(const std::string& proxy_url) {
  ProxyUrl parts;
  ParseProxyUrl(proxy_url, &parts);  // checked by NewHttpClient
  web::uri_builder address;
  address.set_scheme("http").set_host(parts.host).set_port(parts.port > 0 ? parts.port : 80);
  web::web_proxy proxy(address.to_uri());
  if (!parts.user.empty()) proxy.set_credentials(web::credentials(parts.user, parts.password));
  return proxy;
}

class CppRestHttpClient : public HttpClient {
 public:
  explicit CppRestHttpClient(HttpClientConfig config) : config_(std::move(config)) {}

  // HttpClient:
  StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    const std::string where = Where(request);
    return http_parts::WithCredential(config_, where, [&](const HttpCredential& credential) {
      return SendOnce(request, credential, where);
    });
  }

  StatusOr<HttpResponse> Stream(const HttpRequest& request,
                                const std::function<bool(std::string_view)>& on_line,
                                const HttpCancellation& cancel) override {
    const std::string where = Where(request);
    return http_parts::WithCredential(config_, where, [&](const HttpCredential& credential) {
      return StreamOnce(request, credential, on_line, cancel, where);
    });
  }

 private:
  static constexpr size_t kChunkBytes = size_t{64} << 10;

  StatusOr<HttpResponse> SendOnce(const HttpRequest& request, const HttpCredential& credential,
                                  const std::string& where) {
    try {
      StatusOr<std::shared_ptr<http::client::http_client>> client =
          ClientFor(request.timeout, credential);
      if (!client.ok()) return client.status();
      http::http_response response = (*client)->request(Build(request, credential)).get();
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

  StatusOr<HttpResponse> StreamOnce(const HttpRequest& request, const HttpCredential& credential,
                                    const std::function<bool(std::string_view)>& on_line,
                                    const HttpCancellation& cancel, const std::string& where) {
    // The stream's own, so that an early stop by `on_line` also ends the connection.
    pplx::cancellation_token_source own;
    const std::shared_ptr<void> linked = cancel.OnCancel([own]() mutable { own.cancel(); });
    try {
      StatusOr<std::shared_ptr<http::client::http_client>> client =
          ClientFor(request.timeout, credential);
      if (!client.ok()) return client.status();
      http::http_response response =
          (*client)->request(Build(request, credential), own.get_token()).get();
      HttpResponse out = Head(response);
      if (out.status < 200 || out.status > 299) {
        StatusOr<std::string> body = ReadBody(response, where);
        if (!body.ok()) return body.status();
        out.body = std::move(*body);
        return out;
      }
      JOBSYNC_RETURN_IF_ERROR(ReadLines(response, on_line, own, where));
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

  // Calls `on_line` with each line of a 2xx stream until its end or until `on_line` returns
  // false. Line by line: istream::read would wait for a whole chunk, holding back watch events.
  Status ReadLines(const http::http_response& response,
                   const std::function<bool(std::string_view)>& on_line,
                   pplx::cancellation_token_source& stream, const std::string& where) {
    concurrency::streams::istream body = response.body();
    while (true) {
      concurrency::streams::container_buffer<std::string> line;
      const size_t read = body.read_line(line).get();
      if (read == 0 && body.is_eof()) break;
      std::string_view text(line.collection());
      if (text.size() > config_.max_line_bytes) return LineTooLong(where, stream);
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      if (text.empty()) continue;
      if (!on_line(text)) {
        stream.cancel();
        break;
      }
    }
    return OkStatus();
  }

  // Ends a stream whose line is beyond config_.max_line_bytes.
  Status LineTooLong(const std::string& where, pplx::cancellation_token_source& stream) const {
    stream.cancel();
    return http_parts::LineTooLong(where, config_.max_line_bytes);
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
        return http_parts::BodyTooLarge(where, config_.max_body_bytes);
      }
    }
    return out;
  }

  // A cpprestsdk client per timeout, because cpprestsdk sets the timeout per client; each client
  // keeps its own pool of connections. The TLS context is per client too, so a client
  // certificate other than the one the clients were made with drops them all (requests under
  // way keep theirs) and later requests get new ones.
  StatusOr<std::shared_ptr<http::client::http_client>> ClientFor(std::chrono::milliseconds timeout,
                                                                 const HttpCredential& credential) {
    if (timeout.count() <= 0) timeout = config_.default_timeout;
    std::lock_guard<std::mutex> lock(mutex_);
    if (credential.client_cert_pem != identity_.client_cert_pem ||
        credential.client_key_pem != identity_.client_key_pem) {
      ssl::context probe(ssl::context::sslv23_client);
      Status usable = ConfigureTls(config_, credential, probe);
      if (!usable.ok()) return http_parts::UnusableIdentity(config_, usable);
      clients_.clear();
      identity_ = HttpCredential{"", credential.client_cert_pem, credential.client_key_pem};
    }
    std::shared_ptr<http::client::http_client>& client = clients_[timeout.count()];
    if (client == nullptr) {
      http::client::http_client_config settings;
      settings.set_timeout(timeout);
      settings.set_validate_certificates(!config_.insecure_skip_tls_verify);
      if (!config_.proxy_url.empty()) settings.set_proxy(CppRestProxy(config_.proxy_url));
      settings.set_ssl_context_callback(
          [config = config_, identity = identity_](ssl::context& context) {
            // Checked before the client is made, so a failure here cannot happen; the handshake
            // would fail.
            (void)ConfigureTls(config, identity, context);
          });
      client = std::make_shared<http::client::http_client>(web::uri(config_.base_url), settings);
    }
    return client;
  }

  http::http_request Build(const HttpRequest& request, const HttpCredential& credential) const {
    http::http_request out{http::method(request.method)};
    web::uri_builder uri(request.path);
    for (const auto& [name, value] : request.query) uri.append_query(name, value, true);
    out.set_request_uri(uri.to_uri());
    for (const auto& [name, value] : request.headers) out.headers().add(name, value);
    out.headers().add("User-Agent",
                      config_.user_agent.empty() ? kDefaultUserAgent : config_.user_agent);
    // cpprestsdk takes the Host header, when set, as the name for SNI and verification.
    if (!config_.tls_server_name.empty()) out.headers().add("Host", config_.tls_server_name);
    if (!credential.bearer_token.empty()) {
      out.headers().add("Authorization", "Bearer " + credential.bearer_token);
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
    for (const auto& [name, value] : response.headers())
      out.headers[http_parts::Lower(name)] = value;
    return out;
  }

  std::string Where(const HttpRequest& request) const {
    return request.method + " " + config_.base_url + request.path;
  }

  Status Failure(const std::string& where, const std::error_code& code,
                 const std::string& what) const {
    if (IsTimeout(code, what)) return http_parts::NoResponseInTime(config_, where, what);
    // OpenSSL's verification covers both the chain and (cpprestsdk's callback) the host name.
    if (IsHandshakeFailure(code, what, SSL_R_CERTIFICATE_VERIFY_FAILED)) {
      return http_parts::TlsVerificationFailed(config_, where, Host());
    }
    if (IsHandshakeFailure(code, what, SSL_R_WRONG_VERSION_NUMBER))
      return http_parts::NotTls(where);
    return UnavailableError(where + http_parts::Through(config_) + ": " + what);
  }

  // The name the server's certificate must be issued for.
  std::string Host() const {
    try {
      return http_parts::CertificateHost(config_, web::uri(config_.base_url).host());
    } catch (const std::exception&) {
      return http_parts::CertificateHost(config_, config_.base_url);
    }
  }

  const HttpClientConfig config_;
  std::mutex mutex_;
  // The client certificate and key the clients in clients_ present; guarded by mutex_.
  HttpCredential identity_;
  std::map<int64_t, std::shared_ptr<http::client::http_client>> clients_;
};

}  // namespace

StatusOr<std::unique_ptr<HttpClient>> NewHttpClient(const HttpClientConfig& config) {
  JOBSYNC_RETURN_IF_ERROR(http_parts::CheckScheme(config.base_url));
  HttpClientConfig checked = config;
  try {
    web::uri parsed(config.base_url);
    ssl::context probe(ssl::context::sslv23_client);
    JOBSYNC_RETURN_IF_ERROR(ConfigureTls(config, http_parts::FixedCredential(config), probe));
    if (!config.proxy_url.empty()) {
      JOBSYNC_RETURN_IF_ERROR(http_parts::CheckProxy(config.proxy_url));
      checked.base_url = WithPort(config.base_url);
    }
  } catch (const std::exception& e) {
    return InvalidArgumentError("server URL \"" + config.base_url +
                                "\" cannot be used: " + e.what());
  }
  return std::unique_ptr<HttpClient>(std::make_unique<CppRestHttpClient>(std::move(checked)));
}

}  // namespace jobsync

// cpprestsdk makes an OpenSSL context for every connection and first calls
// SSL_CTX_set_default_verify_paths on it, which parses the system's trust store: about 140
// authorities, 23 ms of CPU. A cold sync of 1,000 jobs opens 41 connections, a second of CPU
// on a machine the apiserver shares (bench/RESULTS.md, "One parsed system trust store, fewer
// pool threads, a smaller first sync").
// Defined here, in the program, this function takes the place of OpenSSL's for cpprestsdk's
// calls (the dynamic linker looks in the program first): the store is parsed once and shared by
// every context, as Go parses the system pool once. It is parsed again when SSL_CERT_FILE or
// SSL_CERT_DIR, which OpenSSL reads for its default paths, change. Returns 1 on success and 0 on
// failure, as OpenSSL's does.
extern "C" int SSL_CTX_set_default_verify_paths(SSL_CTX* context) {
  static std::mutex mutex;
  static X509_STORE* shared = nullptr;  // one reference held here, one per context using it
  static std::string shared_for;
  auto variable = [](const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? std::string("\x01unset") : std::string(value);
  };
  const std::string paths =
      variable(X509_get_default_cert_file_env()) + '\0' + variable(X509_get_default_cert_dir_env());
  std::lock_guard<std::mutex> lock(mutex);
  if (shared == nullptr || shared_for != paths) {
    X509_STORE* store = X509_STORE_new();
    if (store == nullptr) return 0;
    if (X509_STORE_set_default_paths(store) != 1) {
      X509_STORE_free(store);
      return 0;
    }
    X509_STORE_free(shared);  // contexts still using it keep their references
    shared = store;
    shared_for = paths;
  }
  SSL_CTX_set1_cert_store(context, shared);
  return 1;
}
