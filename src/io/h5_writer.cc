// pandas "table" format writer (what df.to_hdf(..., format="table") produces), with HDF5's C
// API. Rows are appended in chunks to a temporary file renamed into place by Commit().
#include <hdf5.h>

#include <cstring>
#include <filesystem>

#include "io/py_pickle.h"
#include "posebatch/status.h"
#include "posebatch/writer.h"

namespace posebatch {
namespace {

// Attribute writers. Plain strings are UTF-8 (PyTables reads them back as str); pickles are
// ASCII byte strings ending in '.', which PyTables unpickles on read.
void WriteStringAttr(hid_t obj, const char* name, const std::string& value, bool ascii = false) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, value.empty() ? 1 : value.size());
  H5Tset_strpad(type, H5T_STR_NULLTERM);
  H5Tset_cset(type, ascii ? H5T_CSET_ASCII : H5T_CSET_UTF8);
  // PyTables stores an empty string as an attribute with a null dataspace.
  hid_t space = H5Screate(value.empty() ? H5S_NULL : H5S_SCALAR);
  hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t err = attr < 0 ? -1 : (value.empty() ? 0 : H5Awrite(attr, type, value.data()));
  if (attr >= 0) H5Aclose(attr);
  H5Sclose(space);
  H5Tclose(type);
  if (err < 0) throw Error(Status::IOError(std::string("cannot write HDF5 attribute ") + name));
}

void WritePickleAttr(hid_t obj, const char* name, const PyValue& value) {
  WriteStringAttr(obj, name, value.Pickle0(), /*ascii=*/true);
}

template <typename T>
void WriteScalarAttr(hid_t obj, const char* name, hid_t type, T value) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Sclose(space);
  if (attr < 0) throw Error(Status::IOError(std::string("cannot write HDF5 attribute ") + name));
  H5Awrite(attr, type, &value);
  H5Aclose(attr);
}

void SetNrows(hid_t dataset, int64_t rows) {
  if (H5Aexists(dataset, "NROWS") > 0) {
    hid_t attr = H5Aopen(dataset, "NROWS", H5P_DEFAULT);
    H5Awrite(attr, H5T_NATIVE_INT64, &rows);
    H5Aclose(attr);
  } else {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(dataset, "NROWS", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attr, H5T_NATIVE_INT64, &rows);
    H5Aclose(attr);
    H5Sclose(space);
  }
}

PyValue ColumnTuples(const std::vector<std::vector<std::string>>& columns) {
  std::vector<PyValue> tuples;
  for (const auto& col : columns) {
    std::vector<PyValue> parts;
    for (const auto& p : col) parts.push_back(PyValue::Str(p));
    tuples.push_back(PyValue::Tuple(std::move(parts)));
  }
  return PyValue::List(std::move(tuples));
}

class H5TableWriter : public PoseWriter {
 public:
  H5TableWriter(const std::string& final_path, const ColumnLayout& layout, const H5WriterOptions& options)
      : final_path_(final_path), temp_path_(final_path + ".part"), options_(options) {
    columns_ = layout.Columns();
    ncols_ = columns_.size();
    index_bytes_ = options.string_index_width > 0 ? options.string_index_width : sizeof(int64_t);
    value_bytes_ = options.float64 ? sizeof(double) : sizeof(float);
    row_bytes_ = index_bytes_ + ncols_ * value_bytes_;
    // A file whose flush failed (disk full) cannot be closed, and HDF5's exit handler then
    // crashes closing it again (SIGSEGV in H5F__close_cb after a clean error message): keep
    // HDF5 out of exit; the process is ending anyway and the temporary file is removed.
    static const bool no_atexit = (H5dont_atexit(), true);
    (void)no_atexit;
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become our messages, not stderr noise
    file_ = H5Fcreate(temp_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file_ < 0) {
      std::error_code ec;  // HDF5 may leave an empty file behind (disk full): not ours to keep
      std::filesystem::remove(temp_path_, ec);
      throw Error(Status::IOError(temp_path_ + ": cannot create file (is the folder writable? disk full?)"));
    }
    try {
      CreateLayout(layout);
    } catch (...) {
      Abort();
      throw;
    }
  }

  ~H5TableWriter() override { Abort(); }

  void Append(int64_t index, const std::string& label, const float* values) override {
    if (options_.float64) throw Error(Status::Internal(final_path_ + ": float64 table given float32 rows"));
    AppendRow(index, label, values);
  }

  void AppendDouble(int64_t index, const double* values) override {
    if (!options_.float64) throw Error(Status::Internal(final_path_ + ": float32 table given float64 rows"));
    AppendRow(index, "", values);
  }

  void AppendRow(int64_t index, const std::string& label, const void* values) {
    size_t off = buffer_.size();
    buffer_.resize(off + row_bytes_);
    uint8_t* row = buffer_.data() + off;
    if (options_.string_index_width > 0) {
      if (label.size() > options_.string_index_width) {
        throw Error(Status::Internal(final_path_ + ": index label longer than its column"));
      }
      std::memset(row, 0, index_bytes_);
      std::memcpy(row, label.data(), label.size());
    } else {
      std::memcpy(row, &index, sizeof index);
    }
    std::memcpy(row + index_bytes_, values, ncols_ * value_bytes_);
    if (static_cast<int64_t>(buffer_.size() / row_bytes_) >= options_.flush_rows) Flush();
  }

  void Commit() override {
    if (file_ < 0) throw Error(Status::Internal(final_path_ + ": writer already closed"));
    Flush();
    SetNrows(dataset_, rows_written_);
    CloseHandles();
    std::error_code ec;
    std::filesystem::rename(temp_path_, final_path_, ec);
    if (ec) {
      std::filesystem::remove(temp_path_, ec);
      throw Error(Status::IOError(final_path_ + ": cannot move the finished file into place"));
    }
  }

  void Abort() noexcept override {
    if (file_ < 0) return;
    CloseHandles();
    std::error_code ec;
    std::filesystem::remove(temp_path_, ec);
  }

  const std::string& final_path() const override { return final_path_; }

 private:
  void CreateLayout(const ColumnLayout& layout) {
    WriteStringAttr(file_, "CLASS", "GROUP");
    WriteStringAttr(file_, "PYTABLES_FORMAT_VERSION", "2.1");
    WriteStringAttr(file_, "TITLE", "");
    WriteStringAttr(file_, "VERSION", "1.0");

    // No object timestamps: the same rows give the same bytes (a resumed run's file equals an
    // uninterrupted run's).
    hid_t group_plist = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(group_plist, 0);
    group_ = H5Gcreate2(file_, options_.key.c_str(), H5P_DEFAULT, group_plist, H5P_DEFAULT);
    H5Pclose(group_plist);
    if (group_ < 0) throw Error(Status::IOError(temp_path_ + ": cannot create group"));
    WriteStringAttr(group_, "CLASS", "GROUP");
    WriteStringAttr(group_, "TITLE", "");
    WriteStringAttr(group_, "VERSION", "1.0");
    WritePickleAttr(group_, "data_columns", PyValue::List({}));
    WriteStringAttr(group_, "encoding", "UTF-8");
    WriteStringAttr(group_, "errors", "strict");
    WritePickleAttr(group_, "index_cols", PyValue::List({PyValue::Tuple({PyValue::Int(0), PyValue::Str("index")})}));
    std::vector<PyValue> names;
    for (const auto& n : layout.LevelNames()) names.push_back(PyValue::Str(n));
    WritePickleAttr(
        group_, "info",
        PyValue::Dict({{PyValue::Int(1), PyValue::Dict({{PyValue::Str("names"), PyValue::List(names)},
                                                        {PyValue::Str("type"), PyValue::Str("MultiIndex")}})},
                       {PyValue::Str("index"), PyValue::Dict({})},
                       {PyValue::Str("values_block_0"), PyValue::Dict({})}}));
    WriteScalarAttr<int64_t>(group_, "levels", H5T_STD_I64LE, 1);
    WriteStringAttr(group_, "nan_rep", "nan");
    WritePickleAttr(group_, "non_index_axes",
                    PyValue::List({PyValue::Tuple({PyValue::Int(1), ColumnTuples(columns_)})}));
    WriteStringAttr(group_, "pandas_type", "frame_table");
    WriteStringAttr(group_, "pandas_version", "0.15.2");
    WriteStringAttr(group_, "table_type", "appendable_frame");
    WritePickleAttr(group_, "values_cols", PyValue::List({PyValue::Str("values_block_0")}));

    // Compound row type: index (int64 or fixed string) + values_block_0 float32[ncols], packed.
    hid_t index_type;
    if (options_.string_index_width > 0) {
      index_type = H5Tcopy(H5T_C_S1);
      H5Tset_size(index_type, options_.string_index_width);
      H5Tset_strpad(index_type, H5T_STR_NULLTERM);
    } else {
      index_type = H5Tcopy(H5T_STD_I64LE);
    }
    hsize_t dims[1] = {ncols_};
    hid_t values_type = H5Tarray_create2(options_.float64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE, 1, dims);
    row_type_ = H5Tcreate(H5T_COMPOUND, row_bytes_);
    H5Tinsert(row_type_, "index", 0, index_type);
    H5Tinsert(row_type_, "values_block_0", index_bytes_, values_type);
    H5Tclose(index_type);
    H5Tclose(values_type);

    hsize_t initial[1] = {0}, maxdims[1] = {H5S_UNLIMITED};
    hid_t space = H5Screate_simple(1, initial, maxdims);
    hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[1] = {std::max<hsize_t>(1, 65536 / row_bytes_)};  // PyTables-like chunk size
    H5Pset_chunk(plist, 1, chunk);
    H5Pset_obj_track_times(plist, 0);
    dataset_ = H5Dcreate2(group_, "table", row_type_, space, H5P_DEFAULT, plist, H5P_DEFAULT);
    H5Pclose(plist);
    H5Sclose(space);
    if (dataset_ < 0) throw Error(Status::IOError(temp_path_ + ": cannot create table"));

    WriteStringAttr(dataset_, "CLASS", "TABLE");
    if (options_.string_index_width > 0) {
      WriteStringAttr(dataset_, "FIELD_0_FILL", "", /*ascii=*/true);
    } else {
      WriteScalarAttr<int64_t>(dataset_, "FIELD_0_FILL", H5T_STD_I64LE, 0);
    }
    WriteStringAttr(dataset_, "FIELD_0_NAME", "index");
    if (options_.float64) {
      WriteScalarAttr<double>(dataset_, "FIELD_1_FILL", H5T_IEEE_F64LE, 0.0);
    } else {
      WriteScalarAttr<float>(dataset_, "FIELD_1_FILL", H5T_IEEE_F32LE, 0.0f);
    }
    WriteStringAttr(dataset_, "FIELD_1_NAME", "values_block_0");
    SetNrows(dataset_, 0);
    WriteStringAttr(dataset_, "TITLE", "");
    WriteStringAttr(dataset_, "VERSION", "2.7");
    WriteStringAttr(dataset_, "index_kind", options_.string_index_width > 0 ? "string" : "integer");
    WriteStringAttr(dataset_, "values_block_0_dtype", options_.float64 ? "float64" : "float32");
    WritePickleAttr(dataset_, "values_block_0_kind", ColumnTuples(columns_));
    WritePickleAttr(dataset_, "values_block_0_meta", PyValue::None());
  }

  void Flush() {
    const hsize_t rows = buffer_.size() / row_bytes_;
    if (rows == 0) return;
    hsize_t new_size[1] = {static_cast<hsize_t>(rows_written_) + rows};
    if (H5Dset_extent(dataset_, new_size) < 0) Fail("cannot extend the table");
    hid_t file_space = H5Dget_space(dataset_);
    hsize_t start[1] = {static_cast<hsize_t>(rows_written_)}, count[1] = {rows};
    H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr);
    hid_t mem_space = H5Screate_simple(1, count, nullptr);
    herr_t err = H5Dwrite(dataset_, row_type_, mem_space, file_space, H5P_DEFAULT, buffer_.data());
    H5Sclose(mem_space);
    H5Sclose(file_space);
    if (err < 0) Fail("cannot write rows (disk full?)");
    rows_written_ += static_cast<int64_t>(rows);
    buffer_.clear();
    SetNrows(dataset_, rows_written_);
    if (H5Fflush(file_, H5F_SCOPE_LOCAL) < 0) Fail("cannot flush (disk full?)");
  }

  [[noreturn]] void Fail(const std::string& what) { throw Error(Status::IOError(temp_path_ + ": " + what)); }

  void CloseHandles() noexcept {
    if (dataset_ >= 0) H5Dclose(dataset_);
    if (row_type_ >= 0) H5Tclose(row_type_);
    if (group_ >= 0) H5Gclose(group_);
    if (file_ >= 0) H5Fclose(file_);
    dataset_ = row_type_ = group_ = file_ = -1;
  }

  std::string final_path_, temp_path_;
  H5WriterOptions options_;
  std::vector<std::vector<std::string>> columns_;
  size_t ncols_ = 0, index_bytes_ = 0, value_bytes_ = sizeof(float), row_bytes_ = 0;
  hid_t file_ = -1, group_ = -1, dataset_ = -1, row_type_ = -1;
  std::vector<uint8_t> buffer_;
  int64_t rows_written_ = 0;
};

}  // namespace

std::unique_ptr<PoseWriter> CreateH5Writer(const std::string& final_path, const ColumnLayout& layout,
                                           const H5WriterOptions& options) {
  return std::make_unique<H5TableWriter>(final_path, layout, options);
}

}  // namespace posebatch
