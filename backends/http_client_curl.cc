// The HttpClient of libcurl, the only file in jobsync that uses it: the Kubernetes backend's
// client. Each request runs in the calling thread, in a curl multi handle that the thread polls,
// so that a request costs no hand-off between threads (cpprestsdk's client completes each request
// on its pool and wakes the caller: 2-3 times client-go's CPU for the same creates,
// bench/RESULTS.md). A request borrows a Slot (an easy handle and the multi handle that keeps its
// connection open) from the client's pool and gives it back, so connections are reused as long
// as the same number of threads send at once.
#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "backends/http_client.h"
#include "backends/http_client_parts.h"

namespace jobsync {
namespace {

#ifndef JOBSYNC_VERSION
#error "JOBSYNC_VERSION must be defined by the build"
#endif
constexpr const char* kDefaultUserAgent = "jobsync/" JOBSYNC_VERSION;

using Clock = std::chrono::steady_clock;

// Owners of OpenSSL objects.
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct StoreFree {
  void operator()(X509_STORE* store) const { X509_STORE_free(store); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

Bio ReadOnly(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// A store of the certificates in `ca_pem`; null when it holds none or is not PEM.
std::shared_ptr<X509_STORE> StoreOf(const std::string& ca_pem) {
  std::shared_ptr<X509_STORE> store(X509_STORE_new(), StoreFree());
  Bio bio = ReadOnly(ca_pem);
  if (store == nullptr || bio == nullptr) return nullptr;
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    const int ok = X509_STORE_add_cert(store.get(), cert);
    X509_free(cert);
    if (ok != 1) return nullptr;
    ++added;
  }
  ERR_clear_error();  // the end of the data reads as an error
  return added > 0 ? store : nullptr;
}

// Gives `context` the client certificate (chain) and key of `identity`.
Status UseIdentity(const HttpCredential& identity, SSL_CTX* context) {
  if (identity.client_cert_pem.empty() != identity.client_key_pem.empty()) {
    return InvalidArgumentError(http_parts::kCertWithoutKey);
  }
  if (identity.client_cert_pem.empty()) return OkStatus();
  Bio certs = ReadOnly(identity.client_cert_pem);
  std::unique_ptr<X509, X509Free> leaf(
      certs == nullptr ? nullptr : PEM_read_bio_X509_AUX(certs.get(), nullptr, nullptr, nullptr));
  if (leaf == nullptr || SSL_CTX_use_certificate(context, leaf.get()) != 1) {
    ERR_clear_error();
    return InvalidArgumentError(http_parts::kCertNotPem);
  }
  SSL_CTX_clear_chain_certs(context);
  while (X509* link = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(context, link) != 1) {
      X509_free(link);
      ERR_clear_error();
      return InvalidArgumentError(http_parts::kCertNotPem);
    }
  }
  Bio key_pem = ReadOnly(identity.client_key_pem);
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      key_pem == nullptr ? nullptr
                         : PEM_read_bio_PrivateKey(key_pem.get(), nullptr, nullptr, nullptr));
  if (key == nullptr || SSL_CTX_use_PrivateKey(context, key.get()) != 1 ||
      SSL_CTX_check_private_key(context) != 1) {
    ERR_clear_error();
    return InvalidArgumentError(http_parts::kKeyNotPem);
  }
  ERR_clear_error();
  return OkStatus();
}

// Checks that `identity` can be used, on a context of its own.
Status CheckIdentity(const HttpCredential& identity) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> probe(SSL_CTX_new(TLS_client_method()),
                                                          &SSL_CTX_free);
  if (probe == nullptr) return ResourceExhaustedError("cannot make a TLS context");
  return UseIdentity(identity, probe.get());
}

// What one connection's TLS context gets: the trust anchors and the client identity.
struct TlsSetup {
  std::shared_ptr<X509_STORE> own_store;           // the configured CA; null: the system's store
  std::shared_ptr<const HttpCredential> identity;  // client certificate and key (maybe empty)
};

// curl's CURLOPT_SSL_CTX_FUNCTION, called for each new connection before its handshake.
CURLcode SetUpTls(CURL* /*easy*/, void* ssl_context, void* data) {
  auto* context = static_cast<SSL_CTX*>(ssl_context);
  const auto* setup = static_cast<const TlsSetup*>(data);
  if (setup->own_store != nullptr) {
    // Only the configured authorities, as kubectl trusts only a kubeconfig's CA when it names one.
    SSL_CTX_set1_cert_store(context, setup->own_store.get());
  } else if (SSL_CTX_set_default_verify_paths(context) != 1) {
    // jobsync's own definition (end of http_client.cc): the system's store, parsed once.
    return CURLE_SSL_CACERT_BADFILE;
  }
  return UseIdentity(*setup->identity, context).ok() ? CURLE_OK : CURLE_SSL_CERTPROBLEM;
}

// An easy handle and the multi handle that runs it; the multi handle keeps the connection.
struct Slot {
  Slot() : easy(curl_easy_init()), multi(curl_multi_init()) {}
  ~Slot() {
    curl_easy_cleanup(easy);
    curl_multi_cleanup(multi);
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

  CURL* easy;
  CURLM* multi;
  int generation = 0;  // the client's identity generation it was made under
};

struct HeaderList {
  ~HeaderList() { curl_slist_free_all(list); }
  void Add(const std::string& line) {
    curl_slist* longer = curl_slist_append(list, line.c_str());
    if (longer != nullptr) list = longer;
  }
  curl_slist* list = nullptr;
};

// One request under way: what the callbacks fill in.
struct Transfer {
  const HttpClientConfig* config = nullptr;
  const std::string* where = nullptr;
  const std::function<bool(std::string_view)>* on_line = nullptr;  // null: read the body whole
  HttpResponse response;
  int status = 0;        // of the last status line
  std::string pending;   // a stream's line not yet ended
  bool stopped = false;  // on_line asked to stop
  Status refused;        // the body or a line was beyond its limit
  Clock::time_point last_activity;
  curl_off_t uploaded = -1;                   // bytes of the request body sent, as last seen
  std::array<char, CURL_ERROR_SIZE> error{};  // curl's message of a failure

  bool Streaming() const { return on_line != nullptr && status >= 200 && status <= 299; }

  // Hands one line (without its end) to on_line; false stops the transfer.
  bool Deliver(std::string_view line) {
    if (line.size() > config->max_line_bytes) {
      refused = http_parts::LineTooLong(*where, config->max_line_bytes);
      return false;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return true;
    if (!(*on_line)(line)) {
      stopped = true;
      return false;
    }
    return true;
  }

  // A stream's bytes: every ended line is handed on as it arrives.
  bool TakeLines(std::string_view data) {
    while (!data.empty()) {
      const size_t end = data.find('\n');
      if (end == std::string_view::npos) {
        pending.append(data);
        if (pending.size() <= config->max_line_bytes) return true;
        refused = http_parts::LineTooLong(*where, config->max_line_bytes);
        return false;
      }
      bool go_on;
      if (pending.empty()) {
        go_on = Deliver(data.substr(0, end));
      } else {
        pending.append(data.substr(0, end));
        go_on = Deliver(pending);
        pending.clear();
      }
      if (!go_on) return false;
      data.remove_prefix(end + 1);
    }
    return true;
  }
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  transfer->last_activity = Clock::now();
  std::string_view line(data, size * count);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (after a 100 Continue): its headers replace any before.
    transfer->response.headers.clear();
    const size_t space = line.find(' ');
    transfer->status = space == std::string_view::npos
                           ? 0
                           : std::atoi(std::string(line.substr(space + 1, 3)).c_str());
    return size * count;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;
  const std::string name = http_parts::Lower(std::string(line.substr(0, colon)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  transfer->response.headers[name] = std::string(value);
  return size * count;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  transfer->last_activity = Clock::now();
  if (transfer->Streaming()) return transfer->TakeLines(std::string_view(data, bytes)) ? bytes : 0;
  if (transfer->response.body.size() + bytes > transfer->config->max_body_bytes) {
    transfer->refused =
        http_parts::BodyTooLarge(*transfer->where, transfer->config->max_body_bytes);
    return 0;
  }
  transfer->response.body.append(data, bytes);
  return bytes;
}

// Progress of an upload counts as activity, as a response's bytes do.
int OnProgress(void* user, curl_off_t /*dltotal*/, curl_off_t /*dlnow*/, curl_off_t /*ultotal*/,
               curl_off_t ulnow) {
  auto* transfer = static_cast<Transfer*>(user);
  if (ulnow != transfer->uploaded) {
    transfer->uploaded = ulnow;
    transfer->last_activity = Clock::now();
  }
  return 0;
}

std::string Escape(CURL* easy, const std::string& text) {
  char* escaped = curl_easy_escape(easy, text.data(), static_cast<int>(text.size()));
  if (escaped == nullptr) return text;
  std::string out(escaped);
  curl_free(escaped);
  return out;
}

class CurlHttpClient : public HttpClient {
 public:
  CurlHttpClient(HttpClientConfig config, std::string url_base, std::string connect_to,
                 std::string url_host, std::shared_ptr<X509_STORE> own_store)
      : config_(std::move(config)),
        url_base_(std::move(url_base)),
        connect_to_(std::move(connect_to)),
        url_host_(std::move(url_host)),
        own_store_(std::move(own_store)),
        identity_(std::make_shared<const HttpCredential>(
            HttpCredential{"", config_.client_cert_pem, config_.client_key_pem})) {}

  StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    const std::string where = Where(request);
    return http_parts::WithCredential(config_, where, [&](const HttpCredential& credential) {
      return Perform(request, credential, where, nullptr, nullptr);
    });
  }

  StatusOr<HttpResponse> Stream(const HttpRequest& request,
                                const std::function<bool(std::string_view)>& on_line,
                                const HttpCancellation& cancel) override {
    const std::string where = Where(request);
    return http_parts::WithCredential(config_, where, [&](const HttpCredential& credential) {
      return Perform(request, credential, where, &on_line, &cancel);
    });
  }

 private:
  StatusOr<HttpResponse> Perform(const HttpRequest& request, const HttpCredential& credential,
                                 const std::string& where,
                                 const std::function<bool(std::string_view)>* on_line,
                                 const HttpCancellation* cancel) {
    TlsSetup tls;
    std::unique_ptr<Slot> slot;
    JOBSYNC_RETURN_IF_ERROR(Borrow(credential, tls, slot));
    Transfer transfer;
    transfer.config = &config_;
    transfer.where = &where;
    transfer.on_line = on_line;
    HeaderList headers;
    Prepare(request, credential, *slot, tls, transfer, headers);

    std::shared_ptr<void> wake;
    if (cancel != nullptr) {
      wake = cancel->OnCancel([multi = slot->multi] { curl_multi_wakeup(multi); });
    }
    const std::chrono::milliseconds timeout =
        request.timeout.count() > 0 ? request.timeout : config_.default_timeout;
    transfer.last_activity = Clock::now();
    curl_multi_add_handle(slot->multi, slot->easy);
    bool timed_out = false;
    bool cancelled = false;
    while (true) {
      int running = 0;
      curl_multi_perform(slot->multi, &running);
      if (running == 0) break;
      if (cancel != nullptr && cancel->cancelled()) {
        cancelled = true;
        break;
      }
      const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(
          Clock::now() - transfer.last_activity);
      if (idle >= timeout) {
        timed_out = true;
        break;
      }
      curl_multi_poll(slot->multi, nullptr, 0, static_cast<int>((timeout - idle).count()) + 1,
                      nullptr);
    }
    CURLcode result = CURLE_OK;
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(slot->multi, &left)) {
      if (message->msg == CURLMSG_DONE) result = message->data.result;
    }
    curl_multi_remove_handle(slot->multi, slot->easy);
    wake.reset();
    long status = 0;
    curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &status);
    Return(std::move(slot));

    if (cancelled) return UnavailableError(where + ": cancelled");
    if (timed_out) {
      return http_parts::NoResponseInTime(
          config_, where, "nothing received for " + std::to_string(timeout.count()) + " ms");
    }
    if (!transfer.refused.ok()) return transfer.refused;
    if (result != CURLE_OK && !transfer.stopped) return Failure(where, result, transfer);
    transfer.response.status = static_cast<int>(status);
    if (transfer.Streaming() && !transfer.stopped && !transfer.pending.empty()) {
      std::string last = std::move(transfer.pending);
      transfer.Deliver(last);  // an unterminated last line
      if (!transfer.refused.ok()) return transfer.refused;
    }
    return std::move(transfer.response);
  }

  // Takes a slot from the pool (or makes one) for `credential`'s client identity. A new identity
  // is checked first; slots made under another one are dropped, so their connections are not
  // reused with it.
  Status Borrow(const HttpCredential& credential, TlsSetup& tls, std::unique_ptr<Slot>& slot) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (credential.client_cert_pem != identity_->client_cert_pem ||
        credential.client_key_pem != identity_->client_key_pem) {
      Status usable = CheckIdentity(credential);
      if (!usable.ok()) return http_parts::UnusableIdentity(config_, usable);
      identity_ = std::make_shared<const HttpCredential>(
          HttpCredential{"", credential.client_cert_pem, credential.client_key_pem});
      ++generation_;
      pool_.clear();
    }
    tls.own_store = own_store_;
    tls.identity = identity_;
    if (!pool_.empty()) {
      slot = std::move(pool_.back());
      pool_.pop_back();
    } else {
      slot = std::make_unique<Slot>();
      slot->generation = generation_;
      if (slot->easy == nullptr || slot->multi == nullptr) {
        return ResourceExhaustedError("cannot make a libcurl handle");
      }
    }
    return OkStatus();
  }

  void Return(std::unique_ptr<Slot> slot) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (slot->generation == generation_) pool_.push_back(std::move(slot));
  }

  void Prepare(const HttpRequest& request, const HttpCredential& credential, Slot& slot,
               const TlsSetup& tls, Transfer& transfer, HeaderList& headers) const {
    CURL* easy = slot.easy;
    curl_easy_reset(easy);
    std::string url = url_base_ + request.path;
    char separator = request.path.find('?') == std::string::npos ? '?' : '&';
    for (const auto& [name, value] : request.query) {
      url += separator + Escape(easy, name) + "=" + Escape(easy, value);
      separator = '&';
    }
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(easy, CURLOPT_CONNECT_TO, connect_to_list_.get());
    // An empty proxy is no proxy, whatever the environment says: the caller chose.
    curl_easy_setopt(easy, CURLOPT_PROXY, config_.proxy_url.c_str());
    curl_easy_setopt(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT,
                     config_.user_agent.empty() ? kDefaultUserAgent : config_.user_agent.c_str());
    // TLS: the trust anchors and identity come from SetUpTls, not from curl's defaults.
    curl_easy_setopt(easy, CURLOPT_CAINFO, nullptr);
    curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, config_.insecure_skip_tls_verify ? 0L : 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, config_.insecure_skip_tls_verify ? 0L : 2L);
    curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, &SetUpTls);
    curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, &tls);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error.data());

    for (const auto& [name, value] : request.headers) headers.Add(name + ": " + value);
    if (!credential.bearer_token.empty()) {
      headers.Add("Authorization: Bearer " + credential.bearer_token);
    }
    headers.Add("Expect:");  // no 100-continue round trip before a large body
    if (request.method == "GET") {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else {
      if (request.method != "POST") {
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      }
      if (!request.body.empty() || request.method == "POST") {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
        headers.Add("Content-Type: " + (request.content_type.empty()
                                            ? std::string("application/json")
                                            : request.content_type));
      }
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.list);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &OnProgress);
    curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  }

  std::string Where(const HttpRequest& request) const {
    return request.method + " " + config_.base_url + request.path;
  }

  Status Failure(const std::string& where, CURLcode code, const Transfer& transfer) const {
    const std::string detail =
        transfer.error[0] != '\0' ? std::string(transfer.error.data()) : curl_easy_strerror(code);
    switch (code) {
      case CURLE_OPERATION_TIMEDOUT:
        return http_parts::NoResponseInTime(config_, where, detail);
      case CURLE_PEER_FAILED_VERIFICATION:
        return http_parts::TlsVerificationFailed(config_, where,
                                                 http_parts::CertificateHost(config_, url_host_));
      case CURLE_SSL_CONNECT_ERROR:
        // OpenSSL's "wrong version number": the answer to the ClientHello was not TLS.
        if (detail.find("wrong version number") != std::string::npos)
          return http_parts::NotTls(where);
        break;
      default:
        break;
    }
    return UnavailableError(where + http_parts::Through(config_) + ": " + detail);
  }

  const HttpClientConfig config_;
  const std::string url_base_;    // scheme://host:port the URLs start with
  const std::string connect_to_;  // CURLOPT_CONNECT_TO's entry for tls_server_name, or empty
  const std::string url_host_;    // the base URL's host, for messages
  const std::shared_ptr<X509_STORE> own_store_;
  const std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> connect_to_list_{
      connect_to_.empty() ? nullptr : curl_slist_append(nullptr, connect_to_.c_str()),
      &curl_slist_free_all};

  std::mutex mutex_;
  std::shared_ptr<const HttpCredential> identity_;  // guarded by mutex_
  int generation_ = 0;                              // guarded by mutex_
  std::vector<std::unique_ptr<Slot>> pool_;         // guarded by mutex_
};

// The parts of a URL, read by curl's parser.
struct UrlParts {
  std::string scheme, host, port;
};

StatusOr<UrlParts> ParseUrl(const std::string& url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> handle(curl_url(), &curl_url_cleanup);
  if (handle == nullptr || curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return InvalidArgumentError("server URL \"" + url + "\" cannot be used: not a URL");
  }
  UrlParts parts;
  auto get = [&](CURLUPart part, std::string& out, unsigned int flags) {
    char* text = nullptr;
    if (curl_url_get(handle.get(), part, &text, flags) != CURLUE_OK) return false;
    out = text;
    curl_free(text);
    return true;
  };
  if (!get(CURLUPART_SCHEME, parts.scheme, 0) || !get(CURLUPART_HOST, parts.host, 0) ||
      !get(CURLUPART_PORT, parts.port, CURLU_DEFAULT_PORT)) {
    return InvalidArgumentError("server URL \"" + url + "\" cannot be used: no host");
  }
  return parts;
}

}  // namespace

StatusOr<std::unique_ptr<HttpClient>> NewCurlHttpClient(const HttpClientConfig& config) {
  static const CURLcode initialized = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (initialized != CURLE_OK) return InternalError("libcurl could not be initialized");
  JOBSYNC_RETURN_IF_ERROR(http_parts::CheckScheme(config.base_url));
  StatusOr<UrlParts> url = ParseUrl(config.base_url);
  if (!url.ok()) return url.status();
  std::shared_ptr<X509_STORE> own_store;
  if (!config.ca_pem.empty()) {
    own_store = StoreOf(config.ca_pem);
    if (own_store == nullptr) {
      return InvalidArgumentError(http_parts::kCaNotPem);
    }
  }
  JOBSYNC_RETURN_IF_ERROR(CheckIdentity(http_parts::FixedCredential(config)));
  if (!config.proxy_url.empty()) JOBSYNC_RETURN_IF_ERROR(http_parts::CheckProxy(config.proxy_url));
  // With tls_server_name, URLs name it (so that curl sends it as SNI and checks the certificate
  // against it) and CURLOPT_CONNECT_TO sends the connection to the real host.
  std::string url_base = url->scheme + "://";
  std::string connect_to;
  if (config.tls_server_name.empty()) {
    url_base += (url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host);
  } else {
    url_base += config.tls_server_name;
    const std::string real =
        url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
    connect_to = config.tls_server_name + ":" + url->port + ":" + real + ":" + url->port;
  }
  url_base += ":" + url->port;
  return std::unique_ptr<HttpClient>(std::make_unique<CurlHttpClient>(
      config, std::move(url_base), std::move(connect_to), url->host, std::move(own_store)));
}

}  // namespace jobsync
