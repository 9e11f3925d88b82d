#include "io/h5_reader.h"

#include <hdf5.h>

#include <algorithm>
#include <cstring>

#include "io/torch_pickle.h"
#include "posebatch/status.h"

namespace posebatch {
namespace {

[[noreturn]] void Bad(const std::string& path, const std::string& why) {
  throw Error(Status::InvalidArgument(path + ": " + why));
}

// RAII for HDF5 identifiers.
struct H5Id {
  hid_t id;
  herr_t (*close)(hid_t);
  ~H5Id() {
    if (id >= 0) close(id);
  }
};

herr_t CollectLink(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

// A string attribute (PyTables stores pickles as fixed-length strings); empty if absent.
std::string StringAttr(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0) return {};
  H5Id attr{H5Aopen(obj, name, H5P_DEFAULT), H5Aclose};
  if (attr.id < 0) return {};
  H5Id type{H5Aget_type(attr.id), H5Tclose};
  if (H5Tget_class(type.id) != H5T_STRING || H5Tis_variable_str(type.id) > 0) return {};
  H5Id space{H5Aget_space(attr.id), H5Sclose};
  if (H5Sget_simple_extent_type(space.id) == H5S_NULL) return {};
  const size_t size = H5Tget_size(type.id);
  std::string value(size, '\0');
  if (H5Aread(attr.id, type.id, value.data()) < 0) return {};
  value.resize(std::strlen(value.c_str()));
  return value;
}

std::vector<std::string> Strings(const PyObject& list, const std::string& path, const char* what) {
  std::vector<std::string> out;
  if (!list.is(PyObject::Type::kList) && !list.is(PyObject::Type::kTuple))
    Bad(path, std::string(what) + " is not a list");
  for (const auto& item : list.items) {
    if (item->is(PyObject::Type::kStr) || item->is(PyObject::Type::kBytes)) {
      out.push_back(item->s);
    } else if (item->is(PyObject::Type::kInt)) {
      out.push_back(std::to_string(item->i));
    } else if (item->is(PyObject::Type::kNone)) {
      out.push_back("");
    } else {
      Bad(path, std::string(what) + " holds a " + item->TypeName());
    }
  }
  return out;
}

// non_index_axes = [(1, [column tuples])]; info[1]["names"] = the level names.
void ParseColumns(hid_t group, const std::string& path, PoseTable* t) {
  const std::string axes = StringAttr(group, "non_index_axes");
  if (axes.empty()) Bad(path, "the table has no column names (non_index_axes)");
  PickleLimits limits;
  limits.max_depth = 8;
  PyRef root = ParsePickle(axes, path + " (non_index_axes)", limits);
  if (!root->is(PyObject::Type::kList) || root->items.size() != 1 || !root->items[0]->is(PyObject::Type::kTuple) ||
      root->items[0]->items.size() != 2) {
    Bad(path, "unexpected non_index_axes");
  }
  for (const auto& column : root->items[0]->items[1]->items) {
    if (!column->is(PyObject::Type::kTuple)) Bad(path, "the columns are not a MultiIndex (scorer, bodyparts, coords)");
    t->columns.push_back(Strings(*column, path, "a column name"));
  }
  for (auto& c : t->columns) {
    if (c.size() != t->columns.front().size()) Bad(path, "columns with different numbers of levels");
  }
  const std::string info = StringAttr(group, "info");
  if (!info.empty()) {
    PyRef i = ParsePickle(info, path + " (info)", limits);
    for (const auto& [k, v] : i->dict) {
      if (k->is(PyObject::Type::kInt) && k->i == 1) {
        if (const PyObject* names = v->Get("names")) t->level_names = Strings(*names, path, "level names");
      }
    }
  }
  if (t->level_names.size() != (t->columns.empty() ? 0 : t->columns.front().size())) {
    t->level_names.clear();  // unnamed levels: DeepLabCut's names by count
    const size_t n = t->columns.empty() ? 0 : t->columns.front().size();
    if (n == 3) t->level_names = {"scorer", "bodyparts", "coords"};
    if (n == 4) t->level_names = {"scorer", "individuals", "bodyparts", "coords"};
    if (t->level_names.size() != n) t->level_names.assign(n, "");
  }
}

}  // namespace

PoseTable ReadPoseTable(const std::string& path, bool with_columns) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported here, not printed
  H5Id file{H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose};
  if (file.id < 0) Bad(path, "cannot open as HDF5");
  // pandas' key: df_with_missing (videos), predictions (images), or whatever single group.
  std::vector<std::string> keys;
  H5Literate(file.id, H5_INDEX_NAME, H5_ITER_NATIVE, nullptr, CollectLink, &keys);
  std::string key;
  for (const std::string& k : keys) {
    if (H5Lexists(file.id, ("/" + k).c_str(), H5P_DEFAULT) > 0 &&
        H5Lexists(file.id, ("/" + k + "/table").c_str(), H5P_DEFAULT) > 0) {
      key = k;
      break;
    }
  }
  if (key.empty()) Bad(path, "no pandas table (format='table', as DeepLabCut writes predictions) in this file");
  const std::string table = "/" + key + "/table";
  PoseTable t;
  t.path = path;
  if (with_columns) {
    H5Id group{H5Gopen2(file.id, ("/" + key).c_str(), H5P_DEFAULT), H5Gclose};
    if (group.id < 0) Bad(path, "cannot open group " + key);
    ParseColumns(group.id, path, &t);
  }
  H5Id dset{H5Dopen2(file.id, table.c_str(), H5P_DEFAULT), H5Dclose};
  if (dset.id < 0) Bad(path, "cannot open " + table);
  H5Id ftype{H5Dget_type(dset.id), H5Tclose};
  const int index_member = H5Tget_member_index(ftype.id, "index");
  if (index_member < 0) Bad(path, table + " has no index column");
  // Values come in one block per dtype (values_block_0, _1, ...: a DataFrame whose columns are
  // float32 and float64 has two); each block's columns are listed in values_block_K_kind.
  struct Block {
    std::string name;
    hsize_t cols = 1;
    std::vector<int64_t> column_of;  // block column -> column of the table
  };
  std::vector<Block> blocks;
  for (int k = 0;; ++k) {
    Block b;
    b.name = "values_block_" + std::to_string(k);
    const int member = H5Tget_member_index(ftype.id, b.name.c_str());
    if (member < 0) break;
    H5Id vtype{H5Tget_member_type(ftype.id, static_cast<unsigned>(member)), H5Tclose};
    if (H5Tget_class(vtype.id) == H5T_ARRAY) {
      if (H5Tget_array_ndims(vtype.id) != 1) Bad(path, b.name + " is not one row of values per frame");
      H5Tget_array_dims2(vtype.id, &b.cols);
    }
    blocks.push_back(std::move(b));
  }
  if (blocks.empty()) Bad(path, table + " has no values_block_0 column");
  hsize_t ncols = 0;
  for (const Block& b : blocks) ncols += b.cols;
  if (blocks.size() > 1 && t.columns.empty()) {  // the blocks' order needs the column names
    H5Id group{H5Gopen2(file.id, ("/" + key).c_str(), H5P_DEFAULT), H5Gclose};
    ParseColumns(group.id, path, &t);
  }
  if (!t.columns.empty() && ncols != t.columns.size()) {
    Bad(path, std::to_string(ncols) + " values per row but " + std::to_string(t.columns.size()) + " column names");
  }
  if (blocks.size() == 1) {
    for (hsize_t j = 0; j < ncols; ++j) blocks[0].column_of.push_back(static_cast<int64_t>(j));
  } else {
    std::vector<bool> taken(ncols, false);
    for (Block& b : blocks) {
      const std::string kind = StringAttr(dset.id, (b.name + "_kind").c_str());
      if (kind.empty()) Bad(path, b.name + " does not list its columns (" + b.name + "_kind)");
      PickleLimits limits;
      limits.max_depth = 8;
      PyRef items = ParsePickle(kind, path + " (" + b.name + "_kind)", limits);
      if (!items->is(PyObject::Type::kList) || items->items.size() != b.cols)
        Bad(path, "unexpected " + b.name + "_kind");
      for (const auto& item : items->items) {
        if (!item->is(PyObject::Type::kTuple)) Bad(path, "unexpected " + b.name + "_kind");
        const std::vector<std::string> name = Strings(*item, path, "a column name");
        auto it = std::find(t.columns.begin(), t.columns.end(), name);
        const size_t c = static_cast<size_t>(it - t.columns.begin());
        if (it == t.columns.end() || taken[c]) Bad(path, b.name + "_kind names a column twice or an unknown one");
        taken[c] = true;
        b.column_of.push_back(static_cast<int64_t>(c));
      }
    }
  }
  H5Id itype{H5Tget_member_type(ftype.id, static_cast<unsigned>(index_member)), H5Tclose};
  const H5T_class_t index_class = H5Tget_class(itype.id);
  if (index_class != H5T_INTEGER && index_class != H5T_STRING) Bad(path, "index is neither frame numbers nor paths");
  if (index_class == H5T_STRING && H5Tis_variable_str(itype.id) > 0) Bad(path, "variable-length string index");
  const size_t index_size = index_class == H5T_INTEGER ? sizeof(int64_t) : H5Tget_size(itype.id);
  // Memory layout of one row: the index, then every block's values as doubles.
  H5Id mem_index{index_class == H5T_INTEGER ? H5Tcopy(H5T_NATIVE_INT64) : H5Tcopy(itype.id), H5Tclose};
  const size_t row_size = index_size + sizeof(double) * ncols;
  H5Id mem{H5Tcreate(H5T_COMPOUND, row_size), H5Tclose};
  H5Tinsert(mem.id, "index", 0, mem_index.id);
  size_t offset = index_size;
  for (const Block& b : blocks) {
    H5Id mem_values{H5Tarray_create2(H5T_NATIVE_DOUBLE, 1, &b.cols), H5Tclose};
    H5Tinsert(mem.id, b.name.c_str(), offset, mem_values.id);
    offset += sizeof(double) * b.cols;
  }
  H5Id space{H5Dget_space(dset.id), H5Sclose};
  hsize_t rows = 0;
  if (H5Sget_simple_extent_ndims(space.id) != 1) Bad(path, table + " is not a table of rows");
  H5Sget_simple_extent_dims(space.id, &rows, nullptr);
  std::vector<unsigned char> buffer(row_size * rows);
  if (rows > 0 && H5Dread(dset.id, mem.id, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) < 0) {
    Bad(path, "cannot read " + table);
  }
  t.rows = static_cast<int64_t>(rows);
  t.cols = static_cast<int64_t>(ncols);
  t.values.resize(rows * ncols);
  std::vector<double> raw(ncols);
  for (hsize_t r = 0; r < rows; ++r) {
    const unsigned char* row = buffer.data() + r * row_size;
    std::memcpy(raw.data(), row + index_size, sizeof(double) * ncols);
    double* out = t.values.data() + r * ncols;
    size_t j = 0;
    for (const Block& b : blocks)
      for (int64_t c : b.column_of) out[c] = raw[j++];
    if (index_class == H5T_INTEGER) {
      int64_t index;
      std::memcpy(&index, row, sizeof(index));
      t.index.push_back(index);
    } else {
      std::string label(reinterpret_cast<const char*>(row), index_size);
      label.resize(std::strlen(label.c_str()));
      t.labels.push_back(label);
    }
  }
  return t;
}

}  // namespace posebatch
