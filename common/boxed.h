// Members kept on the heap, for the large and mostly unset parts of structures held ten thousand
// times over (TrainingJob::ray and ::pod, Role::overrides, a role's rare resources): inline, an
// unset std::optional<RaySpec> takes 512 bytes in every Kubernetes job, empty PodSettings 304,
// an empty RoleOverrides 320 in every role; boxed, 8 each.
// Both are values: a copy copies what they hold, == compares it.
#ifndef JOBSYNC_COMMON_BOXED_H_
#define JOBSYNC_COMMON_BOXED_H_

#include <memory>
#include <optional>
#include <utility>

namespace jobsync {

// std::optional<T>'s interface (the part jobsync uses), holding the value on the heap.
template <typename T>
class HeapOptional {
 public:
  HeapOptional() = default;
  // Implicit, as std::optional's: `job.ray = spec`, `ray = std::nullopt`.
  HeapOptional(std::nullopt_t) {}  // NOLINT(google-explicit-constructor)
  // NOLINTNEXTLINE(google-explicit-constructor)
  HeapOptional(const T& value) : value_(std::make_unique<T>(value)) {}
  // NOLINTNEXTLINE(google-explicit-constructor)
  HeapOptional(T&& value) : value_(std::make_unique<T>(std::move(value))) {}
  HeapOptional(const HeapOptional& other) {
    if (other.value_) value_ = std::make_unique<T>(*other.value_);
  }
  HeapOptional(HeapOptional&&) noexcept = default;
  HeapOptional& operator=(const HeapOptional& other) {
    if (this != &other) value_ = Copy(other);
    return *this;
  }
  HeapOptional& operator=(HeapOptional&&) noexcept = default;
  HeapOptional& operator=(std::nullopt_t) {
    value_.reset();
    return *this;
  }
  ~HeapOptional() = default;

  bool has_value() const { return value_ != nullptr; }
  explicit operator bool() const { return has_value(); }
  // Precondition (as std::optional's): has_value().
  const T& operator*() const { return *value_; }
  T& operator*() { return *value_; }
  const T* operator->() const { return value_.get(); }
  T* operator->() { return value_.get(); }
  // The value; throws std::bad_optional_access when there is none.
  const T& value() const {
    if (!value_) throw std::bad_optional_access();
    return *value_;
  }
  template <typename... Args>
  T& emplace(Args&&... args) {
    value_ = std::make_unique<T>(std::forward<Args>(args)...);
    return *value_;
  }
  void reset() { value_.reset(); }

  friend bool operator==(const HeapOptional& a, const HeapOptional& b) {
    return a.has_value() == b.has_value() && (!a.has_value() || *a == *b);
  }

 private:
  static std::unique_ptr<T> Copy(const HeapOptional& other) {
    return other.value_ ? std::make_unique<T>(*other.value_) : nullptr;
  }

  std::unique_ptr<T> value_;
};

// A T that reads as T{} until it is written: the heap holds it only once it is. Made from (or
// assigned) a T, it holds that T on the heap unless it equals T{}: a reader assigns what it read,
// and an empty value takes no memory. Reading through a non-const HeapValue makes it (as writing
// does); equality compares what it reads as, so that is never seen.
template <typename T>
class HeapValue {
 public:
  HeapValue() = default;
  // NOLINTNEXTLINE(google-explicit-constructor)
  HeapValue(T value) {
    if (!(value == Empty())) value_ = std::move(value);
  }

  const T& get() const { return value_ ? *value_ : Empty(); }
  const T& operator*() const { return get(); }
  const T* operator->() const { return &get(); }
  // Made (T{}) when not yet there.
  T& mutable_value() { return value_ ? *value_ : value_.emplace(); }
  T* operator->() { return &mutable_value(); }
  // True once written (or read through a non-const HeapValue): it takes heap then.
  bool boxed() const { return value_.has_value(); }

  friend bool operator==(const HeapValue& a, const HeapValue& b) { return a.get() == b.get(); }
  friend bool operator==(const HeapValue& a, const T& b) { return a.get() == b; }

 private:
  static const T& Empty() {
    static const T kEmpty{};
    return kEmpty;
  }

  HeapOptional<T> value_;
};

}  // namespace jobsync

#endif  // JOBSYNC_COMMON_BOXED_H_
