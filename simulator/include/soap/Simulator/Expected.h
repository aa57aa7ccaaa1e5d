//===- Expected.h - a value or an error message -----------------*- C++ -*-===//
//
// Errors are values (STYLE.md habit 1): the simulator's fallible functions
// return an Expected<T> holding either the result or a message that names
// what is wrong. No exception escapes the library.
//
//===----------------------------------------------------------------------===//
#ifndef SOAP_SIMULATOR_EXPECTED_H
#define SOAP_SIMULATOR_EXPECTED_H

#include <string>
#include <utility>
#include <variant>

namespace soap {

/// An error message (the failure side of Expected).
struct Error {
  std::string message;
};

/// Either a T or an Error.
template <class T> class Expected {
public:
  Expected(T value) : v(std::move(value)) {}
  Expected(Error error) : v(std::move(error)) {}

  explicit operator bool() const { return v.index() == 0; }
  bool ok() const { return v.index() == 0; }

  T &operator*() { return std::get<0>(v); }
  const T &operator*() const { return std::get<0>(v); }
  T *operator->() { return &std::get<0>(v); }
  const T *operator->() const { return &std::get<0>(v); }
  /// Moves the value out (only when ok()).
  T take() { return std::move(std::get<0>(v)); }

  /// The message (only when !ok()).
  const std::string &error() const { return std::get<1>(v).message; }

private:
  std::variant<T, Error> v;
};

} // namespace soap

#endif // SOAP_SIMULATOR_EXPECTED_H
