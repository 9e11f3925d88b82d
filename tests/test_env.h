// Where the test data lives: fixtures made by tests/fixtures/make_fixtures.py, DeepLabCut's
// golden outputs in ../shared/golden. Missing data fails the test; it is never skipped.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace posebatch::testing {

inline std::string EnvDir(const char* var) {
  const char* v = std::getenv(var);
  if (v == nullptr || !std::filesystem::is_directory(v)) {
    ADD_FAILURE() << var << " must name an existing folder (set by ctest)";
    return "/nonexistent";
  }
  return v;
}

inline std::string Fixture(const std::string& rel) { return EnvDir("POSEBATCH_FIXTURES") + "/" + rel; }
inline std::string Golden(const std::string& rel) { return EnvDir("POSEBATCH_GOLDEN") + "/" + rel; }

}  // namespace posebatch::testing
