// Minimal .npy reader for tests: little-endian float32/float64/int64, C order.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace posebatch::testing {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<double> data;  // converted to double
  int64_t size() const {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    return n;
  }
};

inline NpyArray LoadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  char magic[6];
  in.read(magic, 6);
  if (std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error(path + ": not npy");
  uint8_t ver[2];
  in.read(reinterpret_cast<char*>(ver), 2);
  uint32_t hlen = 0;
  if (ver[0] == 1) {
    uint16_t h16;
    in.read(reinterpret_cast<char*>(&h16), 2);
    hlen = h16;
  } else {
    in.read(reinterpret_cast<char*>(&hlen), 4);
  }
  std::string header(hlen, '\0');
  in.read(header.data(), hlen);
  if (header.find("'fortran_order': False") == std::string::npos) throw std::runtime_error(path + ": fortran order");
  NpyArray a;
  auto lp = header.find("'shape': (");
  auto rp = header.find(')', lp);
  std::string dims = header.substr(lp + 10, rp - lp - 10);
  size_t pos = 0;
  while (pos < dims.size()) {
    while (pos < dims.size() && (dims[pos] == ' ' || dims[pos] == ',')) ++pos;
    if (pos >= dims.size()) break;
    size_t end = dims.find(',', pos);
    a.shape.push_back(std::stoll(dims.substr(pos, end - pos)));
    pos = end == std::string::npos ? dims.size() : end;
  }
  const int64_t n = a.size();
  a.data.resize(n);
  if (header.find("'<f4'") != std::string::npos) {
    std::vector<float> f(n);
    in.read(reinterpret_cast<char*>(f.data()), n * 4);
    for (int64_t i = 0; i < n; ++i) a.data[i] = f[i];
  } else if (header.find("'<f8'") != std::string::npos) {
    in.read(reinterpret_cast<char*>(a.data.data()), n * 8);
  } else if (header.find("'<i8'") != std::string::npos) {
    std::vector<int64_t> v(n);
    in.read(reinterpret_cast<char*>(v.data()), n * 8);
    for (int64_t i = 0; i < n; ++i) a.data[i] = static_cast<double>(v[i]);
  } else {
    throw std::runtime_error(path + ": unsupported dtype in " + header);
  }
  if (!in) throw std::runtime_error(path + ": truncated");
  return a;
}

}  // namespace posebatch::testing
