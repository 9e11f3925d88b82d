// Every option of a run, declared once: its command-line names, help, value form, environment
// variable, whether it changes a video's rows (the resume journal's key), and how its text is
// parsed into the options struct. The CLI (tools/posebatch/option_binding.h) adds the table to
// CLI11, the Python bindings read their options dict through it (keys: OptionSpec::key()), a
// campaign's manifest records options by their names, and the resume-key tests walk it. Adding
// an option is one row here, its use, and its test.
//
//   AnalyzeOptions o;
//   Status st = SetOption(AnalyzeOptionTable(), "batch_size", "16", &o);  // o.pipeline.batch_size
//
// Thread-safe: the tables are built once and never change.
// Code: src/analyze/option_table.cc (the tables), src/analyze/option_values.cc (the value parsers).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "posebatch/analyze.h"
#include "posebatch/frame_predictor.h"
#include "posebatch/labeled_video.h"
#include "posebatch/options.h"
#include "posebatch/status.h"
#include "posebatch/tracking.h"

namespace posebatch {

enum class OptionKind {
  kValue,      // --name VALUE
  kFlag,       // --name alone: "true"
  kNegatable,  // --name ("true") or --no-name ("false"); unset keeps the struct's default
};

// How an option bears on a video's rows, so on whether a resumed run may reuse a journal.
enum class RowEffect {
  kNone,     // where the outputs go, what else is written, speed, control: the key ignores it
  kKeyed,    // its value is in the journal's key, under the field `journal`
  kByModel,  // keyed through the model it loads (its weights, config, precision, layout)
};

template <typename Options>
struct OptionSpec {
  std::string names;  // CLI11 names: "--batch-size,-b"; a negatable flag adds "!--no-name"
  std::string group;  // the help section
  std::string help;   // what it does, one sentence
  OptionKind kind = OptionKind::kValue;
  std::string value_name;             // the value's form in the help ("N|auto"); empty for flags
  std::string env;                    // environment variable read when not given (CLI); empty: none
  RowEffect rows = RowEffect::kNone;  // see RowEffect
  std::string journal;                // kKeyed: the journal field that holds it
  std::string example;                // a valid value other than the default (the table's tests)
  std::string needs;                  // key of an option this one requires; empty: none
  std::string excludes;               // key of an option it cannot be given with; empty: none
  std::function<Status(const std::string& value, Options* o)> set;  // parses `value` into `o`
  std::function<std::string(const Options& o)> get;                 // the value as text; "" = unset

  // The first long name without its dashes, '-' as '_' ("--batch-size" -> "batch_size"): the key
  // of the Python options dict.
  std::string key() const {
    std::string name = names.substr(0, names.find(','));
    if (name.rfind("--", 0) != 0) return name;
    name = name.substr(2);
    for (char& c : name)
      if (c == '-') c = '_';
    return name;
  }
  std::string long_name() const { return "--" + names.substr(2, names.find(',') - 2); }
};

template <typename Options>
using OptionTable = std::vector<OptionSpec<Options>>;

// The options of loading a model (ModelLoadOptions): --config, --snapshot, --device, --half,
// --channels-last, --precision.
const OptionTable<ModelLoadOptions>& ModelOptionTable();
// How a labeled video is drawn (LabeledVideoOptions), shared by `label` and `analyze`.
const OptionTable<LabeledVideoOptions>& DrawingOptionTable();
// Every option of analyze: the model's, outputs, frame range, crop, performance, top-down and
// CTD inputs, the labeled video (--labeled-video, then the drawing options, which need it).
const OptionTable<AnalyzeOptions>& AnalyzeOptionTable();
// The options of a FramePredictor (posebatch.Predictor): the model's, batch sizes, threads,
// the CTD conditions model.
const OptionTable<FramePredictorOptions>& PredictorOptionTable();

// The options of turning predictions into tracklets (ConvertOptions, posebatch tracklets).
const OptionTable<ConvertOptions>& TrackletOptionTable();

// The options of stitching tracklets into tracks (StitchOptions, posebatch stitch).
const OptionTable<StitchOptions>& StitchOptionTable();
// Both (TrackOptions: posebatch track, and analyze's tracking of multi-animal videos).
const OptionTable<TrackOptions>& TrackOptionTable();

// The row of `table` whose key() (or long name) is `key`; null when none.
template <typename Options>
const OptionSpec<Options>* FindOption(const OptionTable<Options>& table, const std::string& key) {
  for (const auto& spec : table)
    if (spec.key() == key || spec.long_name() == key) return &spec;
  return nullptr;
}

// Sets option `key` (a key() or a long name) from `value`. kInvalidArgument naming the option
// ("batch_size: expects ...") for a bad value or an unknown key.
template <typename Options>
Status SetOption(const OptionTable<Options>& table, const std::string& key, const std::string& value, Options* o) {
  const OptionSpec<Options>* spec = FindOption(table, key);
  if (spec == nullptr) return Status::InvalidArgument("unknown option '" + key + "'");
  Status st = spec->set(value, o);
  if (!st.ok()) return Status::InvalidArgument(key + ": " + st.message());
  return st;
}

// The rows of `table` as rows of a table over `Outer`, which holds an `Options` at `member`
// (the model's rows inside AnalyzeOptions::model). `group`: their help section there, when
// not empty; `needs`: what each of them then requires, when not empty.
template <typename Outer, typename Options>
OptionTable<Outer> LiftOptions(const OptionTable<Options>& table, Options Outer::*member, const std::string& group = "",
                               const std::string& needs = "") {
  OptionTable<Outer> out;
  for (const auto& spec : table) {
    OptionSpec<Outer> lifted;
    lifted.names = spec.names;
    lifted.group = group.empty() ? spec.group : group;
    lifted.help = spec.help;
    lifted.kind = spec.kind;
    lifted.value_name = spec.value_name;
    lifted.env = spec.env;
    lifted.rows = spec.rows;
    lifted.journal = spec.journal;
    lifted.example = spec.example;
    lifted.needs = needs.empty() ? spec.needs : needs;
    lifted.excludes = spec.excludes;
    auto set = spec.set;
    auto get = spec.get;
    lifted.set = [set, member](const std::string& v, Outer* o) { return set(v, &(o->*member)); };
    lifted.get = [get, member](const Outer& o) { return get(o.*member); };
    out.push_back(std::move(lifted));
  }
  return out;
}

// Value parsers the tables use, each returning kInvalidArgument with what was expected and
// what was given (without the option's name: SetOption and the CLI add it).
namespace option_values {
Status Bool(const std::string& v, bool* out);                            // true/false, 1/0, yes/no, on/off
Status Int(const std::string& v, int min, int max, int* out);            // a whole number in [min, max]
Status Real(const std::string& v, double min, double max, double* out);  // a number in [min, max]
Status OneOf(const std::string& v, const std::vector<std::string>& choices, std::string* out);
Status Device(const std::string& v, std::string* out);                                         // cpu, cuda, cuda:N
Status FrameRange(const std::string& v, int64_t* start, int64_t* stop);                        // START:STOP
Status CropBox(const std::string& v, Crop* out);                                               // x1,x2,y1,y2
Status ExistingFile(const std::string& v, std::string* out);                                   // a file that exists
Status Skeleton(const std::string& v, std::vector<std::pair<std::string, std::string>>* out);  // a-b,c-d
std::string BoolText(bool b);                                                                  // "true" / "false"
}  // namespace option_values

}  // namespace posebatch
