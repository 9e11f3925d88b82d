// _posebatch: the Python bindings of the library (the package `posebatch` wraps them).
//
// Threads and the GIL: a long job (opening a model, analysing videos) runs on a worker
// std::thread while the calling Python thread waits with the GIL released, waking every
// 100 ms to take the GIL, check for signals (Ctrl-C, a Jupyter interrupt) and hand queued
// progress and messages to Python. Python is only ever called from that calling thread: the
// library's callbacks (worker and writer threads) only fill a mailbox. On an interrupt the
// cancel flag is set, the job winds down (the library removes unfinished outputs) and the
// KeyboardInterrupt is raised once it has stopped.
//
// Errors: a non-OK Status becomes an exception whose message names the file: kNotFound ->
// FileNotFoundError, kInvalidArgument -> ValueError, kCancelled -> KeyboardInterrupt, others
// -> posebatch.Error (a RuntimeError with a `code` attribute).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "posebatch/analyze.h"
#include "posebatch/frame_predictor.h"
#include "posebatch/frame_source.h"
#include "posebatch/option_table.h"
#include "posebatch/status.h"
#include "posebatch/tracking.h"

namespace py = pybind11;

namespace posebatch {
namespace {

PyObject* g_error_type = nullptr;  // posebatch.Error, created at import

const char* CodeKey(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kIOError:
      return "io_error";
    case StatusCode::kCorrupt:
      return "corrupt";
    case StatusCode::kModelError:
      return "model_error";
    case StatusCode::kCancelled:
      return "cancelled";
    case StatusCode::kInternal:
      return "internal";
  }
  return "unknown";
}

// Sets the Python exception for `status` (not OK) and throws it into pybind11.
[[noreturn]] void RaiseStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kNotFound:
      PyErr_SetString(PyExc_FileNotFoundError, status.message().c_str());
      break;
    case StatusCode::kInvalidArgument:
      PyErr_SetString(PyExc_ValueError, status.message().c_str());
      break;
    case StatusCode::kCancelled:
      PyErr_SetString(PyExc_KeyboardInterrupt, status.message().c_str());
      break;
    default: {
      py::object error = py::reinterpret_borrow<py::object>(g_error_type)(status.ToString());
      error.attr("code") = CodeKey(status.code());
      PyErr_SetObject(g_error_type, error.ptr());
      break;
    }
  }
  throw py::error_already_set();
}

// What the library's threads tell, queued for the Python thread. Thread-safe.
class Mailbox {
 public:
  struct Event {
    std::string kind;  // "message", "start", "progress", "end"
    std::string text;  // the input (start, progress, end) or the message
    int64_t a = 0;     // message: level (0 info, 1 note, 2 warning); progress: frames done
    int64_t b = -1;    // start, progress: frames in total (-1 unknown)
  };

  void Push(Event e) {
    std::lock_guard<std::mutex> lock(mu_);
    // Only the latest progress of an input matters: a slow Python side never falls behind.
    if (e.kind == "progress" && !events_.empty() && events_.back().kind == "progress" &&
        events_.back().text == e.text) {
      events_.back() = std::move(e);
      return;
    }
    events_.push_back(std::move(e));
  }

  std::vector<Event> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Event> out;
    out.swap(events_);
    return out;
  }

  AnalyzeCallbacks Callbacks() {
    AnalyzeCallbacks c;
    c.on_message = [this](MessageLevel level, const std::string& text) {
      Push({"message", text, static_cast<int64_t>(level), -1});
    };
    c.on_progress = [this](const std::string& input, const Progress& p) {
      Push({"progress", input, p.frames_done, p.frames_total});
    };
    c.on_input_start = [this](const std::string& input, int64_t total) { Push({"start", input, 0, total}); };
    c.on_input_done = [this](const InputResult& r) { Push({"end", r.input, 0, -1}); };
    return c;
  }

 private:
  std::mutex mu_;
  std::vector<Event> events_;
};

// Runs `job` on a worker thread; see the top of the file. `on_event(kind, text, a, b)` (None:
// events are dropped) is called on this thread with the GIL held. Returns the job's Status;
// raises the pending Python exception (KeyboardInterrupt, or one raised by on_event) after
// the job has stopped.
Status RunInterruptibly(const std::function<Status()>& job, Mailbox* mailbox, const py::object& on_event,
                        std::atomic<bool>* cancel) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Status status;
  };
  auto shared = std::make_shared<Shared>();
  std::thread worker([shared, &job] {
    Status status;
    try {
      status = job();
    } catch (...) {
      status = StatusFromCurrentException();
    }
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->status = std::move(status);
    shared->done = true;
    shared->cv.notify_all();
  });

  std::optional<py::error_already_set> pending;
  auto stop_with = [&](py::error_already_set&& e) {
    if (!pending) pending.emplace(std::move(e));
    cancel->store(true);
  };
  auto deliver = [&] {
    std::vector<Mailbox::Event> events = mailbox->Take();
    if (on_event.is_none()) return;
    for (const auto& e : events) {
      if (!pending) {
        on_event(e.kind, e.text, e.a, e.b);
      } else if (e.kind != "progress") {
        // Stopping: what the wind-down says (e.g. where a resume journal was kept) is still
        // shown, but a second failure must not replace the first.
        try {
          on_event(e.kind, e.text, e.a, e.b);
        } catch (py::error_already_set&) {
          // Dropped: the exception already pending is the one raised.
        }
      }
    }
  };
  try {
    while (true) {
      bool done;
      {
        py::gil_scoped_release nogil;
        std::unique_lock<std::mutex> lock(shared->mu);
        done = shared->cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return shared->done; });
      }
      try {
        deliver();
      } catch (py::error_already_set& e) {
        stop_with(std::move(e));
      }
      if (done) break;
      if (!pending && PyErr_CheckSignals() != 0) stop_with(py::error_already_set());
    }
  } catch (...) {
    // Never unwind past a running worker (std::thread's destructor would abort the process).
    cancel->store(true);
    py::gil_scoped_release nogil;
    worker.join();
    throw;
  }
  {
    py::gil_scoped_release nogil;
    worker.join();
  }
  if (pending) {
    py::error_already_set e = std::move(*pending);
    pending.reset();
    throw e;
  }
  return shared->status;
}

// A Python value as the option tables' text: bools as true/false, sequences comma-joined.
std::string OptionText(const py::handle& v) {
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>() ? "true" : "false";
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
    std::string text;
    for (const py::handle& item : v) text += (text.empty() ? "" : ",") + OptionText(item);
    return text;
  }
  return py::str(v).cast<std::string>();
}

// Reads an options dict keyed by the option table's keys (option_table.h: "batch_size",
// "dest", "channels_last", ...); None leaves an option at its default. A bad value raises
// ValueError naming the key; an unknown key (a bug of the caller) raises TypeError.
template <typename Options>
Options ParseOptions(const OptionTable<Options>& table, const py::dict& options) {
  Options o;
  for (const auto& [key, value] : options) {
    const std::string name = py::str(key).cast<std::string>();
    if (FindOption(table, name) == nullptr) throw py::type_error("unknown option '" + name + "'");
    if (value.is_none()) continue;
    Status st = SetOption(table, name, OptionText(value), &o);
    if (!st.ok()) RaiseStatus(st);
  }
  return o;
}

// One file-to-file tracking step (tracking.h), its options from a dict, run without the GIL;
// returns (path written, notes).
template <typename Options>
py::tuple RunTrackingStep(const OptionTable<Options>& table, const std::string& input, const py::dict& options,
                          Status (*step)(const std::string&, const Options&, std::string*, std::vector<std::string>*)) {
  const Options o = ParseOptions(table, options);
  std::string written;
  std::vector<std::string> notes;
  Status st;
  {
    py::gil_scoped_release nogil;
    st = step(input, o, &written, &notes);
  }
  if (!st.ok()) RaiseStatus(st);
  return py::make_tuple(written, notes);
}

py::dict ResultToDict(const AnalyzeResult& r) {
  py::list inputs;
  for (const InputResult& in : r.inputs) {
    py::dict d;
    d["input"] = in.input;
    d["ok"] = in.status.ok();
    d["code"] = CodeKey(in.status.code());
    d["message"] = in.status.message();
    d["skipped"] = in.skipped;
    d["outputs"] = in.outputs;
    d["rows"] = in.rows;
    d["resumed_rows"] = in.resumed_rows;
    d["frames"] = in.stats.frames;
    d["lost_frames"] = in.stats.lost_frames;
    d["seconds"] = in.stats.wall_seconds;
    inputs.append(d);
  }
  py::dict out;
  out["scorer"] = r.scorer;
  out["batch_size"] = r.batch_size;
  out["interrupted"] = r.interrupted;
  out["inputs"] = inputs;
  return out;
}

// A loaded model and its options; analyses inputs (posebatch.Analyzer's engine).
class PyAnalyzer {
 public:
  PyAnalyzer(const std::string& model_path, const py::dict& options, const py::object& on_event) {
    options_ = ParseOptions(AnalyzeOptionTable(), options);
    options_.cancel = &cancel_;
    options_.callbacks = mailbox_.Callbacks();
    Status st = RunInterruptibly([&] { return Analyzer::Open(model_path, options_, &analyzer_); }, &mailbox_, on_event,
                                 &cancel_);
    if (!st.ok()) RaiseStatus(st);
  }

  // kind: "any" (videos, images, folders), "videos", "images". Returns the result as a dict
  // and the Status (code, message) of the run: the caller decides what raises, since a
  // failed input does not undo the others.
  py::tuple Analyze(const std::vector<std::string>& inputs, const std::string& kind, const py::object& on_event) {
    if (kind != "any" && kind != "videos" && kind != "images") throw py::value_error("kind: any, videos or images");
    cancel_.store(false);
    AnalyzeResult result;
    Status st = RunInterruptibly(
        [&] {
          if (kind == "videos") return analyzer_->AnalyzeVideos(inputs, &result);
          if (kind == "images") return analyzer_->AnalyzeImages(inputs, &result);
          return analyzer_->Analyze(inputs, &result);
        },
        &mailbox_, on_event, &cancel_);
    return py::make_tuple(ResultToDict(result), CodeKey(st.code()), st.message());
  }

  const std::string& scorer() const { return analyzer_->scorer(); }
  std::string method() const { return MethodName(analyzer_->model().spec.method); }

 private:
  std::atomic<bool> cancel_{false};
  Mailbox mailbox_;
  AnalyzeOptions options_;
  std::unique_ptr<Analyzer> analyzer_;
};

// Poses of in-memory frames (posebatch.Predictor).
class PyPredictor {
 public:
  PyPredictor(const std::string& model_path, const py::dict& options) {
    const FramePredictorOptions o = ParseOptions(PredictorOptionTable(), options);
    Status st;
    {
      py::gil_scoped_release nogil;  // loading takes a while; other Python threads may run
      st = FramePredictor::Open(model_path, o, &predictor_);
    }
    if (!st.ok()) RaiseStatus(st);
  }

  // frames: uint8 (H, W, 3) or (N, H, W, 3). Returns float32 (individuals, keypoints, 3) or
  // (N, individuals, keypoints, 3); with `unique`, a tuple adding the unique bodyparts'
  // (U, 3) or (N, U, 3).
  py::object Predict(const py::array& frames, bool unique) {
    if (!py::isinstance<py::array_t<uint8_t>>(frames)) {
      throw py::type_error("frames must be a numpy uint8 array (H, W, 3) or (N, H, W, 3), got dtype " +
                           py::str(frames.dtype()).cast<std::string>());
    }
    const py::ssize_t ndim = frames.ndim();
    if ((ndim != 3 && ndim != 4) || frames.shape(ndim - 1) != 3) {
      std::string shape;
      for (py::ssize_t i = 0; i < ndim; ++i) shape += (i ? ", " : "") + std::to_string(frames.shape(i));
      throw py::value_error("frames must be RGB (H, W, 3) or (N, H, W, 3), got shape (" + shape + ")");
    }
    // C-contiguous bytes (a copy only when the caller's array is strided).
    auto rgb = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(frames);
    if (!rgb) throw py::error_already_set();
    const int64_t n = ndim == 4 ? rgb.shape(0) : 1;
    const int height = static_cast<int>(rgb.shape(ndim - 3));
    const int width = static_cast<int>(rgb.shape(ndim - 2));
    FramePoses poses;
    Status st;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);  // one Predict at a time (taken without the GIL)
      st = predictor_->Predict(rgb.data(), n, height, width, &poses);
    }
    if (!st.ok()) RaiseStatus(st);

    const int64_t individuals = predictor_->num_individuals();
    const int64_t keypoints = predictor_->num_keypoints();
    const int64_t uniques = predictor_->num_unique_keypoints();
    const int64_t columns = (individuals * keypoints + uniques) * 3;
    std::vector<py::ssize_t> shape{individuals, keypoints, 3};
    std::vector<py::ssize_t> unique_shape{uniques, 3};
    if (ndim == 4) {
      shape.insert(shape.begin(), n);
      unique_shape.insert(unique_shape.begin(), n);
    }
    py::array_t<float> out(shape);
    py::array_t<float> out_unique(unique_shape);
    float* dst = out.mutable_data();
    float* dst_unique = out_unique.mutable_data();
    const int64_t pose_values = individuals * keypoints * 3;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = poses.values.data() + i * columns;
      std::memcpy(dst + i * pose_values, row, sizeof(float) * static_cast<size_t>(pose_values));
      std::memcpy(dst_unique + i * uniques * 3, row + pose_values, sizeof(float) * static_cast<size_t>(uniques * 3));
    }
    if (unique) return py::make_tuple(out, out_unique);
    py::object result = std::move(out);
    return result;
  }

  const ColumnLayout& layout() const { return predictor_->layout(); }

 private:
  std::mutex mu_;
  std::unique_ptr<FramePredictor> predictor_;
};

}  // namespace
}  // namespace posebatch

PYBIND11_MODULE(_posebatch, m) {
  using namespace posebatch;
  m.doc() = "posebatch's C++ engine (use the `posebatch` package, not this module)";

  g_error_type = PyErr_NewExceptionWithDoc(
      "posebatch.Error",
      "A posebatch failure that is neither a missing file (FileNotFoundError) nor a bad argument "
      "(ValueError): a corrupt input, a model that does not fit, an I/O error. `code` names the kind.",
      PyExc_RuntimeError, nullptr);
  if (g_error_type == nullptr) throw py::error_already_set();
  m.attr("Error") = py::reinterpret_borrow<py::object>(g_error_type);

  py::class_<PyAnalyzer>(m, "Analyzer")
      .def(py::init<const std::string&, const py::dict&, const py::object&>(), py::arg("model"), py::arg("options"),
           py::arg("on_event") = py::none())
      .def("analyze", &PyAnalyzer::Analyze, py::arg("inputs"), py::arg("kind") = "any",
           py::arg("on_event") = py::none())
      .def_property_readonly("scorer", &PyAnalyzer::scorer)
      .def_property_readonly("method", &PyAnalyzer::method);

  m.def(
      "list_images",
      [](const std::string& dir) {
        try {
          return ListImages(dir);
        } catch (...) {
          RaiseStatus(StatusFromCurrentException(StatusCode::kIOError));
        }
      },
      py::arg("folder"), "The PNG / JPEG files of a folder in the order analyze_images takes them.");

  m.def(
      "convert_to_tracklets",
      [](const std::string& predictions, const py::dict& options) {
        return RunTrackingStep(TrackletOptionTable(), predictions, options, ConvertToTracklets);
      },
      py::arg("predictions"), py::arg("options"),
      "A video's predictions (<stem><scorer>_full.pickle) into DeepLabCut's tracklet pickle; returns (path, notes).");
  m.def(
      "stitch_tracklets",
      [](const std::string& tracklets, const py::dict& options) {
        return RunTrackingStep(StitchOptionTable(), tracklets, options, StitchTrackletFile);
      },
      py::arg("tracklets"), py::arg("options"),
      "A video's tracklet pickle (<stem><scorer>_el.pickle) into DeepLabCut's tracked .h5; returns (path, notes).");

  py::class_<PyPredictor>(m, "Predictor")
      .def(py::init<const std::string&, const py::dict&>(), py::arg("model"), py::arg("options"))
      .def("predict", &PyPredictor::Predict, py::arg("frames"), py::arg("unique") = false)
      .def_property_readonly("scorer", [](const PyPredictor& p) { return p.layout().scorer; })
      .def_property_readonly("individuals", [](const PyPredictor& p) { return p.layout().individuals; })
      .def_property_readonly("bodyparts", [](const PyPredictor& p) { return p.layout().bodyparts; })
      .def_property_readonly("unique_bodyparts", [](const PyPredictor& p) { return p.layout().unique_bodyparts; });
}
